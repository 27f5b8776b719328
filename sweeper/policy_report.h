#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "sweeper/sweeper.h"

namespace stratum_guard::sweeper {

// The Kubernetes policy working group's PolicyReport (wgpolicyk8s.io/v1alpha2) for the pods of
// one namespace: pure, no I/O, so what a report says is tested apart from how it is written.

// The one report per namespace the sweeper owns, found again by its label.
inline constexpr std::string_view kPolicyReportName = "stratum-guard";
inline constexpr std::string_view kPolicyReportLabelSelector =
    "app.kubernetes.io/managed-by=stratum-guard";
// Annotation holding the hash of the report's content (results and summary, timestamps left
// out): an unchanged report is never rewritten, whatever the server did to its JSON.
inline constexpr std::string_view kPolicyReportHashAnnotation = "stratum-guard.io/content-hash";

// One finding on one pod. `result` is "fail" (the rule denies), "warn" (warn and audit rules)
// or "skip" (an exemption silenced it); `severity` follows the rule's action: high for deny,
// medium for warn, low for audit, so that the older CRDs without critical/info accept it.
struct PolicyReportResult {
  std::string pod;
  std::string pod_uid;
  std::string rule;
  std::string result;
  std::string severity;
  std::string message;
  std::string container;
  std::string field;
  std::string evidence;
  std::string action;     // the rule's: deny, warn, audit (before --enforcement)
  std::string exemption;  // namespace or image for a skip; empty else
};

struct PolicyReportSummary {
  int pass = 0;
  int fail = 0;
  int warn = 0;
  int error = 0;
  int skip = 0;
};

struct PolicyReportContent {
  std::string namespace_;
  std::vector<PolicyReportResult> results;  // by result (fail, warn, skip), pod, rule, place
  PolicyReportSummary summary;              // counts of `results`
  std::size_t dropped = 0;                  // results past max_results, left out
  std::string content_hash;                 // 16 hex digits (FNV-1a 64 of results)
};

// The report for `pods` (all of namespace `ns`; pods of other namespaces are ignored): every
// finding and every exempted finding of each pod, deterministically ordered, at most
// `max_results` of them (a report is one etcd object: its size must stay bounded).
PolicyReportContent BuildPolicyReport(std::string_view ns, const std::vector<PodOutcome>& pods,
                                      std::size_t max_results);

// The complete PolicyReport object: name kPolicyReportName, the managed-by label, the hash
// annotation, and `resource_version` in metadata when not empty (an update). Every result is
// stamped with `now`, the time the report was (re)written.
std::string PolicyReportJson(const PolicyReportContent& report, common::Clock::Wall now,
                             std::string_view resource_version);

}  // namespace stratum_guard::sweeper
