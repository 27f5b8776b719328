#pragma once

#include <boost/beast/http.hpp>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace stratum_guard::server {

using HttpRequest = boost::beast::http::request<boost::beast::http::string_body>;
using HttpResponse = boost::beast::http::response<boost::beast::http::string_body>;

// Everything that can go wrong with a request before the policy is asked, plus the two
// server-side failures. StatusOf() is the one place that maps them to HTTP status codes.
enum class Problem {
  kMalformedJson,         // body is not JSON, or nests too deep
  kNotAdmissionReview,    // JSON, but not an AdmissionReview we can answer
  kBadHttp,               // the HTTP message itself does not parse
  kNotFound,              // unknown path
  kMethodNotAllowed,      // known path, wrong method
  kUnsupportedMediaType,  // POST without Content-Type: application/json
  kBodyTooLarge,          // over --max-body-bytes
  kNotReady,              // /readyz before start or while draining
  kOverloaded,            // over --max-inflight-body-bytes: try again shortly
  kInternal,              // a bug: the webhook's failurePolicy decides
};

boost::beast::http::status StatusOf(Problem problem);

// {"error":"<detail>"} with the status for `problem`. `version` is the request's HTTP version.
HttpResponse ProblemResponse(Problem problem, std::string_view detail, unsigned version);

// A 200 (or `status`) response with `body` and `content_type`.
HttpResponse BodyResponse(boost::beast::http::status status, std::string body,
                          std::string_view content_type, unsigned version);

// The request target's path, without the query (the API server appends ?timeout=10s).
std::string_view TargetPath(std::string_view target);

// Whether the Content-Type names application/json (parameters such as charset allowed).
bool IsJsonContentType(std::string_view content_type);

// What a session hands each complete request to. Implementations are shared by all sessions
// of a listener and called concurrently from worker threads: they must be thread-safe. They
// should not throw; the session turns an exception into a 500 anyway.
class HttpHandler {
 public:
  // Answers a request from another thread, whenever it is ready.
  using Finish = std::function<void(HttpResponse)>;

  virtual ~HttpHandler() = default;
  virtual HttpResponse Handle(HttpRequest& request) = 0;
  // For a handler that must sometimes wait (the webhook reading an image's config from a
  // registry): it answers at once, or takes the request, returns nullopt and calls `finish`
  // exactly once later, from any thread, so that the waiting never holds up the connection's
  // loop. `finish` must not be called after the server has stopped. The default answers at once.
  virtual std::optional<HttpResponse> HandleOrDefer(HttpRequest& request, const Finish& finish) {
    (void)finish;
    return Handle(request);
  }
};

}  // namespace stratum_guard::server
