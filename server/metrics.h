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
  void RecordPolicyReload(bool ok);
  void SetPolicyRules(std::size_t rules);
  void RecordTlsReload(bool ok);
  void SetCertificateExpiry(std::chrono::system_clock::time_point not_after);
  void RecordHttpResponse(std::string_view listener, unsigned code);
  void RecordTlsHandshakeFailure();
  void RecordConnectionRejected(std::string_view listener);
  void AddOpenConnections(std::string_view listener, double delta);

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
  // Kinds: the pod-template kinds and "other"; operations: 4 and "other"; 4 decisions.
  static constexpr std::size_t kKindSlots = 16;
  static constexpr std::size_t kOperationSlots = 5;
  static constexpr std::size_t kDecisionSlots = 4;
  // Listeners: webhook, metrics; the status codes the server sends (http.h).
  static constexpr std::size_t kCodeSlots = 16;

  prometheus::Family<prometheus::Counter>& requests_;
  prometheus::Family<prometheus::Histogram>& duration_;
  prometheus::Family<prometheus::Counter>& findings_;
  prometheus::Family<prometheus::Counter>& policy_reloads_;
  prometheus::Gauge& policy_rules_;
  prometheus::Gauge& certificate_expiry_;
  prometheus::Family<prometheus::Counter>& tls_reloads_;
  prometheus::Family<prometheus::Counter>& http_responses_;
  prometheus::Counter& handshake_failures_;
  prometheus::Family<prometheus::Counter>& connections_rejected_;
  prometheus::Family<prometheus::Gauge>& open_connections_;
  SeriesCache<prometheus::Counter, kKindSlots * kOperationSlots * kDecisionSlots> request_series_;
  SeriesCache<prometheus::Histogram, kKindSlots> duration_series_;
  SeriesCache<prometheus::Counter, 2 * kCodeSlots> response_series_;
};

// Buckets of stratum_guard_admission_duration_seconds: from 50us (a small Pod judged) to 10s
// (the API server's default webhook timeout), dense below a millisecond.
const prometheus::Histogram::BucketBoundaries& DurationBuckets();

}  // namespace stratum_guard::server
