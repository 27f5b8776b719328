#include "sweeper/policy_report_writer.h"

#include <set>

#include "common/json.h"
#include "common/log.h"

namespace stratum_guard::sweeper {

using common::Log;
using common::LogLevel;

namespace {

constexpr int kWriteAttempts = 3;  // conflicts re-read and retried, then left to the next pass

const std::string kName(kPolicyReportName);

// What we stamped on a stored report: its resourceVersion and our content hash.
void ReadStored(const rapidjson::Value& report, std::string* rv, std::string* hash) {
  *rv = std::string(kube::MetadataString(report, "resourceVersion"));
  hash->clear();
  const rapidjson::Value* metadata = common::JsonMember(report, "metadata");
  if (metadata == nullptr) return;
  if (const rapidjson::Value* annotations = common::JsonMember(*metadata, "annotations")) {
    *hash = std::string(common::JsonString(*annotations, kPolicyReportHashAnnotation));
  }
}

}  // namespace

PolicyReportWriter::PolicyReportWriter(kube::KubeApi& api, prometheus::Registry& registry,
                                       common::Clock& clock, std::size_t max_results)
    : api_(api),
      clock_(clock),
      max_results_(max_results),
      writes_(prometheus::BuildCounter()
                  .Name("stratum_guard_sweeper_policy_reports_total")
                  .Help("PolicyReport API calls by operation (list, create, update, delete) and "
                        "result (ok, conflict, not_installed, error).")
                  .Register(registry)) {
  for (const char* result : {"ok", "not_installed", "error"}) CreateSeries("list", result);
  for (const char* op : {"create", "update"}) {
    for (const char* result : {"ok", "conflict", "error"}) CreateSeries(op, result);
  }
  for (const char* result : {"ok", "error"}) CreateSeries("delete", result);
}

// Creates the series at zero, so that rate() and alerts see it before the first call.
void PolicyReportWriter::CreateSeries(const char* operation, const char* result) {
  writes_.Add({{"operation", operation}, {"result", result}});
}

bool PolicyReportWriter::Detect() {
  std::map<std::string, Stored> listed;
  kube::KubeError e =
      api_.ListPolicyReports(std::string(kPolicyReportLabelSelector), [&](const auto& report) {
        if (kube::MetadataString(report, "name") != kPolicyReportName) return;
        Stored& s = listed[std::string(kube::MetadataString(report, "namespace"))];
        ReadStored(report, &s.resource_version, &s.content_hash);
      });
  if (e.IsNotFound()) {
    writes_.Add({{"operation", "list"}, {"result", "not_installed"}}).Increment();
    if (state_ != State::kNotInstalled) {
      Log(LogLevel::kInfo,
          "sweeper: PolicyReport CRD (wgpolicyk8s.io/v1alpha2) not installed: sweeping without "
          "policy reports, checking again at every full pass",
          {{"error", e.ToString()}});
    }
    state_ = State::kNotInstalled;
    stored_.clear();
    return false;
  }
  if (!e.ok()) {
    writes_.Add({{"operation", "list"}, {"result", "error"}}).Increment();
    Log(LogLevel::kWarn, "sweeper: cannot list policy reports; no report written this pass",
        {{"error", e.ToString()}});
    state_ = State::kUnknown;
    return false;
  }
  writes_.Add({{"operation", "list"}, {"result", "ok"}}).Increment();
  if (state_ != State::kInstalled) {
    Log(LogLevel::kInfo, "sweeper: PolicyReport CRD installed: writing policy reports",
        {{"reports", static_cast<std::int64_t>(listed.size())}});
  }
  state_ = State::kInstalled;
  stored_ = std::move(listed);
  return true;
}

void PolicyReportWriter::Sync(const std::vector<PodOutcome>& pods, bool all_kept,
                              const common::CancelCheck& cancelled) {
  pods_.clear();
  for (const PodOutcome& pod : pods) {
    if (pod.namespace_.empty() || pod.name.empty()) continue;  // the "N more pods" line
    if (pod.action == PodAction::kDeleted || pod.action == PodAction::kAlreadyGone) continue;
    pods_[pod.namespace_][pod.name] = pod;
  }
  if (!Detect()) return;
  std::set<std::string> namespaces;
  for (const auto& [ns, unused] : pods_) namespaces.insert(ns);
  if (all_kept) {
    for (const auto& [ns, unused] : stored_) namespaces.insert(ns);
  }
  for (const std::string& ns : namespaces) {
    if (cancelled && cancelled()) return;
    Write(ns);
  }
}

void PolicyReportWriter::Observe(std::string_view ns, std::string_view name,
                                 const PodOutcome* outcome) {
  std::string key(ns);
  if (outcome == nullptr) {
    auto it = pods_.find(key);
    if (it == pods_.end() || it->second.erase(std::string(name)) == 0) return;
  } else {
    pods_[key][std::string(name)] = *outcome;
  }
  if (state_ == State::kInstalled) Write(key);
}

void PolicyReportWriter::Write(const std::string& ns) {
  auto it = pods_.find(ns);
  if (it == pods_.end() || it->second.empty()) {
    if (it != pods_.end()) pods_.erase(it);
    if (stored_.count(ns)) Delete(ns);
    return;
  }
  std::vector<PodOutcome> pods;
  pods.reserve(it->second.size());
  for (const auto& [name, pod] : it->second) pods.push_back(pod);
  PolicyReportContent content = BuildPolicyReport(ns, pods, max_results_);
  if (auto stored = stored_.find(ns);
      stored != stored_.end() && stored->second.content_hash == content.content_hash) {
    return;  // unchanged: no call at all
  }
  if (content.dropped > 0) {
    Log(LogLevel::kWarn, "sweeper: policy report truncated",
        {{"namespace", ns},
         {"results", static_cast<std::int64_t>(content.results.size())},
         {"dropped", static_cast<std::int64_t>(content.dropped)}});
  }
  Upsert(content);
}

// Re-reads our report after a conflict; false when that failed (the pass gives up on it).
bool PolicyReportWriter::Refresh(const std::string& ns) {
  Stored fresh;
  kube::KubeError e = api_.GetPolicyReport(ns, kName, [&](const auto& report) {
    ReadStored(report, &fresh.resource_version, &fresh.content_hash);
  });
  if (e.IsNotFound()) {
    stored_.erase(ns);
    return true;
  }
  if (!e.ok()) {
    Log(LogLevel::kWarn, "sweeper: cannot re-read policy report after a conflict",
        {{"namespace", ns}, {"error", e.ToString()}});
    return false;
  }
  stored_[ns] = std::move(fresh);
  return true;
}

void PolicyReportWriter::Upsert(const PolicyReportContent& content) {
  const std::string& ns = content.namespace_;
  kube::KubeError e;
  for (int attempt = 0; attempt < kWriteAttempts; ++attempt) {
    Stored written;
    auto capture = [&](const rapidjson::Value& report) {
      ReadStored(report, &written.resource_version, &written.content_hash);
    };
    auto stored = stored_.find(ns);
    const bool update = stored != stored_.end();
    const char* op = update ? "update" : "create";
    if (update && stored->second.content_hash == content.content_hash) return;
    std::string json =
        PolicyReportJson(content, clock_.WallNow(), update ? stored->second.resource_version : "");
    e = update ? api_.UpdatePolicyReport(ns, kName, json, capture)
               : api_.CreatePolicyReport(ns, json, capture);
    if (e.ok()) {
      writes_.Add({{"operation", op}, {"result", "ok"}}).Increment();
      written.content_hash = content.content_hash;
      stored_[ns] = std::move(written);
      Log(LogLevel::kInfo,
          update ? "sweeper: policy report updated" : "sweeper: policy report created",
          {{"namespace", ns},
           {"fail", content.summary.fail},
           {"warn", content.summary.warn},
           {"skip", content.summary.skip}});
      return;
    }
    if (update && e.IsNotFound()) {  // deleted behind our back: create it again
      stored_.erase(ns);
      continue;
    }
    if (!e.IsConflict()) break;
    // Update: someone wrote it since we read it. Create: it exists already (another replica,
    // or a list that missed it). Either way, take the stored version and try again.
    writes_.Add({{"operation", op}, {"result", "conflict"}}).Increment();
    if (!Refresh(ns)) return;
  }
  const char* op = stored_.count(ns) ? "update" : "create";
  writes_.Add({{"operation", op}, {"result", "error"}}).Increment();
  Log(LogLevel::kWarn, "sweeper: cannot write policy report; retried at the next change or pass",
      {{"namespace", ns}, {"operation", op}, {"error", e.ToString()}});
}

void PolicyReportWriter::Delete(const std::string& ns) {
  kube::KubeError e = api_.DeletePolicyReport(ns, kName);
  if (e.ok() || e.IsNotFound()) {
    writes_.Add({{"operation", "delete"}, {"result", "ok"}}).Increment();
    stored_.erase(ns);
    Log(LogLevel::kInfo, "sweeper: policy report deleted: no findings left in the namespace",
        {{"namespace", ns}});
    return;
  }
  // Kept in stored_, so the next full pass or change in the namespace tries again.
  writes_.Add({{"operation", "delete"}, {"result", "error"}}).Increment();
  Log(LogLevel::kWarn, "sweeper: cannot delete policy report",
      {{"namespace", ns}, {"error", e.ToString()}});
}

}  // namespace stratum_guard::sweeper
