#include "sweeper/policy_report.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <tuple>

namespace stratum_guard::sweeper {

namespace {

std::string_view SeverityOf(policy::Action action) {
  switch (action) {
    case policy::Action::kDeny:
      return "high";
    case policy::Action::kWarn:
      return "medium";
    case policy::Action::kAudit:
      return "low";
  }
  return "low";
}

// Fail sorts first: a reader (and a truncated report) sees the pods the policy condemns first.
int ResultRank(std::string_view result) { return result == "fail" ? 0 : result == "warn" ? 1 : 2; }

PolicyReportResult ResultFor(const PodOutcome& pod, const policy::Finding& f, bool exempted) {
  PolicyReportResult r;
  r.pod = pod.name;
  r.pod_uid = pod.uid;
  r.rule = f.rule_id;
  r.result = exempted ? "skip" : f.action == policy::Action::kDeny ? "fail" : "warn";
  r.severity = std::string(SeverityOf(f.action));
  r.message = f.message.empty() ? "container \"" + f.container + "\" " + f.field + ": " + f.evidence
                                : f.message;
  r.container = f.container;
  r.field = f.field;
  r.evidence = f.evidence;
  r.action = std::string(policy::ActionName(f.action));
  if (exempted) r.exemption = std::string(policy::ExemptedByName(f.exempted_by));
  return r;
}

auto SortKey(const PolicyReportResult& r) {
  return std::make_tuple(ResultRank(r.result), std::string_view(r.pod), std::string_view(r.pod_uid),
                         std::string_view(r.rule), std::string_view(r.container),
                         std::string_view(r.field), std::string_view(r.evidence));
}

// FNV-1a 64: stable across builds and platforms, unlike std::hash, and the hash only has to
// tell "changed" from "unchanged", not resist an attacker.
class Fnv1a {
 public:
  void Add(std::string_view text) {
    for (unsigned char c : text) {
      hash_ ^= c;
      hash_ *= 0x100000001b3ULL;
    }
    // A separator no field contains, so ("ab","c") and ("a","bc") differ.
    hash_ ^= 0xff;
    hash_ *= 0x100000001b3ULL;
  }
  std::string Hex() const {
    char buf[17];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(hash_));
    return buf;
  }

 private:
  std::uint64_t hash_ = 0xcbf29ce484222325ULL;
};

void WriteString(rapidjson::Writer<rapidjson::StringBuffer>& w, std::string_view key,
                 std::string_view value) {
  w.Key(key.data(), static_cast<rapidjson::SizeType>(key.size()));
  w.String(value.data(), static_cast<rapidjson::SizeType>(value.size()));
}

}  // namespace

PolicyReportContent BuildPolicyReport(std::string_view ns, const std::vector<PodOutcome>& pods,
                                      std::size_t max_results) {
  PolicyReportContent report;
  report.namespace_ = std::string(ns);
  for (const PodOutcome& pod : pods) {
    if (pod.namespace_ != ns) continue;
    for (const auto& f : pod.findings) report.results.push_back(ResultFor(pod, f, false));
    for (const auto& f : pod.exempted) report.results.push_back(ResultFor(pod, f, true));
  }
  std::sort(report.results.begin(), report.results.end(),
            [](const PolicyReportResult& a, const PolicyReportResult& b) {
              return SortKey(a) < SortKey(b);
            });
  if (report.results.size() > max_results) {
    report.dropped = report.results.size() - max_results;
    report.results.resize(max_results);
  }
  Fnv1a hash;
  for (const PolicyReportResult& r : report.results) {
    if (r.result == "fail") ++report.summary.fail;
    if (r.result == "warn") ++report.summary.warn;
    if (r.result == "skip") ++report.summary.skip;
    for (std::string_view field :
         {std::string_view(r.pod), std::string_view(r.pod_uid), std::string_view(r.rule),
          std::string_view(r.result), std::string_view(r.severity), std::string_view(r.message),
          std::string_view(r.container), std::string_view(r.field), std::string_view(r.evidence),
          std::string_view(r.action), std::string_view(r.exemption)}) {
      hash.Add(field);
    }
  }
  // The summary follows from the results, so hashing them covers it.
  report.content_hash = hash.Hex();
  return report;
}

std::string PolicyReportJson(const PolicyReportContent& report, common::Clock::Wall now,
                             std::string_view resource_version) {
  const auto seconds =
      std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> w(buffer);
  w.StartObject();
  WriteString(w, "apiVersion", "wgpolicyk8s.io/v1alpha2");
  WriteString(w, "kind", "PolicyReport");
  w.Key("metadata");
  w.StartObject();
  WriteString(w, "name", kPolicyReportName);
  WriteString(w, "namespace", report.namespace_);
  if (!resource_version.empty()) WriteString(w, "resourceVersion", resource_version);
  w.Key("labels");
  w.StartObject();
  WriteString(w, "app.kubernetes.io/managed-by", "stratum-guard");
  w.EndObject();
  w.Key("annotations");
  w.StartObject();
  WriteString(w, kPolicyReportHashAnnotation, report.content_hash);
  w.EndObject();
  w.EndObject();
  w.Key("summary");
  w.StartObject();
  for (auto [key, count] :
       {std::pair{"pass", report.summary.pass}, std::pair{"fail", report.summary.fail},
        std::pair{"warn", report.summary.warn}, std::pair{"error", report.summary.error},
        std::pair{"skip", report.summary.skip}}) {
    w.Key(key);
    w.Int(count);
  }
  w.EndObject();
  w.Key("results");
  w.StartArray();
  for (const PolicyReportResult& r : report.results) {
    w.StartObject();
    WriteString(w, "source", "stratum-guard");
    WriteString(w, "policy", "stratum-guard");
    WriteString(w, "rule", r.rule);
    WriteString(w, "category", "Cryptomining");
    WriteString(w, "result", r.result);
    WriteString(w, "severity", r.severity);
    w.Key("scored");
    w.Bool(true);
    WriteString(w, "message", r.message);
    w.Key("resources");
    w.StartArray();
    w.StartObject();
    WriteString(w, "apiVersion", "v1");
    WriteString(w, "kind", "Pod");
    WriteString(w, "namespace", report.namespace_);
    WriteString(w, "name", r.pod);
    if (!r.pod_uid.empty()) WriteString(w, "uid", r.pod_uid);
    w.EndObject();
    w.EndArray();
    w.Key("properties");
    w.StartObject();
    WriteString(w, "container", r.container);
    WriteString(w, "field", r.field);
    WriteString(w, "evidence", r.evidence);
    WriteString(w, "action", r.action);
    if (!r.exemption.empty()) WriteString(w, "exemption", r.exemption);
    w.EndObject();
    w.Key("timestamp");
    w.StartObject();
    w.Key("seconds");
    w.Int64(seconds);
    w.Key("nanos");
    w.Int(0);
    w.EndObject();
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return {buffer.GetString(), buffer.GetSize()};
}

}  // namespace stratum_guard::sweeper
