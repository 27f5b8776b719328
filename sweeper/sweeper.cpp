#include "sweeper/sweeper.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <thread>

#include "common/json.h"
#include "common/log.h"
#include "policy/workload.h"
#include "registry/workload_images.h"
#include "sweeper/policy_report_writer.h"

namespace stratum_guard::sweeper {

using common::Log;
using common::LogLevel;

std::string_view PodActionName(PodAction action) {
  switch (action) {
    case PodAction::kDeleted:
      return "deleted";
    case PodAction::kWouldDelete:
      return "would delete (dry run)";
    case PodAction::kNotEnforced:
      return "would delete (enforcement warn or audit)";
    case PodAction::kAlreadyGone:
      return "already gone";
    case PodAction::kCircuitOpen:
      return "not deleted: circuit breaker open";
    case PodAction::kNotLeader:
      return "not deleted: stopped or not leader";
    case PodAction::kFailed:
      return "delete failed";
    case PodAction::kDeferred:
      return "deferred to the next pass";
  }
  return "?";
}

namespace {

prometheus::Family<prometheus::Counter>& CounterFamily(prometheus::Registry& r, const char* name,
                                                       const char* help) {
  return prometheus::BuildCounter().Name(name).Help(help).Register(r);
}
prometheus::Family<prometheus::Gauge>& GaugeFamily(prometheus::Registry& r, const char* name,
                                                   const char* help) {
  return prometheus::BuildGauge().Name(name).Help(help).Register(r);
}

// The pause before retrying a failed call: the server's Retry-After wins over our own backoff,
// capped at kMaxRetryAfter, because any Retry-After is honoured as sent (a broken proxy's
// "Retry-After: 999999" would otherwise park the sweeper for 11 days: no list, no watch, no
// deletion).
std::chrono::milliseconds RetryWait(const kube::KubeError& e, kube::Backoff& backoff) {
  if (!e.retry_after) return backoff.Next();
  return std::min<std::chrono::milliseconds>(kMaxRetryAfter, *e.retry_after);
}

const policy::Finding* FirstDeny(const PodOutcome& pod) {
  for (const auto& f : pod.findings) {
    if (f.action == policy::Action::kDeny) return &f;
  }
  return pod.findings.empty() ? nullptr : &pod.findings.front();
}

std::string RuleOf(const PodOutcome& pod) {
  const policy::Finding* f = FirstDeny(pod);
  return f ? f->rule_id : "unknown";
}

// "stratum-url args[1] (namespace exemption), miner-image image (image exemption)".
std::string ExplainExempted(const PodOutcome& pod) {
  std::string out;
  for (const policy::Finding& f : pod.exempted) {
    if (!out.empty()) out += ", ";
    out += f.rule_id + " " + f.container + " " + f.field + " (" +
           std::string(policy::ExemptedByName(f.exempted_by)) + " exemption)";
  }
  return out;
}

// "rule miner-image: container "main" image is known miner image "xmrig/xmrig:6.21.0"
// (also stratum-url, miner-binary); exempted: ...": the first deny finding in full, the other
// rules by id, then what an exemption silenced.
std::string Explain(const PodOutcome& pod) {
  const policy::Finding* f = FirstDeny(pod);
  if (f == nullptr) return "no finding";
  std::string out = "rule " + f->rule_id + ": ";
  out += f->message.empty() ? "container \"" + f->container + "\" " + f->field + ": " + f->evidence
                            : f->message;
  std::vector<std::string> others;
  for (const auto& other : pod.findings) {
    if (other.rule_id != f->rule_id &&
        std::find(others.begin(), others.end(), other.rule_id) == others.end()) {
      others.push_back(other.rule_id);
    }
  }
  if (!others.empty()) {
    out += " (also";
    for (std::size_t i = 0; i < others.size(); ++i) out += (i ? ", " : " ") + others[i];
    out += ")";
  }
  if (!pod.exempted.empty()) out += "; exempted: " + ExplainExempted(pod);
  return out;
}

// ownerReferences[controller=true].uid, or "".
std::string_view ControllerUid(const rapidjson::Value& pod) {
  const rapidjson::Value* metadata = common::JsonMember(pod, "metadata");
  if (metadata == nullptr) return {};
  const rapidjson::Value* owners = common::JsonMember(*metadata, "ownerReferences");
  if (owners == nullptr || !owners->IsArray()) return {};
  for (const auto& owner : owners->GetArray()) {
    const rapidjson::Value* controller = common::JsonMember(owner, "controller");
    if (controller != nullptr && controller->IsBool() && controller->GetBool()) {
      return common::JsonString(owner, "uid");
    }
  }
  return {};
}

std::string_view AppNameLabel(const rapidjson::Value& pod) {
  const rapidjson::Value* metadata = common::JsonMember(pod, "metadata");
  if (metadata == nullptr) return {};
  const rapidjson::Value* labels = common::JsonMember(*metadata, "labels");
  if (labels == nullptr) return {};
  return common::JsonString(*labels, "app.kubernetes.io/name");
}

}  // namespace

Sweeper::Sweeper(kube::KubeApi& api, policy::PolicyStore& policies, prometheus::Registry& registry,
                 common::Clock& clock, Options options)
    : api_(api),
      policies_(policies),
      clock_(clock),
      options_(std::move(options)),
      bucket_(clock, options_.max_deletions_per_minute),
      scanned_(CounterFamily(registry, "stratum_guard_sweeper_pods_scanned_total",
                             "Pods judged by the sweeper (list passes and watch events).")
                   .Add({})),
      deleted_(CounterFamily(registry, "stratum_guard_sweeper_pods_deleted_total",
                             "Miner pods deleted, by the rule of their first deny finding.")),
      detected_(CounterFamily(registry, "stratum_guard_sweeper_pods_detected_total",
                              "Findings on scanned pods, by rule and the rule's action.")),
      errors_(CounterFamily(registry, "stratum_guard_sweeper_errors_total",
                            "Failed Kubernetes API calls, expired lists/watches and pods the "
                            "policy failed to evaluate, by reason.")),
      // Registered by the webhook too (source="admission"), with the same help: the registry
      // merges the two into one family.
      exemptions_(CounterFamily(registry, "stratum_guard_exemptions_total",
                                "Findings an exemption silenced, by rule and source (admission, "
                                "sweeper).")),
      inspections_(
          CounterFamily(registry, registry::kInspectionsMetric, registry::kInspectionsHelp)),
      last_full_sync_(GaugeFamily(registry,
                                  "stratum_guard_sweeper_last_full_sync_timestamp_seconds",
                                  "Unix time when the last full list pass completed.")
                          .Add({})),
      is_leader_(GaugeFamily(registry, "stratum_guard_sweeper_is_leader",
                             "1 while this replica holds the sweeper lease and may delete.")
                     .Add({})),
      circuit_gauge_(GaugeFamily(registry, "stratum_guard_sweeper_circuit_open",
                                 "1 while the circuit breaker stops deletions (alert on it).")
                         .Add({})) {
  // Touch the error series that alerts key on, so they exist at 0 from the start.
  for (const char* reason : {"list", "list_expired", "watch", "watch_expired", "delete", "event",
                             "self_lookup", "evaluation"}) {
    errors_.Add({{"reason", reason}});
  }
  if (options_.images != nullptr) {
    for (registry::Outcome outcome : registry::kOutcomes) {
      inspections_.Add({{"source", "sweeper"}, {"outcome", registry::OutcomeName(outcome)}});
    }
  }
  // And the series of every rule, for the first policy and each reload: an alert on increase()
  // must see the first deletion under a rule, which a series born at 1 does not show.
  policy_subscription_ = policies_.Subscribe([this](const policy::Policy& policy) {
    for (const policy::RuleInfo& rule : policy.rules()) {
      detected_.Add({{"rule", rule.id}, {"action", std::string(policy::ActionName(rule.action))}});
      exemptions_.Add({{"rule", rule.id}, {"source", "sweeper"}});
      if (rule.action == policy::Action::kDeny) deleted_.Add({{"rule", rule.id}});
    }
  });
  if (options_.policy_reports) {
    reports_ = std::make_unique<PolicyReportWriter>(api_, registry, clock_,
                                                    options_.policy_report_max_results);
  }
}

Sweeper::~Sweeper() = default;

std::size_t Sweeper::BreakerThreshold(std::uint64_t scanned) const {
  double by_ratio = options_.circuit_breaker_ratio * static_cast<double>(scanned);
  return static_cast<std::size_t>(
      std::max<double>(by_ratio, static_cast<double>(options_.circuit_breaker_min)));
}

void Sweeper::SetCircuit(bool open) {
  if (open != circuit_open_) {
    Log(open ? LogLevel::kError : LogLevel::kInfo,
        open ? "sweeper: circuit breaker opened, deletions stopped"
             : "sweeper: circuit breaker closed, deletions resume");
  }
  circuit_open_ = open;
  circuit_gauge_.Set(open ? 1 : 0);
}

bool Sweeper::MayDelete() const { return elector_ == nullptr || elector_->IsLeader(); }

void Sweeper::ResolveSelf() {
  if (self_resolved_ || options_.self_name.empty() || options_.self_namespace.empty()) return;
  kube::KubeError e =
      api_.GetPod(options_.self_namespace, options_.self_name, [this](const rapidjson::Value& pod) {
        self_controller_uid_ = std::string(ControllerUid(pod));
        self_app_name_ = std::string(AppNameLabel(pod));
      });
  if (!e.ok()) {
    errors_.Add({{"reason", "self_lookup"}}).Increment();
    Log(LogLevel::kWarn, "sweeper: cannot read own pod; protecting it by name only",
        {{"namespace", options_.self_namespace},
         {"name", options_.self_name},
         {"error", e.ToString()}});
    return;
  }
  self_resolved_ = true;
  Log(LogLevel::kInfo, "sweeper: own pod resolved",
      {{"namespace", options_.self_namespace},
       {"name", options_.self_name},
       {"controller_uid", self_controller_uid_},
       {"app", self_app_name_}});
}

bool Sweeper::Judge(const policy::Policy& policy, const rapidjson::Value& pod, SweepReport& report,
                    PodOutcome* out) {
  ++report.scanned;
  scanned_.Increment();
  std::string_view ns = kube::MetadataString(pod, "namespace");
  std::string_view name = kube::MetadataString(pod, "name");
  if (!options_.self_namespace.empty() && ns == options_.self_namespace) {
    std::string_view controller = ControllerUid(pod);
    std::string_view app = AppNameLabel(pod);
    if (name == options_.self_name ||
        (!self_controller_uid_.empty() && controller == self_controller_uid_) ||
        (!self_app_name_.empty() && app == self_app_name_)) {
      ++report.skipped_self;
      return false;
    }
  }
  if (const rapidjson::Value* metadata = common::JsonMember(pod, "metadata");
      metadata && common::JsonMember(*metadata, "deletionTimestamp") &&
      !common::JsonMember(*metadata, "deletionTimestamp")->IsNull()) {
    ++report.skipped_terminating;
    return false;
  }
  if (const rapidjson::Value* status = common::JsonMember(pod, "status"); status) {
    std::string_view phase = common::JsonString(*status, "phase");
    if (phase == "Succeeded" || phase == "Failed") {
      ++report.skipped_finished;
      return false;
    }
  }
  auto workload = policy::ExtractWorkload("Pod", pod);
  if (!workload) return false;
  if (workload->namespace_.empty()) workload->namespace_ = ns;
  registry::WorkloadInspection seen;  // keeps the configs the workload points into
  if (options_.images != nullptr) {
    seen = registry::InspectWorkload(*workload, *options_.images, *options_.image_credentials,
                                     options_.image_deadline);
    for (const registry::ContainerInspection& c : seen.containers) {
      const char* outcome = registry::OutcomeName(c.inspection.outcome);
      inspections_.Add({{"source", "sweeper"}, {"outcome", outcome}}).Increment();
      if (c.inspection.outcome != registry::Outcome::kDeadline && c.error.empty()) continue;
      // Judged on its pod spec alone this time; the next pass sees the cache.
      Log(LogLevel::kInfo, "sweeper: image not inspected",
          {{"namespace", ns},
           {"pod", name},
           {"image", c.image},
           {"outcome", outcome},
           {"error", c.error}});
    }
  }
  policy::Verdict verdict = policy.Evaluate(*workload);
  if (verdict.Failed()) {
    // Never a reason to delete: nobody judged this pod.
    ++report.failed;
    errors_.Add({{"reason", "evaluation"}}).Increment();
    report.errors.push_back("evaluate " + std::string(ns) + "/" + std::string(name) + ": " +
                            verdict.error);
    Log(LogLevel::kError, "sweeper: policy evaluation failed, pod left alone",
        {{"namespace", ns}, {"pod", name}, {"error", verdict.error}});
    return false;
  }
  for (const auto& f : verdict.findings) {
    detected_.Add({{"rule", f.rule_id}, {"action", std::string(policy::ActionName(f.action))}})
        .Increment();
  }
  for (const auto& f : verdict.exempted) {
    exemptions_.Add({{"rule", f.rule_id}, {"source", "sweeper"}}).Increment();
    Log(LogLevel::kInfo, "sweeper: finding exempted",
        {{"namespace", ns},
         {"pod", name},
         {"rule", f.rule_id},
         {"container", f.container},
         {"field", f.field},
         {"exemption", policy::ExemptedByName(f.exempted_by)}});
  }
  if (verdict.findings.empty() && verdict.exempted.empty()) return false;
  out->namespace_ = std::string(ns);
  out->name = std::string(name);
  out->uid = std::string(kube::MetadataString(pod, "uid"));
  out->decision = verdict.decision();
  out->findings = std::move(verdict.findings);
  out->exempted = std::move(verdict.exempted);
  std::stable_sort(out->findings.begin(), out->findings.end(),
                   [](const policy::Finding& a, const policy::Finding& b) {
                     return static_cast<int>(a.action) > static_cast<int>(b.action);
                   });
  return out->decision == policy::Decision::kDenied;
}

void Sweeper::EmitEvent(const PodOutcome& pod, std::string_view reason, std::string_view message) {
  if (!options_.emit_events) return;
  std::string now = kube::FormatTime(clock_.WallNow());
  char suffix[40];
  auto nanos =
      std::chrono::duration_cast<std::chrono::nanoseconds>(clock_.WallNow().time_since_epoch())
          .count();
  std::snprintf(suffix, sizeof suffix, ".%" PRIx64 "%04" PRIx64, static_cast<std::uint64_t>(nanos),
                ++event_serial_ & 0xffff);
  std::string name = pod.name.substr(0, 200) + suffix;
  std::string text(message.substr(0, 1000));
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> w(buffer);
  w.StartObject();
  w.Key("apiVersion");
  w.String("v1");
  w.Key("kind");
  w.String("Event");
  w.Key("metadata");
  w.StartObject();
  w.Key("name");
  w.String(name);
  w.Key("namespace");
  w.String(pod.namespace_);
  w.EndObject();
  w.Key("involvedObject");
  w.StartObject();
  w.Key("apiVersion");
  w.String("v1");
  w.Key("kind");
  w.String("Pod");
  w.Key("namespace");
  w.String(pod.namespace_);
  w.Key("name");
  w.String(pod.name);
  w.Key("uid");
  w.String(pod.uid);
  w.EndObject();
  w.Key("reason");
  w.String(reason.data(), static_cast<rapidjson::SizeType>(reason.size()));
  w.Key("message");
  w.String(text);
  w.Key("type");
  w.String("Warning");
  w.Key("source");
  w.StartObject();
  w.Key("component");
  w.String("stratum-guard");
  w.EndObject();
  w.Key("firstTimestamp");
  w.String(now);
  w.Key("lastTimestamp");
  w.String(now);
  w.Key("count");
  w.Int(1);
  w.Key("reportingComponent");
  w.String("stratum-guard");
  w.Key("reportingInstance");
  w.String(options_.leader.identity.empty() ? options_.self_name : options_.leader.identity);
  w.EndObject();
  kube::KubeError e = api_.CreateEvent(pod.namespace_, {buffer.GetString(), buffer.GetSize()});
  if (!e.ok()) {
    errors_.Add({{"reason", "event"}}).Increment();
    Log(LogLevel::kWarn, "sweeper: cannot create event",
        {{"namespace", pod.namespace_}, {"pod", pod.name}, {"error", e.ToString()}});
  }
}

PodAction Sweeper::Delete(PodOutcome& pod, const common::CancelCheck& cancelled) {
  auto give_up = [&] { return (cancelled && cancelled()) || !MayDelete(); };
  if (give_up()) return PodAction::kNotLeader;
  if (!bucket_.Take(give_up)) return PodAction::kNotLeader;
  kube::Backoff backoff(options_.backoff_initial, options_.backoff_max);
  for (int attempt = 1;; ++attempt) {
    // Checked right before every call: no DELETE leaves after the renew deadline has passed.
    if (give_up()) return PodAction::kNotLeader;
    kube::KubeError e =
        api_.DeletePod(pod.namespace_, pod.name, pod.uid, options_.grace_period_seconds);
    if (e.ok()) {
      deleted_.Add({{"rule", RuleOf(pod)}}).Increment();
      ++deleted_since_sync_;
      Log(LogLevel::kWarn, "sweeper: deleted miner pod",
          {{"namespace", pod.namespace_},
           {"pod", pod.name},
           {"uid", pod.uid},
           {"rule", RuleOf(pod)},
           {"evidence", FirstDeny(pod) ? FirstDeny(pod)->evidence : std::string()},
           {"exempted", ExplainExempted(pod)}});
      EmitEvent(pod, "MinerPodDeleted", "stratum-guard deleted this pod: " + Explain(pod));
      return PodAction::kDeleted;
    }
    if (e.IsNotFound() || e.IsConflict()) {
      Log(LogLevel::kInfo, "sweeper: pod already gone or replaced",
          {{"namespace", pod.namespace_}, {"pod", pod.name}, {"error", e.ToString()}});
      return PodAction::kAlreadyGone;
    }
    errors_.Add({{"reason", "delete"}}).Increment();
    if (!e.IsRetriable() || attempt >= options_.delete_attempts) {
      pod.error = e.ToString();
      Log(LogLevel::kError, "sweeper: cannot delete miner pod",
          {{"namespace", pod.namespace_}, {"pod", pod.name}, {"error", pod.error}});
      return PodAction::kFailed;
    }
    auto wait = RetryWait(e, backoff);
    Log(LogLevel::kWarn, "sweeper: delete failed, retrying",
        {{"namespace", pod.namespace_},
         {"pod", pod.name},
         {"error", e.ToString()},
         {"retry_in_ms", static_cast<std::int64_t>(wait.count())}});
    if (!clock_.SleepFor(wait, give_up)) return PodAction::kNotLeader;
  }
}

void Sweeper::Act(PodOutcome& pod, const common::CancelCheck& cancelled, SweepReport& report) {
  const bool enforcing = enforcement_ == policy::Enforcement::kEnforce;
  if (options_.dry_run || !enforcing || circuit_open_) {
    pod.action = options_.dry_run ? PodAction::kWouldDelete
                 : !enforcing     ? PodAction::kNotEnforced
                                  : PodAction::kCircuitOpen;
    Log(LogLevel::kWarn, "sweeper: miner pod detected",
        {{"namespace", pod.namespace_},
         {"pod", pod.name},
         {"uid", pod.uid},
         {"rule", RuleOf(pod)},
         {"action", PodActionName(pod.action)},
         {"enforcement", policy::EnforcementName(enforcement_)},
         {"exempted", ExplainExempted(pod)}});
    // Once per pod, not once per pass: a dry run must not flood the namespace with events.
    if (detected_uids_.size() > 10'000) detected_uids_.clear();
    if (detected_uids_.insert(pod.uid).second) {
      std::string why = options_.dry_run ? "stratum-guard (dry run) would delete this pod: "
                        : !enforcing     ? "stratum-guard (enforcement " +
                                           std::string(policy::EnforcementName(enforcement_)) +
                                           ") would delete this pod: "
                                     : "stratum-guard circuit breaker is open, so this pod "
                                       "was not deleted: ";
      EmitEvent(pod, "MinerPodDetected", why + Explain(pod));
    }
    return;
  }
  pod.action = Delete(pod, cancelled);
  if (pod.action == PodAction::kDeleted) ++report.deleted;
  if (pod.action == PodAction::kFailed) {
    report.errors.push_back("delete " + pod.namespace_ + "/" + pod.name + ": " + pod.error);
  }
}

// Lists every pod, page by page, judging each as it arrives: the deny candidates are kept (up
// to max_candidates), pods with other findings go to the report. An expired continue token
// restarts the list; a failed page is retried with backoff. Returns false when cancelled.
bool Sweeper::ListAndJudge(const policy::Policy& policy, const common::CancelCheck& cancelled,
                           SweepReport& report, std::vector<PodOutcome>& candidates) {
  std::string token;
  int restarts = 0;
  int attempts = 0;
  kube::Backoff backoff(options_.backoff_initial, options_.backoff_max);
  while (true) {
    if (cancelled && cancelled()) return false;
    kube::ListPage page;
    kube::KubeError e = api_.ListPods(
        token, options_.page_size,
        [&](const rapidjson::Value& pod) {
          PodOutcome outcome;
          bool deny = Judge(policy, pod, report, &outcome);
          if (deny) {
            ++report.candidates;
            if (candidates.size() < options_.max_candidates) {
              candidates.push_back(std::move(outcome));
            }
          } else if (!outcome.findings.empty() || !outcome.exempted.empty()) {
            if (report.pods.size() < options_.max_candidates) {
              report.pods.push_back(std::move(outcome));
            } else {
              report.truncated = true;
            }
          }
        },
        &page);
    if (!e.ok()) {
      if (e.kind == kube::KubeError::Kind::kCancelled) return false;
      if (e.IsGone() && !token.empty() && restarts < options_.list_restarts) {
        // The continue token expired: a consistent list must start over.
        errors_.Add({{"reason", "list_expired"}}).Increment();
        Log(LogLevel::kWarn, "sweeper: list continue token expired, restarting the list",
            {{"error", e.ToString()}});
        ++restarts;
        report = SweepReport();
        report.enforcement = enforcement_;
        candidates.clear();
        token.clear();
        continue;
      }
      errors_.Add({{"reason", "list"}}).Increment();
      if (e.IsRetriable() && ++attempts < options_.delete_attempts) {
        auto wait = RetryWait(e, backoff);
        Log(LogLevel::kWarn, "sweeper: list failed, retrying",
            {{"error", e.ToString()}, {"retry_in_ms", static_cast<std::int64_t>(wait.count())}});
        if (!clock_.SleepFor(wait, cancelled)) return false;
        continue;  // the same page again
      }
      report.errors.push_back("list pods: " + e.ToString());
      Log(LogLevel::kError, "sweeper: list failed", {{"error", e.ToString()}});
      break;
    }
    attempts = 0;
    if (report.resource_version.empty()) report.resource_version = page.resource_version;
    token = page.continue_token;
    if (token.empty()) {
      report.complete = true;
      break;
    }
  }
  return true;
}

SweepReport Sweeper::FullSync(const common::CancelCheck& cancelled) {
  ResolveSelf();
  std::shared_ptr<const policy::Policy> policy = policies_.Get();
  enforcement_ = policy->EnforcementUnder(options_.enforcement);
  SweepReport report;
  report.enforcement = enforcement_;
  std::vector<PodOutcome> candidates;
  if (!ListAndJudge(*policy, cancelled, report, candidates)) return report;
  max_candidates_held_ = std::max(max_candidates_held_, candidates.size());
  sync_policy_ = policy;
  last_scanned_ = report.scanned;
  deleted_since_sync_ = 0;
  // A partial list trips the breaker more easily (fewer pods scanned), never less.
  std::size_t threshold = BreakerThreshold(report.scanned);
  SetCircuit(report.candidates > threshold);
  if (circuit_open_) {
    Log(LogLevel::kError, "sweeper: circuit breaker open: too many pods would be deleted",
        {{"candidates", static_cast<std::int64_t>(report.candidates)},
         {"scanned", static_cast<std::int64_t>(report.scanned)},
         {"threshold", static_cast<std::int64_t>(threshold)}});
    report.circuit_open = true;
  }
  for (auto& pod : candidates) {
    Act(pod, cancelled, report);
    report.pods.push_back(std::move(pod));
  }
  if (report.candidates > candidates.size()) {
    PodOutcome deferred;
    deferred.action = PodAction::kDeferred;
    deferred.name = std::to_string(report.candidates - candidates.size()) + " more pods";
    report.pods.push_back(std::move(deferred));
    report.truncated = true;
  }
  // After the deletions: a report must never hold one up. A list that failed halfway saw only
  // some pods of a namespace: its reports would lose results, so they stay as they were.
  if (reports_ && report.complete && !(cancelled && cancelled())) {
    reports_->Sync(report.pods, !report.truncated, cancelled);
  }
  if (report.complete) {
    last_full_sync_.Set(std::chrono::duration<double>(clock_.WallNow().time_since_epoch()).count());
  }
  Log(LogLevel::kInfo, "sweeper: full pass done",
      {{"scanned", static_cast<std::int64_t>(report.scanned)},
       {"candidates", static_cast<std::int64_t>(report.candidates)},
       {"deleted", static_cast<std::int64_t>(report.deleted)},
       {"failed", static_cast<std::int64_t>(report.failed)},
       {"complete", report.complete},
       {"dry_run", options_.dry_run},
       {"enforcement", policy::EnforcementName(enforcement_)}});
  return report;
}

// `outcome` is empty (no name) when the pod has no findings, is going away or is gone.
void Sweeper::ObserveForReports(const rapidjson::Value& pod, const PodOutcome& outcome) {
  if (!reports_) return;
  const bool gone = outcome.name.empty() || outcome.action == PodAction::kDeleted ||
                    outcome.action == PodAction::kAlreadyGone;
  reports_->Observe(kube::MetadataString(pod, "namespace"), kube::MetadataString(pod, "name"),
                    gone ? nullptr : &outcome);
}

SweepReport Sweeper::SweepOnce(const common::CancelCheck& cancelled) { return FullSync(cancelled); }

void Sweeper::WatchUntilResync(const std::string& resource_version,
                               const common::CancelCheck& cancelled) {
  std::string rv = resource_version;
  kube::Backoff backoff(options_.backoff_initial, options_.backoff_max);
  auto deadline = clock_.Now() + options_.resync_period;
  while (!(cancelled && cancelled())) {
    auto remaining = std::chrono::duration_cast<std::chrono::seconds>(deadline - clock_.Now());
    if (remaining.count() <= 0) return;
    int timeout = static_cast<int>(std::min(remaining, options_.watch_timeout).count());
    bool relist = false;
    bool got_events = false;
    kube::KubeError e = api_.WatchPods(
        rv, std::max(timeout, 1),
        [&](kube::WatchEventType type, const rapidjson::Value& object) {
          got_events = true;
          if (type == kube::WatchEventType::kError) {
            const auto* code = common::JsonMember(object, "code");
            int c = code && code->IsInt() ? code->GetInt() : 0;
            std::string message(common::JsonString(object, "message"));
            if (c == 410) {
              errors_.Add({{"reason", "watch_expired"}}).Increment();
              Log(LogLevel::kInfo, "sweeper: watch expired (410), relisting",
                  {{"message", message}});
              relist = true;
            } else {
              errors_.Add({{"reason", "watch"}}).Increment();
              Log(LogLevel::kWarn, "sweeper: watch error event",
                  {{"code", c}, {"message", message}});
            }
            return false;
          }
          std::string_view object_rv = kube::MetadataString(object, "resourceVersion");
          if (!object_rv.empty()) rv = std::string(object_rv);
          // Checked on every event, bookmarks included, so a reload reaches the pods already
          // running within a bookmark interval even when none of them changes.
          std::shared_ptr<const policy::Policy> policy = policies_.Get();
          if (policy != sync_policy_) {
            // A reloaded policy first goes through a full pass and its circuit breaker.
            Log(LogLevel::kInfo, "sweeper: policy changed, resyncing");
            relist = true;
            return false;
          }
          if (type == kube::WatchEventType::kDeleted) {
            ObserveForReports(object, PodOutcome());
            return true;
          }
          if (type != kube::WatchEventType::kAdded && type != kube::WatchEventType::kModified)
            return true;
          SweepReport scratch;
          PodOutcome pod;
          if (Judge(*policy, object, scratch, &pod)) Act(pod, cancelled, scratch);
          if (cancelled && cancelled()) return false;
          ObserveForReports(object, pod);
          return true;
        },
        cancelled);
    if (relist) return;
    if (e.ok()) {
      backoff.Reset();
      continue;
    }
    if (e.kind == kube::KubeError::Kind::kCancelled) return;
    if (e.IsGone()) {
      errors_.Add({{"reason", "watch_expired"}}).Increment();
      Log(LogLevel::kInfo, "sweeper: watch expired (410), relisting", {{"error", e.ToString()}});
      return;
    }
    if (got_events) backoff.Reset();
    errors_.Add({{"reason", "watch"}}).Increment();
    auto wait = backoff.Next();
    Log(LogLevel::kWarn, "sweeper: watch failed, reconnecting",
        {{"error", e.ToString()}, {"retry_in_ms", static_cast<std::int64_t>(wait.count())}});
    if (!clock_.SleepFor(wait, cancelled)) return;
  }
}

void Sweeper::Run(const common::StopSignal& stop) {
  std::thread election;
  if (options_.leader_elect) {
    elector_ = std::make_unique<kube::LeaderElector>(api_, clock_, options_.leader);
    election = std::thread([this, &stop] {
      elector_->Run(stop, [this](bool leading) { is_leader_.Set(leading ? 1 : 0); });
    });
  } else {
    is_leader_.Set(1);
  }
  auto cancelled = [this, &stop] { return stop.stopped() || !MayDelete(); };
  auto stopped = [&stop] { return stop.stopped(); };
  kube::Backoff backoff(options_.backoff_initial, options_.backoff_max);
  while (!stop.stopped()) {
    if (!MayDelete()) {
      clock_.SleepFor(std::chrono::milliseconds(100), stopped);
      continue;
    }
    SweepReport report = FullSync(cancelled);
    if (!report.complete) {
      if (cancelled()) continue;
      clock_.SleepFor(backoff.Next(), cancelled);
      continue;
    }
    backoff.Reset();
    WatchUntilResync(report.resource_version, cancelled);
  }
  if (election.joinable()) election.join();
  is_leader_.Set(0);
}

std::string FormatReport(const SweepReport& report, bool dry_run) {
  const bool enforcing = report.enforcement == policy::Enforcement::kEnforce;
  std::string out = "stratum-guard sweep";
  if (dry_run) out += " (dry run)";
  if (!enforcing) {
    out += " (enforcement " + std::string(policy::EnforcementName(report.enforcement)) + ")";
  }
  out += "\n";
  out += "pods scanned: " + std::to_string(report.scanned) +
         (report.complete ? "" : " (list incomplete)") + "\n";
  out += "skipped: " + std::to_string(report.skipped_self) + " own, " +
         std::to_string(report.skipped_terminating) + " terminating, " +
         std::to_string(report.skipped_finished) + " finished, " + std::to_string(report.failed) +
         " policy errors\n";
  out += "pods with a deny finding: " + std::to_string(report.candidates) + "\n";
  out += (dry_run || !enforcing ? "would delete: " + std::to_string(report.candidates)
                                : "deleted: " + std::to_string(report.deleted)) +
         "\n";
  if (report.circuit_open) {
    out += "CIRCUIT BREAKER OPEN: too large a share of pods would be deleted; nothing deleted\n";
  }
  auto finding_line = [&out](const policy::Finding& f, std::string_view prefix) {
    out += "  " + std::string(prefix) + std::string(policy::ActionName(f.action)) + " " +
           f.rule_id + " " + (f.path.empty() ? f.container + " " + f.field : f.path) + ": " +
           f.evidence;
    if (!f.message.empty()) out += " (" + f.message + ")";
    if (f.exempted_by != policy::ExemptedBy::kNone) {
      out += " [" + std::string(policy::ExemptedByName(f.exempted_by)) + " exemption]";
    }
    out += "\n";
  };
  for (const auto& pod : report.pods) {
    out += "\n" + pod.namespace_ + (pod.namespace_.empty() ? "" : "/") + pod.name;
    if (!pod.uid.empty()) out += " (uid " + pod.uid + ")";
    const bool deny = pod.decision == policy::Decision::kDenied;
    std::string_view status = deny || pod.action == PodAction::kDeferred ? PodActionName(pod.action)
                              : pod.findings.empty() ? "not deleted: every finding exempted"
                                                     : "not deleted: no deny finding";
    out += ": " + std::string(status);
    if (!pod.error.empty()) out += ": " + pod.error;
    out += "\n";
    for (const auto& f : pod.findings) finding_line(f, "");
    for (const auto& f : pod.exempted) finding_line(f, "exempted ");
  }
  if (!report.errors.empty()) {
    out += "\nerrors:\n";
    for (const auto& e : report.errors) out += "  " + e + "\n";
  }
  return out;
}

}  // namespace stratum_guard::sweeper
