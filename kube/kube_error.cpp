#include "kube/kube_error.h"

#include <rapidjson/document.h>

#include <charconv>

namespace stratum_guard::kube {

std::string KubeError::ToString() const {
  switch (kind) {
    case Kind::kNone:
      return "ok";
    case Kind::kTransport:
      return "transport: " + message;
    case Kind::kDecode:
      return "decode: " + message;
    case Kind::kCancelled:
      return "cancelled";
    case Kind::kStatus:
      break;
  }
  std::string out = std::to_string(code);
  if (!reason.empty()) out += " " + reason;
  if (!message.empty()) out += ": " + message;
  return out;
}

KubeError KubeError::Transport(std::string message) {
  KubeError e;
  e.kind = Kind::kTransport;
  e.message = std::move(message);
  return e;
}

KubeError KubeError::Decode(std::string message) {
  KubeError e;
  e.kind = Kind::kDecode;
  e.message = std::move(message);
  return e;
}

KubeError KubeError::Cancelled() {
  KubeError e;
  e.kind = Kind::kCancelled;
  return e;
}

std::string_view ReasonForCode(int code) {
  switch (code) {
    case 400:
      return "BadRequest";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "NotFound";
    case 405:
      return "MethodNotAllowed";
    case 409:
      return "Conflict";
    case 410:
      return "Gone";
    case 413:
      return "RequestEntityTooLarge";
    case 415:
      return "UnsupportedMediaType";
    case 422:
      return "Invalid";
    case 429:
      return "TooManyRequests";
    case 500:
      return "InternalError";
    case 503:
      return "ServiceUnavailable";
    case 504:
      return "Timeout";
    default:
      return "Unknown";
  }
}

std::optional<std::chrono::seconds> ParseRetryAfter(std::string_view value) {
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
  if (value.empty() || value.size() > 9) return std::nullopt;
  long long seconds = 0;
  auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), seconds);
  if (ec != std::errc() || end != value.data() + value.size() || seconds < 0) return std::nullopt;
  return std::chrono::seconds(seconds);
}

KubeError DecodeStatus(int http_status, std::string_view body,
                       std::string_view retry_after_header) {
  KubeError e;
  e.kind = KubeError::Kind::kStatus;
  e.code = http_status;
  e.retry_after = ParseRetryAfter(retry_after_header);
  rapidjson::Document doc;
  doc.Parse(body.data(), body.size());
  bool is_status = !doc.HasParseError() && doc.IsObject() && doc.HasMember("kind") &&
                   doc["kind"].IsString() && std::string_view(doc["kind"].GetString()) == "Status";
  if (is_status) {
    if (auto it = doc.FindMember("reason"); it != doc.MemberEnd() && it->value.IsString()) {
      e.reason.assign(it->value.GetString(), it->value.GetStringLength());
    }
    if (auto it = doc.FindMember("message"); it != doc.MemberEnd() && it->value.IsString()) {
      e.message.assign(it->value.GetString(), it->value.GetStringLength());
    }
    // The Status' own code wins: it is what the API meant even when a proxy rewrote the line.
    if (auto it = doc.FindMember("code"); it != doc.MemberEnd() && it->value.IsInt() &&
                                          it->value.GetInt() >= 100 && it->value.GetInt() < 600) {
      e.code = it->value.GetInt();
    }
  } else {
    constexpr std::size_t kMaxBodyInMessage = 200;
    e.message.assign(body.substr(0, kMaxBodyInMessage));
  }
  if (e.reason.empty()) e.reason = std::string(ReasonForCode(e.code));
  return e;
}

}  // namespace stratum_guard::kube
