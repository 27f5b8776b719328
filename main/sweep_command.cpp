#include <unistd.h>

#include <iostream>
#include <memory>
#include <optional>
#include <random>
#include <thread>

#include "common/duration.h"
#include "common/file_watcher.h"
#include "common/log.h"
#include "common/reloader.h"
#include "kube/kube_client.h"
#include "main/commands.h"
#include "main/flags.h"
#include "main/policy_flag.h"
#include "main/registry_flags.h"
#include "main/signals.h"
#include "main/sweeper_flags.h"
#include "policy/policy.h"
#include "server/metrics.h"
#include "server/metrics_server.h"

namespace stratum_guard::cli {
namespace {

// After a stop, API calls in flight get this long to finish (the Lease release among them);
// then they are cancelled, so an API server that hangs mid-request cannot hold the shutdown.
constexpr std::chrono::seconds kApiStopGrace{2};

// Fires `abort` kApiStopGrace after `stop`, unless `finished` fires first.
void AbortCallsAfterGrace(const common::StopSignal& stop, const common::StopSignal& finished,
                          common::StopSignal& abort) {
  while (!finished.stopped() && !stop.WaitFor(std::chrono::milliseconds(100))) {
  }
  if (!finished.WaitFor(kApiStopGrace)) abort.Stop();
}

// Polls the policy file every `interval` until `stop`, as `serve` does: a file that does not
// compile is logged and the policy in force stays.
void ReloadPolicyUntil(const common::StopSignal& stop, const std::string& path,
                       std::chrono::milliseconds interval, policy::PolicyStore& policies,
                       server::PolicyMetrics& metrics) {
  common::Reloader reloader(
      "policy", std::make_unique<common::PollingFileWatcher>(std::vector<std::string>{path}),
      [&](const std::vector<std::string>& contents) {
        policies.Set(policy::Policy::Compile(contents.at(0), path));
      },
      [&metrics](bool ok) { metrics.RecordPolicyReload(ok); });
  while (!stop.WaitFor(interval)) reloader.Check();
}

std::string RandomSuffix() {
  std::random_device rd;
  char buf[16];
  std::snprintf(buf, sizeof buf, "%08x", rd());
  return buf;
}

}  // namespace

void AddSweeperFlags(CLI::App& app, SweeperConfig& config) {
  sweeper::Options& o = config.options;
  app.add_option("--kubeconfig", config.kubeconfig,
                 "kubeconfig file (default: in-cluster service account, then $KUBECONFIG)");
  app.add_flag("--dry-run", o.dry_run,
               "Judge and report (log, events, metrics) but never delete a pod");
  app.add_option("--max-deletions-per-minute", o.max_deletions_per_minute,
                 "Deletion rate limit (token bucket; bursts up to the same number)")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000));
  app.add_option("--circuit-breaker-ratio", o.circuit_breaker_ratio,
                 "Stop deleting when one full pass would delete more than this share of the "
                 "scanned pods")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  app.add_option("--circuit-breaker-min", o.circuit_breaker_min,
                 "The circuit breaker never trips at or below this many deletions in a pass")
      ->capture_default_str()
      ->check(CLI::Range(0, 1000000));
  app.add_option_function<std::int64_t>(
         "--grace-period",
         [&o](std::int64_t seconds) {
           if (seconds < -1) throw CLI::ValidationError("--grace-period", "must be >= -1");
           o.grace_period_seconds =
               seconds < 0 ? std::nullopt : std::optional<std::int64_t>(seconds);
         },
         "gracePeriodSeconds of each deletion; -1 keeps the pod's own (default 5)")
      ->type_name("SECONDS");
  app.add_option("--page-size", o.page_size, "Pods per list page (the list `limit`)")
      ->capture_default_str()
      ->check(CLI::Range(1, 10000));
  DurationFlag(app, "--resync-period", o.resync_period,
               "Full list pass this often, besides the watch");
  app.add_option("--leader-elect", o.leader_elect,
                 "Sweep only while holding the Lease (off with --once)")
      ->capture_default_str();
  app.add_option("--policy-reports", o.policy_reports,
                 "Write a wgpolicyk8s.io PolicyReport per namespace with findings (when the CRD "
                 "is installed)")
      ->capture_default_str();
  app.add_option("--lease-name", o.leader.lease_name, "Lease name")->capture_default_str();
  app.add_option("--lease-namespace", o.leader.lease_namespace,
                 "Lease namespace (default: $POD_NAMESPACE, else stratum-guard)");
  DurationFlag(app, "--lease-duration", o.leader.lease_duration,
               "How long a lease not renewed keeps others out");
  DurationFlag(app, "--renew-deadline", o.leader.renew_deadline,
               "The leader stops deleting when it could not renew for this long");
  DurationFlag(app, "--retry-period", o.leader.retry_period,
               "Pause between acquire/renew attempts");
  DurationFlag(app, "--sweep-image-timeout", o.image_deadline,
               "--inspect-images: how long one pod waits for its images' configs (then it is "
               "judged on its pod spec, counted, and judged again at the next pass)");
}

std::string FinishSweeperConfig(SweeperConfig& config, const kube::EnvLookup& env) {
  sweeper::Options& o = config.options;
  o.self_namespace = env("POD_NAMESPACE").value_or("");
  o.self_name = env("POD_NAME").value_or("");
  if (o.leader.lease_namespace.empty()) {
    o.leader.lease_namespace = o.self_namespace.empty() ? "stratum-guard" : o.self_namespace;
  }
  if (o.leader.identity.empty()) {
    std::string base = o.self_name;
    if (base.empty()) {
      char host[256] = {};
      gethostname(host, sizeof host - 1);
      base = host;
    }
    o.leader.identity = base + "_" + RandomSuffix();
  }
  if (o.leader_elect) {
    if (o.leader.renew_deadline >= o.leader.lease_duration) {
      return "--renew-deadline must be shorter than --lease-duration";
    }
    if (o.leader.retry_period >= o.leader.renew_deadline) {
      return "--retry-period must be shorter than --renew-deadline";
    }
  }
  return {};
}

void RunSweeper(const SweeperConfig& config, policy::PolicyStore& policies,
                prometheus::Registry& registry, const common::StopSignal& stop) {
  kube::ClusterConfig cluster = kube::ResolveClusterConfig(config.kubeconfig, kube::ProcessEnv());
  common::StopSignal abort_calls;
  kube::KubeClient::Options client_options;
  client_options.cancelled = [&abort_calls] { return abort_calls.stopped(); };
  kube::KubeClient client(std::move(cluster), client_options);
  common::SystemClock clock;
  sweeper::Sweeper sweeper(client, policies, registry, clock, config.options);
  common::StopSignal finished;
  std::thread aborter([&] { AbortCallsAfterGrace(stop, finished, abort_calls); });
  struct Join {
    common::StopSignal& finished;
    std::thread& thread;
    ~Join() {
      finished.Stop();
      thread.join();
    }
  } join{finished, aborter};
  common::Log(
      common::LogLevel::kInfo, "sweeper: starting",
      {{"dry_run", config.options.dry_run},
       {"enforcement_flag", config.options.enforcement
                                ? policy::EnforcementName(*config.options.enforcement)
                                : std::string_view("(from the policy)")},
       {"leader_elect", config.options.leader_elect},
       {"identity", config.options.leader.identity},
       {"lease", config.options.leader.lease_namespace + "/" + config.options.leader.lease_name}});
  sweeper.Run(stop);
  common::Log(common::LogLevel::kInfo, "sweeper: stopped");
}

namespace {

server::MetricsServerOptions NoMetricsListener() {
  server::MetricsServerOptions options;
  options.listen.clear();
  return options;
}

struct SweepState {
  SweeperConfig config;
  std::string policy_file;
  // Served only when --metrics-listen is given: a sweep run from a laptop opens no port.
  server::MetricsServerOptions metrics = NoMetricsListener();
  std::chrono::milliseconds reload_interval = common::kDefaultReloadInterval;
  bool once = false;
  RegistryConfig registry;  // --inspect-images and its flags
};

// --once: one pass without leader election, its report on stdout.
int SweepOnce(const SweepState& state, policy::PolicyStore& policies,
              prometheus::Registry& registry) {
  kube::ClusterConfig cluster =
      kube::ResolveClusterConfig(state.config.kubeconfig, kube::ProcessEnv());
  kube::KubeClient client(std::move(cluster));
  common::SystemClock clock;
  sweeper::Sweeper sweeper(client, policies, registry, clock, state.config.options);
  sweeper::SweepReport report = sweeper.SweepOnce();
  std::cout << sweeper::FormatReport(report, state.config.options.dry_run);
  std::cout.flush();
  return report.errors.empty() && report.complete ? kExitOk : kExitFailed;
}

// Sweeps, and reloads the policy file, until SIGTERM or SIGINT.
int SweepUntilSignal(const SweepState& state, policy::PolicyStore& policies,
                     prometheus::Registry& registry) {
  server::PolicyMetrics policy_metrics(registry);
  auto rules_gauge = policies.Subscribe(
      [&](const policy::Policy& policy) { policy_metrics.SetPolicyRules(policy.rule_count()); });
  StopSignals signals;  // before any thread starts
  std::optional<server::MetricsServer> metrics;
  if (!state.metrics.listen.empty()) {
    metrics.emplace(state.metrics, registry);
    try {
      metrics->Start();
    } catch (const std::exception& e) {
      std::cerr << "stratum-guard sweep: cannot start the metrics listener: " << e.what() << "\n";
      return kExitConfig;
    }
  }
  common::StopSignal stop;
  std::thread waiter([&signals, &stop] {
    std::string_view name = signals.Wait();
    common::Log(common::LogLevel::kInfo, "sweeper: signal received, stopping", {{"signal", name}});
    stop.Stop();
  });
  std::thread reloads;
  if (!state.policy_file.empty()) {
    reloads = std::thread([&] {
      ReloadPolicyUntil(stop, state.policy_file, state.reload_interval, policies, policy_metrics);
    });
  }
  try {
    RunSweeper(state.config, policies, registry, stop);
  } catch (...) {
    StopSignals::Raise();  // release the waiter thread
    waiter.join();
    if (reloads.joinable()) reloads.join();
    throw;
  }
  waiter.join();
  if (reloads.joinable()) reloads.join();
  return kExitOk;
}

int RunSweep(SweepState& state) {
  if (state.once) state.config.options.leader_elect = false;
  if (std::string error = FinishSweeperConfig(state.config, kube::ProcessEnv()); !error.empty()) {
    std::cerr << "stratum-guard sweep: " << error << "\n";
    return kExitConfig;
  }
  std::shared_ptr<const policy::Policy> compiled;
  try {
    compiled = LoadPolicyFlag(state.policy_file);
  } catch (const policy::PolicyError& e) {
    std::cerr << e.what() << "\n";
    return kExitConfig;
  } catch (const std::exception& e) {
    std::cerr << "stratum-guard sweep: " << e.what() << "\n";
    return kExitConfig;
  }
  common::StopSignal images_stop;
  ImageInspectionRuntime images;
  if (std::string error =
          StartImageInspection(state.registry, state.config.kubeconfig, images_stop, &images);
      !error.empty()) {
    std::cerr << "stratum-guard sweep: " << error << "\n";
    return kExitConfig;
  }
  if (images.images) {
    state.config.options.images = &images.images->inspector();
    state.config.options.image_credentials = &images.images->credentials();
  }
  policy::PolicyStore policies(compiled);
  prometheus::Registry registry;
  try {
    return state.once ? SweepOnce(state, policies, registry)
                      : SweepUntilSignal(state, policies, registry);
  } catch (const kube::KubeConfigError& e) {
    std::cerr << "stratum-guard sweep: " << e.what() << "\n";
    return kExitConfig;
  }
}

}  // namespace

Command AddSweepCommand(CLI::App& root) {
  auto state = std::make_shared<SweepState>();
  CLI::App* app =
      root.add_subcommand("sweep", "Find and delete miner pods already running in the cluster");
  app->add_flag("--once", state->once,
                "One full pass, print a report and exit (0 ok, 1 if anything failed)");
  app->add_option("--policy", state->policy_file,
                  "Policy file replacing the default policy, reloaded when it changes");
  DurationFlag(*app, "--reload-interval", state->reload_interval,
               "How often the policy file is checked for changes");
  app->add_option("--metrics-listen", state->metrics.listen,
                  "Plain-HTTP address of /metrics and /healthz (HOST:PORT or :PORT); none when "
                  "empty")
      ->excludes("--once");
  LogLevelFlag(*app);
  AddEnforcementFlag(*app, state->config.options.enforcement);
  AddSweeperFlags(*app, state->config);
  AddRegistryFlags(*app, state->registry);
  return {app, [state] { return RunSweep(*state); }};
}

}  // namespace stratum_guard::cli
