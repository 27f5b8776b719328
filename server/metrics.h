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

#include "policy/workload.h"
#include "server/admission_review.h"

namespace stratum_guard::server {

// The server's metrics, registered once in a shared registry (the sweeper registers its own in
// the same one). Names and labels are an interface: dashboards and alerts depend on them; see
// docs/OPERATIONS.md. Thread-safe (prometheus-cpp metrics are atomics behind a family lock).
//
// Label values that come from requests are bounded: kind is one of the pod-template kinds or
// "other", operation one of CREATE/UPDATE/DELETE/CONNECT or "other", so a client cannot grow
// the registry without bound.
class ServerMetrics {
 public:
  explicit ServerMetrics(prometheus::Registry& registry);
  ServerMetrics(const ServerMetrics&) = delete;  // holds references into the registry
  ServerMetrics& operator=(const ServerMetrics&) = delete;

  void RecordAdmission(std::string_view kind, std::string_view operation, Decision decision,
                       std::chrono::nanoseconds duration);
  void RecordFinding(std::string_view rule, std::string_view action);
  // A finding an exemption silenced (stratum_guard_exemptions_total{rule, source="admission"}).
  void RecordExemption(std::string_view rule);
  void RecordPolicyReload(bool ok);
  void SetPolicyRules(std::size_t rules);
  void RecordTlsReload(bool ok);
  void SetCertificateExpiry(std::chrono::system_clock::time_point not_after);
  void RecordHttpResponse(std::string_view listener, unsigned code);
  void RecordTlsHandshakeFailure();
  void RecordConnectionRejected(std::string_view listener);
  // An open connection closed to make room for a new one at --max-connections.
  void RecordConnectionShed(std::string_view listener);
  void AddOpenConnections(std::string_view listener, double delta);
  // A request refused because its body would pass --max-inflight-body-bytes.
  void RecordBodyBudgetRefusal(std::string_view listener);
  void AddReservedBodyBytes(double delta);

  static std::string_view KindLabel(std::string_view kind);
  static std::string_view OperationLabel(std::string_view operation);

 private:
  // Series looked up once and then kept: prometheus-cpp's Family::Add builds a label map,
  // hashes it and takes the family lock on each call, which a profile put at 9k instructions
  // per admission. Add returns the same series for the same labels and series are never
  // removed, so a slot filled twice by racing threads holds the same pointer.
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
  // The label values a series is cached for; anything else is "other" (kinds, operations) or
  // looked up each time (codes). Each slot count is its list's length, plus one for "other".
  static constexpr std::array<std::string_view, 4> kOperations = {"CREATE", "UPDATE", "DELETE",
                                                                  "CONNECT"};
  static constexpr std::array<unsigned, 8> kCachedCodes = {200, 400, 404, 405, 413, 415, 500, 503};
  static constexpr std::size_t kKindSlots = policy::kPodTemplateKinds.size() + 1;
  static constexpr std::size_t kOperationSlots = kOperations.size() + 1;
  static constexpr std::size_t kDecisionSlots = static_cast<std::size_t>(Decision::kError) + 1;
  static constexpr std::size_t kCodeSlots = kCachedCodes.size();
  // Position of `value` in `list`, or list.size() when it is not there.
  template <class T, std::size_t N, class V>
  static constexpr std::size_t SlotOf(const std::array<T, N>& list, const V& value) {
    std::size_t i = 0;
    while (i < N && list[i] != value) ++i;
    return i;
  }

  prometheus::Family<prometheus::Counter>& requests_;
  prometheus::Family<prometheus::Histogram>& duration_;
  prometheus::Family<prometheus::Counter>& findings_;
  prometheus::Family<prometheus::Counter>& exemptions_;
  prometheus::Family<prometheus::Counter>& policy_reloads_;
  prometheus::Gauge& policy_rules_;
  prometheus::Gauge& certificate_expiry_;
  prometheus::Family<prometheus::Counter>& tls_reloads_;
  prometheus::Family<prometheus::Counter>& http_responses_;
  prometheus::Counter& handshake_failures_;
  prometheus::Family<prometheus::Counter>& connections_rejected_;
  prometheus::Family<prometheus::Counter>& connections_shed_;
  prometheus::Family<prometheus::Gauge>& open_connections_;
  prometheus::Family<prometheus::Counter>& body_budget_refusals_;
  prometheus::Gauge& reserved_body_bytes_;
  SeriesCache<prometheus::Counter, kKindSlots * kOperationSlots * kDecisionSlots> request_series_;
  SeriesCache<prometheus::Histogram, kKindSlots> duration_series_;
  SeriesCache<prometheus::Counter, 2 * kCodeSlots> response_series_;
};

// Buckets of stratum_guard_admission_duration_seconds: from 50us (a small Pod judged) to 10s
// (the API server's default webhook timeout), dense below a millisecond.
const prometheus::Histogram::BucketBoundaries& DurationBuckets();

}  // namespace stratum_guard::server
