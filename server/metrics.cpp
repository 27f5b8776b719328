#include "server/metrics.h"

#include <string>

#include "common/build_info.h"
#include "policy/workload.h"

namespace stratum_guard::server {

namespace {

// The operations the webhook is registered for (manifests/base/validatingwebhookconfiguration
// .yaml): their series exist from the start.
constexpr std::array<std::string_view, 2> kRegisteredOperations = {"CREATE", "UPDATE"};

prometheus::Family<prometheus::Counter>& Counters(prometheus::Registry& registry, const char* name,
                                                  const char* help) {
  return prometheus::BuildCounter().Name(name).Help(help).Register(registry);
}

prometheus::Family<prometheus::Gauge>& Gauges(prometheus::Registry& registry, const char* name,
                                              const char* help) {
  return prometheus::BuildGauge().Name(name).Help(help).Register(registry);
}

}  // namespace

const prometheus::Histogram::BucketBoundaries& DurationBuckets() {
  static const prometheus::Histogram::BucketBoundaries kBuckets = {
      0.000005, 0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
      0.025,    0.05,    0.1,      0.25,    0.5,    1,       2.5,    5,     10,     30};
  return kBuckets;
}

ServerMetrics::ServerMetrics(prometheus::Registry& registry,
                             std::vector<std::string_view> listeners)
    : http_responses_(Counters(registry, "stratum_guard_http_responses_total",
                               "HTTP responses, by listener (webhook, metrics) and status code.")),
      handshake_failures_(Counters(registry, "stratum_guard_tls_handshake_failures_total",
                                   "TLS handshakes that failed (plain HTTP, bad client "
                                   "certificate, garbage, timeouts).")
                              .Add({})),
      connections_rejected_(Counters(registry, "stratum_guard_connections_rejected_total",
                                     "Connections closed at once because --max-connections "
                                     "were open, by listener.")),
      connections_shed_(Counters(registry, "stratum_guard_connections_shed_total",
                                 "Connections waiting on their client that were closed to make "
                                 "room for a new one at --max-connections, by listener.")),
      open_connections_(
          Gauges(registry, "stratum_guard_open_connections", "Connections open now, by listener.")),
      body_budget_refusals_(Counters(registry, "stratum_guard_body_budget_refusals_total",
                                     "Requests answered 503 because their body would pass "
                                     "--max-inflight-body-bytes, by listener.")),
      reserved_body_bytes_(Gauges(registry, "stratum_guard_reserved_body_bytes",
                                  "Request body bytes reserved now, over all connections.")
                               .Add({})),
      slow_bodies_(Counters(registry, "stratum_guard_slow_bodies_total",
                            "Requests whose connection was closed because the body came slower "
                            "than --min-body-rate, paused over a second, or took over "
                            "--header-timeout, by listener.")) {
  Gauges(registry, "stratum_guard_build_info",
         "Always 1; labels carry the version and commit of the running binary.")
      .Add({{"version", std::string(common::Version())}, {"commit", std::string(common::Commit())}})
      .Set(1);
  for (std::string_view listener : listeners) {
    for (unsigned code : kCachedCodes) Response(listener, code);
    connections_rejected_.Add({{"listener", std::string(listener)}});
    connections_shed_.Add({{"listener", std::string(listener)}});
    open_connections_.Add({{"listener", std::string(listener)}});
    body_budget_refusals_.Add({{"listener", std::string(listener)}});
    slow_bodies_.Add({{"listener", std::string(listener)}});
  }
}

prometheus::Counter& ServerMetrics::Response(std::string_view listener, unsigned code) {
  auto add = [&]() -> prometheus::Counter& {
    return http_responses_.Add(
        {{"listener", std::string(listener)}, {"code", std::to_string(code)}});
  };
  const std::size_t code_slot = SlotOf(kCachedCodes, code);
  const bool cached_listener = listener == "webhook" || listener == "metrics";
  if (!cached_listener || code_slot == kCachedCodes.size()) return add();
  return response_series_.Get((listener == "webhook" ? 0 : kCodeSlots) + code_slot, add);
}

void ServerMetrics::RecordHttpResponse(std::string_view listener, unsigned code) {
  Response(listener, code).Increment();
}

void ServerMetrics::RecordTlsHandshakeFailure() { handshake_failures_.Increment(); }

void ServerMetrics::RecordConnectionRejected(std::string_view listener) {
  connections_rejected_.Add({{"listener", std::string(listener)}}).Increment();
}

void ServerMetrics::RecordConnectionShed(std::string_view listener) {
  connections_shed_.Add({{"listener", std::string(listener)}}).Increment();
}

void ServerMetrics::AddOpenConnections(std::string_view listener, double delta) {
  open_connections_.Add({{"listener", std::string(listener)}}).Increment(delta);
}

void ServerMetrics::RecordBodyBudgetRefusal(std::string_view listener) {
  body_budget_refusals_.Add({{"listener", std::string(listener)}}).Increment();
}

void ServerMetrics::RecordSlowBody(std::string_view listener) {
  slow_bodies_.Add({{"listener", std::string(listener)}}).Increment();
}

void ServerMetrics::AddReservedBodyBytes(double delta) { reserved_body_bytes_.Increment(delta); }

AdmissionMetrics::AdmissionMetrics(prometheus::Registry& registry)
    : requests_(Counters(registry, "stratum_guard_admission_requests_total",
                         "Admission reviews answered, by object kind, operation and decision "
                         "(allowed, denied, warned, error).")),
      duration_(prometheus::BuildHistogram()
                    .Name("stratum_guard_admission_duration_seconds")
                    .Help("Time from a request read in full to its answer encoded, by object "
                          "kind: the webhook's own work, without TLS, network and body transfer.")
                    .Register(registry)),
      findings_(Counters(registry, "stratum_guard_findings_total",
                         "Policy findings in admission reviews, by rule and action.")),
      // Registered by the sweeper too (source="sweeper"), with the same help: the registry
      // merges the two into one family.
      exemptions_(Counters(registry, "stratum_guard_exemptions_total",
                           "Findings an exemption silenced, by rule and source (admission, "
                           "sweeper).")),
      certificate_expiry_(Gauges(registry, "stratum_guard_tls_certificate_expiry_timestamp_seconds",
                                 "notAfter of the serving certificate in force, Unix seconds.")
                              .Add({})),
      tls_reloads_(
          Counters(registry, "stratum_guard_tls_reloads_total",
                   "Certificate, key and client CA reloads, by result (success, error).")) {
  tls_reloads_.Add({{"result", "success"}});
  tls_reloads_.Add({{"result", "error"}});
  auto& inspections = Counters(registry, registry::kInspectionsMetric, registry::kInspectionsHelp);
  for (registry::Outcome outcome : registry::kOutcomes) {
    image_inspections_[static_cast<std::size_t>(outcome)] =
        &inspections.Add({{"source", "admission"}, {"outcome", registry::OutcomeName(outcome)}});
  }
  for (std::size_t kind = 0; kind < kKindSlots; ++kind) {
    Duration(kind);
    for (std::string_view operation : kRegisteredOperations) {
      for (std::size_t decision = 0; decision < kDecisionSlots; ++decision) {
        Requests(kind, SlotOf(kOperations, operation), static_cast<Decision>(decision));
      }
    }
  }
}

std::string_view AdmissionMetrics::KindLabel(std::string_view kind) {
  return SlotOf(policy::kPodTemplateKinds, kind) < policy::kPodTemplateKinds.size()
             ? kind
             : std::string_view("other");
}

std::string_view AdmissionMetrics::OperationLabel(std::string_view operation) {
  return SlotOf(kOperations, operation) < kOperations.size() ? operation
                                                             : std::string_view("other");
}

prometheus::Counter& AdmissionMetrics::Requests(std::size_t kind_slot, std::size_t operation_slot,
                                                Decision decision) {
  const std::size_t slot = (kind_slot * kOperationSlots + operation_slot) * kDecisionSlots +
                           static_cast<std::size_t>(decision);
  return request_series_.Get(slot, [&]() -> prometheus::Counter& {
    std::string_view kind = kind_slot < policy::kPodTemplateKinds.size()
                                ? policy::kPodTemplateKinds[kind_slot]
                                : "other";
    std::string_view operation =
        operation_slot < kOperations.size() ? kOperations[operation_slot] : "other";
    return requests_.Add({{"kind", std::string(kind)},
                          {"operation", std::string(operation)},
                          {"decision", std::string(DecisionName(decision))}});
  });
}

prometheus::Histogram& AdmissionMetrics::Duration(std::size_t kind_slot) {
  return duration_series_.Get(kind_slot, [&]() -> prometheus::Histogram& {
    std::string_view kind = kind_slot < policy::kPodTemplateKinds.size()
                                ? policy::kPodTemplateKinds[kind_slot]
                                : "other";
    return duration_.Add({{"kind", std::string(kind)}}, DurationBuckets());
  });
}

void AdmissionMetrics::RecordAdmission(std::string_view kind, std::string_view operation,
                                       Decision decision, std::chrono::nanoseconds duration) {
  const std::size_t kind_slot = SlotOf(policy::kPodTemplateKinds, kind);
  Requests(kind_slot, SlotOf(kOperations, operation), decision).Increment();
  Duration(kind_slot).Observe(std::chrono::duration<double>(duration).count());
}

void AdmissionMetrics::RecordFinding(std::string_view rule, std::string_view action) {
  findings_.Add({{"rule", std::string(rule)}, {"action", std::string(action)}}).Increment();
}

void AdmissionMetrics::RecordExemption(std::string_view rule) {
  exemptions_.Add({{"rule", std::string(rule)}, {"source", "admission"}}).Increment();
}

void AdmissionMetrics::AddRuleSeries(const policy::Policy& policy) {
  for (const policy::RuleInfo& rule : policy.rules()) {
    findings_.Add({{"rule", rule.id}, {"action", std::string(policy::ActionName(rule.action))}});
    exemptions_.Add({{"rule", rule.id}, {"source", "admission"}});
  }
}

void AdmissionMetrics::RecordImageInspection(registry::Outcome outcome) {
  image_inspections_[static_cast<std::size_t>(outcome)]->Increment();
}

void AdmissionMetrics::RecordTlsReload(bool ok) {
  tls_reloads_.Add({{"result", ok ? "success" : "error"}}).Increment();
}

void AdmissionMetrics::SetCertificateExpiry(std::chrono::system_clock::time_point not_after) {
  certificate_expiry_.Set(static_cast<double>(
      std::chrono::duration_cast<std::chrono::seconds>(not_after.time_since_epoch()).count()));
}

PolicyMetrics::PolicyMetrics(prometheus::Registry& registry)
    : policy_reloads_(Counters(registry, "stratum_guard_policy_reloads_total",
                               "Policy file reloads, by result (success, error).")),
      policy_rules_(
          Gauges(registry, "stratum_guard_policy_rules", "Rules in the policy in force.").Add({})) {
  policy_reloads_.Add({{"result", "success"}});
  policy_reloads_.Add({{"result", "error"}});
}

void PolicyMetrics::RecordPolicyReload(bool ok) {
  policy_reloads_.Add({{"result", ok ? "success" : "error"}}).Increment();
}

void PolicyMetrics::SetPolicyRules(std::size_t rules) {
  policy_rules_.Set(static_cast<double>(rules));
}

}  // namespace stratum_guard::server
