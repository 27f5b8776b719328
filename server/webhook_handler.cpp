#include "server/webhook_handler.h"

#include <prometheus/text_serializer.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <chrono>
#include <sstream>

#include "common/log.h"
#include "registry/workload_images.h"

namespace stratum_guard::server {

namespace http = boost::beast::http;
using common::Log;
using common::LogLevel;

namespace {

HttpResponse Text(http::status status, std::string body, unsigned version) {
  return BodyResponse(status, std::move(body), "text/plain; charset=utf-8", version);
}

HttpResponse MethodNotAllowed(std::string_view allow, unsigned version) {
  HttpResponse response = ProblemResponse(Problem::kMethodNotAllowed,
                                          "method not allowed; use " + std::string(allow), version);
  response.set(http::field::allow, allow);
  return response;
}

bool IsGet(const HttpRequest& request) { return request.method() == http::verb::get; }

std::string JoinRules(const std::vector<policy::Finding>& findings) {
  std::string out;
  for (const policy::Finding& f : findings) {
    if (!out.empty()) out += ',';
    out += f.rule_id;
  }
  return out;
}

}  // namespace

// One /validate request on its way: the body, the document parsed in place in it, and what was
// decoded from the document (views into it). Kept whole, on the heap, while a review waits on
// a registry.
struct WebhookHandler::Review {
  explicit Review(HttpRequest&& r) : request(std::move(r)) {}
  HttpRequest request;
  std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
  rapidjson::Document document;
  AdmissionRequest admission;
  std::string_view kind;  // what is counted: the request's kind until the judged one is known
  std::shared_ptr<const policy::Policy> policy;
  std::chrono::steady_clock::duration elapsed() const {
    return std::chrono::steady_clock::now() - start;
  }
};

WebhookHandler::WebhookHandler(policy::PolicyStore& policies, AdmissionMetrics& metrics,
                               JudgeOptions options, std::function<bool()> ready,
                               int max_json_depth, ImageInspection images)
    : policies_(policies),
      metrics_(metrics),
      options_(std::move(options)),
      ready_(std::move(ready)),
      max_json_depth_(max_json_depth),
      images_(images) {
  if (images_.inspector != nullptr) {
    waiters_ = std::make_unique<boost::asio::thread_pool>(std::max(1, images_.max_waiting));
  }
}

WebhookHandler::~WebhookHandler() { Stop(); }

void WebhookHandler::Stop() {
  if (waiters_) waiters_->join();
}

HttpResponse WebhookHandler::Handle(HttpRequest& request) {
  const unsigned version = request.version();
  std::string_view path = TargetPath(request.target());
  if (path == "/validate") {
    if (request.method() != http::verb::post) return MethodNotAllowed("POST", version);
    Review review(std::move(request));
    if (std::optional<HttpResponse> refused = Decode(review)) return std::move(*refused);
    std::optional<std::chrono::milliseconds> wait;
    if (images_.inspector != nullptr) wait = images_.deadline;
    registry::WorkloadInspection seen;
    Judgement judgement = JudgeReview(review, wait, &seen);
    CountInspections(review, judgement, seen, {});
    return Answer(review, judgement);
  }
  if (path == "/healthz") {
    if (!IsGet(request)) return MethodNotAllowed("GET", version);
    return Text(http::status::ok, "ok\n", version);
  }
  if (path == "/readyz") {
    if (!IsGet(request)) return MethodNotAllowed("GET", version);
    if (!ready_() || policies_.Get() == nullptr) {
      return ProblemResponse(Problem::kNotReady, "not ready", version);
    }
    return Text(http::status::ok, "ok\n", version);
  }
  return ProblemResponse(Problem::kNotFound, "no such path; the webhook is at /validate", version);
}

std::optional<HttpResponse> WebhookHandler::HandleOrDefer(HttpRequest& request,
                                                          const Finish& finish) {
  if (waiters_ == nullptr || request.method() != http::verb::post ||
      TargetPath(request.target()) != "/validate") {
    return Handle(request);
  }
  auto review = std::make_shared<Review>(std::move(request));
  if (std::optional<HttpResponse> refused = Decode(*review)) return refused;
  // First without waiting: a review whose images are all cached is answered on the loop.
  registry::WorkloadInspection first;
  Judgement judgement = JudgeReview(*review, std::chrono::milliseconds(0), &first);
  std::vector<bool> missed;
  for (const registry::ContainerInspection& c : first.containers) {
    missed.push_back(c.inspection.outcome == registry::Outcome::kDeadline);
  }
  bool any_missed = std::find(missed.begin(), missed.end(), true) != missed.end();
  // With every waiting thread taken, judged on what the cache holds, as past a deadline.
  if (any_missed && waiting_.fetch_add(1) >= images_.max_waiting) {
    waiting_.fetch_sub(1);
    any_missed = false;
  }
  if (!any_missed) {
    CountInspections(*review, judgement, first, {});
    return Answer(*review, judgement);
  }
  boost::asio::post(*waiters_, [this, review, finish, missed = std::move(missed)] {
    HttpResponse response;
    try {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(images_.deadline -
                                                                        review->elapsed());
      // Judged again from the start: the first look queued the fetches this one waits for.
      registry::WorkloadInspection seen;
      Judgement judgement =
          JudgeReview(*review, std::max(left, std::chrono::milliseconds(0)), &seen);
      CountInspections(*review, judgement, seen, missed);
      response = Answer(*review, judgement);
    } catch (const std::exception& e) {
      Log(LogLevel::kError, "internal error", {{"listener", "webhook"}, {"error", e.what()}});
      response = ProblemResponse(Problem::kInternal, "internal error", review->request.version());
    }
    waiting_.fetch_sub(1);
    finish(std::move(response));
  });
  return std::nullopt;
}

std::optional<HttpResponse> WebhookHandler::Decode(Review& r) {
  const unsigned version = r.request.version();
  auto it = r.request.find(http::field::content_type);
  if (it == r.request.end() || !IsJsonContentType(it->value())) {
    metrics_.RecordAdmission("", "", Decision::kError, r.elapsed());
    return ProblemResponse(Problem::kUnsupportedMediaType, "Content-Type must be application/json",
                           version);
  }
  if (std::string error = ParseJsonInPlace(r.request.body(), r.document, max_json_depth_);
      !error.empty()) {
    metrics_.RecordAdmission("", "", Decision::kError, r.elapsed());
    Log(LogLevel::kWarn, "bad admission request", {{"error", error}});
    return ProblemResponse(Problem::kMalformedJson, error, version);
  }
  if (std::string error = DecodeAdmissionReview(r.document, &r.admission); !error.empty()) {
    metrics_.RecordAdmission("", "", Decision::kError, r.elapsed());
    Log(LogLevel::kWarn, "bad admission request", {{"error", error}});
    return ProblemResponse(Problem::kNotAdmissionReview, error, version);
  }
  r.kind = r.admission.kind.kind.empty() ? r.admission.request_kind.kind : r.admission.kind.kind;
  r.policy = policies_.Get();
  if (r.policy == nullptr) {
    metrics_.RecordAdmission(r.kind, r.admission.operation, Decision::kError, r.elapsed());
    return ProblemResponse(Problem::kNotReady, "no policy loaded", version);
  }
  return std::nullopt;
}

Judgement WebhookHandler::JudgeReview(Review& r, std::optional<std::chrono::milliseconds> wait,
                                      registry::WorkloadInspection* seen) {
  if (!wait) return Judge(r.admission, *r.policy, options_);
  return Judge(r.admission, *r.policy, options_, [&](policy::Workload& workload) {
    *seen = registry::InspectWorkload(workload, *images_.inspector, *images_.credentials, *wait);
  });
}

void WebhookHandler::CountInspections(const Review& r, const Judgement& judgement,
                                      const registry::WorkloadInspection& seen,
                                      const std::vector<bool>& missed_first) {
  for (std::size_t i = 0; i < seen.containers.size(); ++i) {
    const registry::ContainerInspection& c = seen.containers[i];
    registry::Outcome outcome = c.inspection.outcome;
    // A miss of the first look that the wait found in the cache was fetched for this review.
    if (outcome == registry::Outcome::kHit && i < missed_first.size() && missed_first[i]) {
      outcome = registry::Outcome::kFetched;
    }
    metrics_.RecordImageInspection(outcome);
    if (outcome != registry::Outcome::kDeadline && outcome != registry::Outcome::kError) continue;
    // The container is judged on its pod spec alone; this says why, for whoever wonders.
    Log(LogLevel::kInfo, "admission: image not inspected",
        {{"uid", r.admission.uid},
         {"namespace", judgement.namespace_},
         {"name", judgement.name},
         {"image", c.image},
         {"outcome", registry::OutcomeName(outcome)},
         {"error", c.error}});
  }
}

HttpResponse WebhookHandler::Answer(Review& r, const Judgement& judgement) {
  const unsigned version = r.request.version();
  const AdmissionRequest& review = r.admission;
  std::string_view kind = r.kind;
  if (judgement.decision == Decision::kError) {
    // Not a verdict: the API server's failurePolicy decides, as the admin chose.
    metrics_.RecordAdmission(kind, review.operation, Decision::kError, r.elapsed());
    Log(LogLevel::kError, "policy evaluation failed",
        {{"uid", review.uid},
         {"kind", kind},
         {"namespace", judgement.namespace_},
         {"name", judgement.name},
         {"user", review.user},
         {"error", judgement.error}});
    return ProblemResponse(Problem::kInternal, "policy evaluation failed", version);
  }
  std::string body = EncodeAdmissionResponse(review, judgement);

  const auto duration = r.elapsed();
  if (!judgement.judged_kind.empty()) kind = judgement.judged_kind;
  metrics_.RecordAdmission(kind, review.operation, judgement.decision, duration);
  for (const policy::Finding& f : judgement.findings) {
    metrics_.RecordFinding(f.rule_id, policy::ActionName(f.action));
  }
  for (const policy::Finding& f : judgement.exempted) {
    metrics_.RecordExemption(f.rule_id);
    Log(LogLevel::kInfo, "admission: finding exempted",
        {{"uid", review.uid},
         {"namespace", judgement.namespace_},
         {"name", judgement.name},
         {"rule", f.rule_id},
         {"container", f.container},
         {"field", f.field},
         {"exemption", policy::ExemptedByName(f.exempted_by)}});
  }
  // The audit trail is every denial, warning, audited finding and exemption. A clean allowed
  // review, nearly every request of a healthy cluster, is logged at debug, as Gatekeeper logs
  // denials only: at info it cost a formatted line and a share of a write(2) per admission.
  const bool clean = judgement.decision == Decision::kAllowed && judgement.findings.empty() &&
                     judgement.exempted.empty();
  const LogLevel level = clean ? LogLevel::kDebug : LogLevel::kInfo;
  // Checked first: the fields (the joined rule lists) would be built even for a dropped line.
  if (common::LogEnabled(level)) {
    const std::int64_t duration_us =
        std::chrono::duration_cast<std::chrono::microseconds>(duration).count();
    Log(level, "admission",
        {{"uid", review.uid},
         {"kind", kind},
         {"namespace", judgement.namespace_},
         {"name", judgement.name},
         {"operation", review.operation},
         {"user", review.user},
         {"dry_run", review.dry_run},
         {"decision", DecisionName(judgement.decision)},
         {"enforcement", policy::EnforcementName(judgement.enforcement)},
         {"rules", JoinRules(judgement.findings)},
         {"exempted_rules", JoinRules(judgement.exempted)},
         {"duration_us", duration_us}});
  }
  return BodyResponse(http::status::ok, std::move(body), "application/json", version);
}

MetricsHandler::MetricsHandler(std::vector<const prometheus::Collectable*> collectables)
    : collectables_(std::move(collectables)) {}

HttpResponse MetricsHandler::Handle(HttpRequest& request) {
  const unsigned version = request.version();
  std::string_view path = TargetPath(request.target());
  if (path == "/healthz") {
    if (!IsGet(request)) return MethodNotAllowed("GET", version);
    return Text(http::status::ok, "ok\n", version);
  }
  if (path != "/metrics") {
    return ProblemResponse(Problem::kNotFound, "no such path; metrics are at /metrics", version);
  }
  if (!IsGet(request)) return MethodNotAllowed("GET", version);
  std::vector<prometheus::MetricFamily> families;
  for (const prometheus::Collectable* c : collectables_) {
    std::vector<prometheus::MetricFamily> more = c->Collect();
    families.insert(families.end(), std::make_move_iterator(more.begin()),
                    std::make_move_iterator(more.end()));
  }
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, families);
  return BodyResponse(http::status::ok, std::move(out).str(), "text/plain; version=0.0.4", version);
}

}  // namespace stratum_guard::server
