#include "server/http.h"

#include <algorithm>
#include <cctype>

#include "common/log.h"

namespace stratum_guard::server {

namespace http = boost::beast::http;

http::status StatusOf(Problem problem) {
  switch (problem) {
    case Problem::kMalformedJson:
    case Problem::kNotAdmissionReview:
    case Problem::kBadHttp:
      return http::status::bad_request;
    case Problem::kNotFound:
      return http::status::not_found;
    case Problem::kMethodNotAllowed:
      return http::status::method_not_allowed;
    case Problem::kUnsupportedMediaType:
      return http::status::unsupported_media_type;
    case Problem::kBodyTooLarge:
      return http::status::payload_too_large;
    case Problem::kNotReady:
    case Problem::kOverloaded:
      return http::status::service_unavailable;
    case Problem::kInternal:
      return http::status::internal_server_error;
  }
  return http::status::internal_server_error;
}

HttpResponse ProblemResponse(Problem problem, std::string_view detail, unsigned version) {
  std::string body = "{\"error\":";
  common::AppendJsonString(body, detail);
  body += "}\n";
  HttpResponse response =
      BodyResponse(StatusOf(problem), std::move(body), "application/json", version);
  // Overload passes within moments: the bodies in flight are answered in milliseconds.
  if (problem == Problem::kOverloaded) response.set(http::field::retry_after, "1");
  return response;
}

HttpResponse BodyResponse(http::status status, std::string body, std::string_view content_type,
                          unsigned version) {
  HttpResponse response{status, version};
  response.set(http::field::server, "stratum-guard");
  response.set(http::field::content_type, content_type);
  response.body() = std::move(body);
  response.prepare_payload();
  return response;
}

std::string_view TargetPath(std::string_view target) {
  return target.substr(0, target.find_first_of("?#"));
}

bool IsJsonContentType(std::string_view content_type) {
  std::string_view media = content_type.substr(0, content_type.find(';'));
  while (!media.empty() && (media.front() == ' ' || media.front() == '\t')) media.remove_prefix(1);
  while (!media.empty() && (media.back() == ' ' || media.back() == '\t')) media.remove_suffix(1);
  constexpr std::string_view kJson = "application/json";
  return media.size() == kJson.size() &&
         std::equal(media.begin(), media.end(), kJson.begin(), [](char a, char b) {
           return std::tolower(static_cast<unsigned char>(a)) == b;
         });
}

}  // namespace stratum_guard::server
