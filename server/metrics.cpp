#include "server/metrics.h"

#include <string>

#include "common/build_info.h"
#include "policy/workload.h"

namespace stratum_guard::server {

const prometheus::Histogram::BucketBoundaries& DurationBuckets() {
  static const prometheus::Histogram::BucketBoundaries kBuckets = {
      0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
      0.05,    0.1,    0.25,    0.5,    1,     2.5,    5,     10};
  return kBuckets;
}

ServerMetrics::ServerMetrics(prometheus::Registry& registry)
    : requests_(prometheus::BuildCounter()
                    .Name("stratum_guard_admission_requests_total")
                    .Help("Admission reviews answered, by object kind, operation and decision "
                          "(allowed, denied, warned, error).")
                    .Register(registry)),
      duration_(prometheus::BuildHistogram()
                    .Name("stratum_guard_admission_duration_seconds")
                    .Help("Time from a complete request to its encoded answer, by object kind.")
                    .Register(registry)),
      findings_(prometheus::BuildCounter()
                    .Name("stratum_guard_findings_total")
                    .Help("Policy findings in admission reviews, by rule and action.")
                    .Register(registry)),
      // Registered by the sweeper too (source="sweeper"), with the same help: the registry
      // merges the two into one family.
      exemptions_(prometheus::BuildCounter()
                      .Name("stratum_guard_exemptions_total")
                      .Help("Findings an exemption silenced, by rule and source (admission, "
                            "sweeper).")
                      .Register(registry)),
      policy_reloads_(prometheus::BuildCounter()
                          .Name("stratum_guard_policy_reloads_total")
                          .Help("Policy file reloads, by result (success, error).")
                          .Register(registry)),
      policy_rules_(prometheus::BuildGauge()
                        .Name("stratum_guard_policy_rules")
                        .Help("Rules in the policy in force.")
                        .Register(registry)
                        .Add({})),
      certificate_expiry_(prometheus::BuildGauge()
                              .Name("stratum_guard_tls_certificate_expiry_timestamp_seconds")
                              .Help("notAfter of the serving certificate in force, Unix seconds.")
                              .Register(registry)
                              .Add({})),
      tls_reloads_(prometheus::BuildCounter()
                       .Name("stratum_guard_tls_reloads_total")
                       .Help("Certificate, key and client CA reloads, by result (success, error).")
                       .Register(registry)),
      http_responses_(prometheus::BuildCounter()
                          .Name("stratum_guard_http_responses_total")
                          .Help("HTTP responses, by listener (webhook, metrics) and status code.")
                          .Register(registry)),
      handshake_failures_(prometheus::BuildCounter()
                              .Name("stratum_guard_tls_handshake_failures_total")
                              .Help("TLS handshakes that failed (plain HTTP, bad client "
                                    "certificate, garbage, timeouts).")
                              .Register(registry)
                              .Add({})),
      connections_rejected_(prometheus::BuildCounter()
                                .Name("stratum_guard_connections_rejected_total")
                                .Help("Connections closed at once because --max-connections "
                                      "were open, by listener.")
                                .Register(registry)),
      connections_shed_(prometheus::BuildCounter()
                            .Name("stratum_guard_connections_shed_total")
                            .Help("Connections waiting on their client that were closed to make "
                                  "room for a new one at --max-connections, by listener.")
                            .Register(registry)),
      open_connections_(prometheus::BuildGauge()
                            .Name("stratum_guard_open_connections")
                            .Help("Connections open now, by listener.")
                            .Register(registry)),
      body_budget_refusals_(prometheus::BuildCounter()
                                .Name("stratum_guard_body_budget_refusals_total")
                                .Help("Requests answered 503 because their body would pass "
                                      "--max-inflight-body-bytes, by listener.")
                                .Register(registry)),
      reserved_body_bytes_(prometheus::BuildGauge()
                               .Name("stratum_guard_reserved_body_bytes")
                               .Help("Request body bytes reserved now, over all connections.")
                               .Register(registry)
                               .Add({})) {
  prometheus::BuildGauge()
      .Name("stratum_guard_build_info")
      .Help("Always 1; labels carry the version and commit of the running binary.")
      .Register(registry)
      .Add({{"version", std::string(common::Version())}, {"commit", std::string(common::Commit())}})
      .Set(1);
  // Series that exist from the start, so rate() and alerts see a 0 rather than nothing.
  policy_reloads_.Add({{"result", "success"}});
  policy_reloads_.Add({{"result", "error"}});
  tls_reloads_.Add({{"result", "success"}});
  tls_reloads_.Add({{"result", "error"}});
}

std::string_view ServerMetrics::KindLabel(std::string_view kind) {
  return SlotOf(policy::kPodTemplateKinds, kind) < policy::kPodTemplateKinds.size()
             ? kind
             : std::string_view("other");
}

std::string_view ServerMetrics::OperationLabel(std::string_view operation) {
  return SlotOf(kOperations, operation) < kOperations.size() ? operation
                                                             : std::string_view("other");
}

void ServerMetrics::RecordAdmission(std::string_view kind, std::string_view operation,
                                    Decision decision, std::chrono::nanoseconds duration) {
  const std::size_t kind_slot = SlotOf(policy::kPodTemplateKinds, kind);
  const std::size_t request_slot =
      (kind_slot * kOperationSlots + SlotOf(kOperations, operation)) * kDecisionSlots +
      static_cast<std::size_t>(decision);
  request_series_
      .Get(request_slot,
           [&]() -> prometheus::Counter& {
             return requests_.Add({{"kind", std::string(KindLabel(kind))},
                                   {"operation", std::string(OperationLabel(operation))},
                                   {"decision", std::string(DecisionName(decision))}});
           })
      .Increment();
  duration_series_
      .Get(kind_slot,
           [&]() -> prometheus::Histogram& {
             return duration_.Add({{"kind", std::string(KindLabel(kind))}}, DurationBuckets());
           })
      .Observe(std::chrono::duration<double>(duration).count());
}

void ServerMetrics::RecordFinding(std::string_view rule, std::string_view action) {
  findings_.Add({{"rule", std::string(rule)}, {"action", std::string(action)}}).Increment();
}

void ServerMetrics::RecordExemption(std::string_view rule) {
  exemptions_.Add({{"rule", std::string(rule)}, {"source", "admission"}}).Increment();
}

void ServerMetrics::RecordPolicyReload(bool ok) {
  policy_reloads_.Add({{"result", ok ? "success" : "error"}}).Increment();
}

void ServerMetrics::SetPolicyRules(std::size_t rules) {
  policy_rules_.Set(static_cast<double>(rules));
}

void ServerMetrics::RecordTlsReload(bool ok) {
  tls_reloads_.Add({{"result", ok ? "success" : "error"}}).Increment();
}

void ServerMetrics::SetCertificateExpiry(std::chrono::system_clock::time_point not_after) {
  certificate_expiry_.Set(static_cast<double>(
      std::chrono::duration_cast<std::chrono::seconds>(not_after.time_since_epoch()).count()));
}

void ServerMetrics::RecordHttpResponse(std::string_view listener, unsigned code) {
  auto add = [&]() -> prometheus::Counter& {
    return http_responses_.Add(
        {{"listener", std::string(listener)}, {"code", std::to_string(code)}});
  };
  const std::size_t code_slot = SlotOf(kCachedCodes, code);
  const bool cached_listener = listener == "webhook" || listener == "metrics";
  if (!cached_listener || code_slot == kCachedCodes.size()) return add().Increment();
  response_series_.Get((listener == "webhook" ? 0 : kCodeSlots) + code_slot, add).Increment();
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

void ServerMetrics::AddReservedBodyBytes(double delta) { reserved_body_bytes_.Increment(delta); }

}  // namespace stratum_guard::server
