#pragma once

#include <atomic>
#include <boost/asio/thread_pool.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>

#include "policy/policy_store.h"
#include "registry/credentials.h"
#include "registry/inspector.h"
#include "registry/workload_images.h"
#include "server/admission_review.h"
#include "server/http.h"
#include "server/json.h"
#include "server/metrics.h"

namespace stratum_guard::server {

// Looking inside images on the admission path: `serve --inspect-images` (docs/OPERATIONS.md,
// "Image inspection").
struct ImageInspection {
  registry::ImageInspector* inspector = nullptr;  // null: off
  registry::CredentialStore* credentials = nullptr;
  // --image-deadline: the most a review waits for the image configs the cache misses. Past it,
  // the review is judged on its pod spec alone, and the fetches go on for the next review and
  // the sweeper. Well under the webhook's timeoutSeconds (5 s in the manifests).
  std::chrono::milliseconds deadline{1'000};
  // Reviews that wait at once, each on a thread of its own; a review that finds them all busy
  // is judged at once on what the cache holds (counted as outcome "deadline").
  int max_waiting = 32;
};

// The routes of the TLS port: POST /validate, GET /healthz, GET /readyz. Turns HTTP into an
// AdmissionRequest and a Judgement back into HTTP; counts every decision and logs the audit
// trail (denials, warnings, exemptions; a clean allowed review only at debug).
// Thread-safe: takes one policy snapshot per request and keeps it for the whole evaluation.
//
// With image inspection on, a review whose images are all in the cache is judged at once on the
// connection's loop; one that misses waits on a thread of its own (HandleOrDefer), so a slow
// registry never holds up the other connections of the loop.
class WebhookHandler : public HttpHandler {
 public:
  WebhookHandler(policy::PolicyStore& policies, AdmissionMetrics& metrics, JudgeOptions options,
                 std::function<bool()> ready, int max_json_depth = kDefaultMaxJsonDepth,
                 ImageInspection images = {});
  ~WebhookHandler() override;  // Stop()s
  HttpResponse Handle(HttpRequest& request) override;
  std::optional<HttpResponse> HandleOrDefer(HttpRequest& request, const Finish& finish) override;
  // Waits for the reviews still waiting on a registry, and answers them: called once the
  // server's loops have stopped, before they are destroyed. Idempotent.
  void Stop();

 private:
  struct Review;
  // Parses and decodes the body and takes the policy snapshot: an answer when that fails.
  std::optional<HttpResponse> Decode(Review& review);
  // Judges the decoded review, looking inside its images for at most `wait` (nullopt: not at
  // all) and telling in `seen` how each container's image went.
  Judgement JudgeReview(Review& review, std::optional<std::chrono::milliseconds> wait,
                        registry::WorkloadInspection* seen);
  // Counts and logs each container's outcome; `missed_first` marks the containers a first look
  // without waiting missed, so that a wait that found them is counted as a fetch.
  void CountInspections(const Review& review, const Judgement& judgement,
                        const registry::WorkloadInspection& seen,
                        const std::vector<bool>& missed_first);
  HttpResponse Answer(Review& review, const Judgement& judgement);

  policy::PolicyStore& policies_;
  AdmissionMetrics& metrics_;
  const JudgeOptions options_;
  const std::function<bool()> ready_;
  const int max_json_depth_;
  const ImageInspection images_;
  std::atomic<int> waiting_{0};
  std::unique_ptr<boost::asio::thread_pool> waiters_;  // null with inspection off
};

// The routes of the plain metrics port: GET /metrics (Prometheus text format) and GET /healthz.
class MetricsHandler : public HttpHandler {
 public:
  // `collectables` are scraped in order; they must outlive the handler.
  explicit MetricsHandler(std::vector<const prometheus::Collectable*> collectables);
  HttpResponse Handle(HttpRequest& request) override;

 private:
  std::vector<const prometheus::Collectable*> collectables_;
};

}  // namespace stratum_guard::server
