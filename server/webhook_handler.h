#pragma once

#include <atomic>
#include <functional>

#include "policy/policy_store.h"
#include "server/admission_review.h"
#include "server/http.h"
#include "server/json.h"
#include "server/metrics.h"

namespace stratum_guard::server {

// The routes of the TLS port: POST /validate, GET /healthz, GET /readyz. Turns HTTP into an
// AdmissionRequest and a Judgement back into HTTP; logs one line per decision and counts it.
// Thread-safe: takes one policy snapshot per request and keeps it for the whole evaluation.
class WebhookHandler : public HttpHandler {
 public:
  WebhookHandler(policy::PolicyStore& policies, AdmissionMetrics& metrics, JudgeOptions options,
                 std::function<bool()> ready, int max_json_depth = kDefaultMaxJsonDepth);
  HttpResponse Handle(HttpRequest& request) override;

 private:
  HttpResponse Validate(HttpRequest& request);

  policy::PolicyStore& policies_;
  AdmissionMetrics& metrics_;
  const JudgeOptions options_;
  const std::function<bool()> ready_;
  const int max_json_depth_;
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
