#include "server/webhook_handler.h"

#include <prometheus/text_serializer.h>

#include <chrono>
#include <sstream>

#include "common/log.h"

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

WebhookHandler::WebhookHandler(policy::PolicyStore& policies, AdmissionMetrics& metrics,
                               JudgeOptions options, std::function<bool()> ready,
                               int max_json_depth)
    : policies_(policies),
      metrics_(metrics),
      options_(std::move(options)),
      ready_(std::move(ready)),
      max_json_depth_(max_json_depth) {}

HttpResponse WebhookHandler::Handle(HttpRequest& request) {
  const unsigned version = request.version();
  std::string_view path = TargetPath(request.target());
  if (path == "/validate") {
    if (request.method() != http::verb::post) return MethodNotAllowed("POST", version);
    return Validate(request);
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

HttpResponse WebhookHandler::Validate(HttpRequest& request) {
  const auto start = std::chrono::steady_clock::now();
  const unsigned version = request.version();
  auto elapsed = [&start] { return std::chrono::steady_clock::now() - start; };

  auto it = request.find(http::field::content_type);
  if (it == request.end() || !IsJsonContentType(it->value())) {
    metrics_.RecordAdmission("", "", Decision::kError, elapsed());
    return ProblemResponse(Problem::kUnsupportedMediaType, "Content-Type must be application/json",
                           version);
  }
  rapidjson::Document document;
  if (std::string error = ParseJsonInPlace(request.body(), document, max_json_depth_);
      !error.empty()) {
    metrics_.RecordAdmission("", "", Decision::kError, elapsed());
    Log(LogLevel::kWarn, "bad admission request", {{"error", error}});
    return ProblemResponse(Problem::kMalformedJson, error, version);
  }
  AdmissionRequest review;
  if (std::string error = DecodeAdmissionReview(document, &review); !error.empty()) {
    metrics_.RecordAdmission("", "", Decision::kError, elapsed());
    Log(LogLevel::kWarn, "bad admission request", {{"error", error}});
    return ProblemResponse(Problem::kNotAdmissionReview, error, version);
  }

  std::string_view kind = review.kind.kind.empty() ? review.request_kind.kind : review.kind.kind;
  std::shared_ptr<const policy::Policy> policy = policies_.Get();
  if (policy == nullptr) {
    metrics_.RecordAdmission(kind, review.operation, Decision::kError, elapsed());
    return ProblemResponse(Problem::kNotReady, "no policy loaded", version);
  }
  Judgement judgement = Judge(review, *policy, options_);
  if (judgement.decision == Decision::kError) {
    // Not a verdict: the API server's failurePolicy decides, as the admin chose.
    metrics_.RecordAdmission(kind, review.operation, Decision::kError, elapsed());
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

  const auto duration = elapsed();
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
  const std::int64_t duration_us =
      std::chrono::duration_cast<std::chrono::microseconds>(duration).count();
  Log(LogLevel::kInfo, "admission",
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
