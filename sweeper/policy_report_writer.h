#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/registry.h>

#include <cstddef>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "kube/kube_api.h"
#include "sweeper/policy_report.h"
#include "sweeper/sweeper.h"

namespace stratum_guard::sweeper {

// Keeps one PolicyReport per namespace current with the pods that have findings there, through
// kube::KubeApi: created when a namespace gets its first finding, updated (with its
// resourceVersion; a conflict re-reads and retries) only when its content changed, deleted when
// the namespace's last pod with findings is gone. An empty report would still list the
// namespace under `kubectl get policyreports -A` and in Policy Reporter as if something were
// there: deleting says "nothing found" the way the other engines do.
//
// Whether the CRD is installed is learned from the list of our reports at every full pass (a
// 404 for the group: logged once, then the sweeper carries on without reports until a later
// pass finds it). A failed write is logged and counted, never fatal, and never delays a
// deletion: the sweeper calls this after acting. Not thread-safe: the sweep loop's thread only.
class PolicyReportWriter {
 public:
  PolicyReportWriter(kube::KubeApi& api, prometheus::Registry& registry, common::Clock& clock,
                     std::size_t max_results);
  PolicyReportWriter(const PolicyReportWriter&) = delete;  // holds metric handles by reference
  PolicyReportWriter& operator=(const PolicyReportWriter&) = delete;

  // A full pass whose list reached its end: `pods` are those it kept with findings (deleted ones
  // are dropped). Lists our reports (the CRD check), then writes every namespace whose report
  // changed. Only when `all_kept` (no pod with findings left out for max_candidates) are the
  // reports of namespaces without findings deleted: the pods left out may be theirs.
  void Sync(const std::vector<PodOutcome>& pods, bool all_kept,
            const common::CancelCheck& cancelled);

  // A watch event on pod `ns`/`name`: `outcome` is its judgement when it has findings, nullptr
  // when it has none, is going away or is gone. Writes the namespace's report if it changed.
  void Observe(std::string_view ns, std::string_view name, const PodOutcome* outcome);

  // True after a full pass found the CRD installed.
  bool installed() const { return state_ == State::kInstalled; }

 private:
  enum class State { kUnknown, kInstalled, kNotInstalled };
  struct Stored {
    std::string resource_version;
    std::string content_hash;
  };
  bool Detect();
  void Write(const std::string& ns);
  void Upsert(const PolicyReportContent& content);
  void Delete(const std::string& ns);
  bool Refresh(const std::string& ns);
  void CreateSeries(const char* operation, const char* result);

  kube::KubeApi& api_;
  common::Clock& clock_;
  std::size_t max_results_;
  State state_ = State::kUnknown;
  std::map<std::string, std::map<std::string, PodOutcome>> pods_;  // ns -> pod name -> outcome
  std::map<std::string, Stored> stored_;  // ns -> our report as the API server holds it
  prometheus::Family<prometheus::Counter>& writes_;
};

}  // namespace stratum_guard::sweeper
