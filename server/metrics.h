#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <string_view>
#include <vector>

#include "policy/policy.h"
#include "policy/workload.h"
#include "registry/inspector.h"
#include "server/admission_review.h"

namespace stratum_guard::server {

// Series looked up once and then kept: prometheus-cpp's Family::Add builds a label map, hashes
// it and takes the family lock on each call, which a profile put at 9k instructions per
// admission. Add returns the same series for the same labels and series are never removed, so a
// slot filled twice by racing threads holds the same pointer.
template <class Metric, std::size_t N>
class SeriesCache {
 public:
  template <class Make>
  Metric& Get(std::size_t slot, Make make) {
    Metric* metric = slots_[slot].load(std::memory_order_acquire);
    if (metric == nullptr) {
      metric = &make();
      slots_[slot].store(metric, std::memory_order_release);
    }
    return *metric;
  }

 private:
  std::array<std::atomic<Metric*>, N> slots_{};
};

// Position of `value` in `list`, or list.size() when it is not there.
template <class T, std::size_t N, class V>
constexpr std::size_t SlotOf(const std::array<T, N>& list, const V& value) {
  std::size_t i = 0;
  while (i < N && list[i] != value) ++i;
  return i;
}

// The metrics of a listener (webhook or metrics): HTTP responses, TLS handshakes, connections,
// and the build. Each Server and MetricsServer makes one for its listeners in the process's
// registry, where families of the same name merge. Names and labels are an interface:
// dashboards and alerts depend on them; see docs/OPERATIONS.md. Thread-safe (prometheus-cpp
// metrics are atomics behind a family lock).
class ServerMetrics {
 public:
  // Creates the series of `listeners` at zero, so an alert on increase() sees the first event.
  ServerMetrics(prometheus::Registry& registry, std::vector<std::string_view> listeners);
  ServerMetrics(const ServerMetrics&) = delete;  // holds references into the registry
  ServerMetrics& operator=(const ServerMetrics&) = delete;

  void RecordHttpResponse(std::string_view listener, unsigned code);
  void RecordTlsHandshakeFailure();
  void RecordConnectionRejected(std::string_view listener);
  // An open connection closed to make room for a new one at --max-connections.
  void RecordConnectionShed(std::string_view listener);
  void AddOpenConnections(std::string_view listener, double delta);
  // A request refused because its body would pass --max-inflight-body-bytes.
  void RecordBodyBudgetRefusal(std::string_view listener);
  void AddReservedBodyBytes(double delta);
  // A request cut because its body came too slowly (SessionLimits::min_body_rate).
  void RecordSlowBody(std::string_view listener);

 private:
  prometheus::Counter& Response(std::string_view listener, unsigned code);

  // Responses by code are cached for these codes on the webhook and metrics listeners.
  static constexpr std::array<unsigned, 8> kCachedCodes = {200, 400, 404, 405, 413, 415, 500, 503};
  static constexpr std::size_t kCodeSlots = kCachedCodes.size();

  prometheus::Family<prometheus::Counter>& http_responses_;
  prometheus::Counter& handshake_failures_;
  prometheus::Family<prometheus::Counter>& connections_rejected_;
  prometheus::Family<prometheus::Counter>& connections_shed_;
  prometheus::Family<prometheus::Gauge>& open_connections_;
  prometheus::Family<prometheus::Counter>& body_budget_refusals_;
  prometheus::Gauge& reserved_body_bytes_;
  prometheus::Family<prometheus::Counter>& slow_bodies_;
  SeriesCache<prometheus::Counter, 2 * kCodeSlots> response_series_;
};

// What the webhook decides: reviews, their latency, findings and exemptions, and the serving
// certificate. Label values that come from requests are bounded: kind is one of the
// pod-template kinds or "other", operation one of CREATE/UPDATE/DELETE/CONNECT or "other", so a
// client cannot grow the registry without bound. Thread-safe.
class AdmissionMetrics {
 public:
  // Creates the series of every kind, CREATE and UPDATE, and decision at zero.
  explicit AdmissionMetrics(prometheus::Registry& registry);
  AdmissionMetrics(const AdmissionMetrics&) = delete;  // holds references into the registry
  AdmissionMetrics& operator=(const AdmissionMetrics&) = delete;

  void RecordAdmission(std::string_view kind, std::string_view operation, Decision decision,
                       std::chrono::nanoseconds duration);
  void RecordFinding(std::string_view rule, std::string_view action);
  // A finding an exemption silenced (stratum_guard_exemptions_total{rule, source="admission"}).
  void RecordExemption(std::string_view rule);
  // Creates the finding and exemption series of `policy`'s rules at zero: called for each
  // policy loaded (PolicyStore::Subscribe).
  void AddRuleSeries(const policy::Policy& policy);
  // A container's image looked inside on the admission path
  // (stratum_guard_image_inspections_total{source="admission", outcome}).
  void RecordImageInspection(registry::Outcome outcome);
  void RecordTlsReload(bool ok);
  void SetCertificateExpiry(std::chrono::system_clock::time_point not_after);

  static std::string_view KindLabel(std::string_view kind);
  static std::string_view OperationLabel(std::string_view operation);

 private:
  // The label values a series is cached for; anything else is "other". Each slot count is its
  // list's length, plus one for "other".
  static constexpr std::array<std::string_view, 4> kOperations = {"CREATE", "UPDATE", "DELETE",
                                                                  "CONNECT"};
  static constexpr std::size_t kKindSlots = policy::kPodTemplateKinds.size() + 1;
  static constexpr std::size_t kOperationSlots = kOperations.size() + 1;
  static constexpr std::size_t kDecisionSlots = static_cast<std::size_t>(Decision::kError) + 1;

  prometheus::Counter& Requests(std::size_t kind_slot, std::size_t operation_slot,
                                Decision decision);
  prometheus::Histogram& Duration(std::size_t kind_slot);

  prometheus::Family<prometheus::Counter>& requests_;
  prometheus::Family<prometheus::Histogram>& duration_;
  prometheus::Family<prometheus::Counter>& findings_;
  prometheus::Family<prometheus::Counter>& exemptions_;
  prometheus::Gauge& certificate_expiry_;
  prometheus::Family<prometheus::Counter>& tls_reloads_;
  std::array<prometheus::Counter*, 4> image_inspections_{};  // by registry::Outcome
  SeriesCache<prometheus::Counter, kKindSlots * kOperationSlots * kDecisionSlots> request_series_;
  SeriesCache<prometheus::Histogram, kKindSlots> duration_series_;
};

// The policy file's reloads and the rules in force, for `serve` and `sweep` alike.
class PolicyMetrics {
 public:
  explicit PolicyMetrics(prometheus::Registry& registry);
  PolicyMetrics(const PolicyMetrics&) = delete;  // holds references into the registry
  PolicyMetrics& operator=(const PolicyMetrics&) = delete;

  void RecordPolicyReload(bool ok);
  void SetPolicyRules(std::size_t rules);

 private:
  prometheus::Family<prometheus::Counter>& policy_reloads_;
  prometheus::Gauge& policy_rules_;
};

// Buckets of stratum_guard_admission_duration_seconds: from 5us (a small Pod judged on a fast
// core) to 30s (the longest webhook timeout the API server allows), about three a decade, so
// that p50, p90 and p99 of a webhook answering in tens of microseconds can be read.
const prometheus::Histogram::BucketBoundaries& DurationBuckets();

}  // namespace stratum_guard::server
