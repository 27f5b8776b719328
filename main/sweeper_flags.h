#pragma once

#include <prometheus/registry.h>

#include <CLI/CLI.hpp>
#include <string>

#include "common/clock.h"
#include "kube/kube_config.h"
#include "policy/policy_store.h"
#include "sweeper/sweeper.h"

namespace stratum_guard::cli {

// The sweeper's flags, shared by `stratum-guard sweep` and `stratum-guard serve --sweep`.
struct SweeperConfig {
  sweeper::Options options;
  std::string kubeconfig;  // --kubeconfig; empty: in-cluster, then $KUBECONFIG
};

// Registers --kubeconfig, --dry-run, --max-deletions-per-minute, --circuit-breaker-ratio,
// --circuit-breaker-min, --grace-period, --page-size, --resync-period, --leader-elect,
// --policy-reports, --lease-name, --lease-namespace, --lease-duration, --renew-deadline,
// --retry-period on `app`.
// Values land in `config` when CLI11 parses; bad values are CLI11 validation errors (exit 2).
void AddSweeperFlags(CLI::App& app, SweeperConfig& config);

// After parsing: fills what comes from the environment (POD_NAME, POD_NAMESPACE: the pod the
// sweeper must never delete, the default lease namespace, the leader identity) and checks the
// lease timings. Returns an error message, empty when all is well.
std::string FinishSweeperConfig(SweeperConfig& config, const kube::EnvLookup& env);

// Connects (throws kube::KubeConfigError for an unusable configuration, before any thread
// starts) and sweeps until `stop` fires. For `serve --sweep`, run it on a thread of its own
// with the server's registry and PolicyStore, and fire `stop` at shutdown.
void RunSweeper(const SweeperConfig& config, policy::PolicyStore& policies,
                prometheus::Registry& registry, const common::StopSignal& stop);

}  // namespace stratum_guard::cli
