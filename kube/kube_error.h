#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace stratum_guard::kube {

// The outcome of one Kubernetes API call. Calls return this instead of throwing: a sweep step
// must never be ended by an exception, and callers branch on the HTTP code the API documents
// (404 and 409 are "someone else handled it", 410 means "relist", 429 and 5xx are retried).
struct KubeError {
  enum class Kind {
    kNone,       // success
    kTransport,  // DNS, connect, TLS, timeout or a broken connection: no HTTP status
    kStatus,     // the API answered with a non-2xx code (usually with a Status object)
    kDecode,     // a 2xx answer whose body was not the JSON we expected
    kCancelled,  // the caller's cancel check fired
  };
  Kind kind = Kind::kNone;
  int code = 0;         // HTTP status code for kStatus (the Status object's `code` if set)
  std::string reason;   // Status `reason` ("NotFound", "Conflict", "Expired", ...)
  std::string message;  // Status `message`, or what went wrong on the transport
  std::optional<std::chrono::seconds> retry_after;  // from the Retry-After header

  bool ok() const { return kind == Kind::kNone; }
  bool IsNotFound() const { return kind == Kind::kStatus && code == 404; }
  bool IsConflict() const { return kind == Kind::kStatus && code == 409; }
  bool IsGone() const { return kind == Kind::kStatus && code == 410; }
  bool IsUnauthorized() const { return kind == Kind::kStatus && code == 401; }
  // Worth retrying unchanged after a pause: the transport failed, the API is throttling (429)
  // or failing (5xx).
  bool IsRetriable() const {
    return kind == Kind::kTransport || (kind == Kind::kStatus && (code == 429 || code >= 500));
  }
  // "404 NotFound: pods \"x\" not found", "transport: connect: Connection refused".
  std::string ToString() const;

  static KubeError Transport(std::string message);
  static KubeError Decode(std::string message);
  static KubeError Cancelled();
};

// Builds the error for a non-2xx answer. `body` is decoded as a meta/v1 Status when it is one
// ({"kind":"Status",...,"reason":...,"message":...,"code":...}); otherwise the HTTP code stands
// alone, the reason is derived from it and the message is the start of the body. Never throws.
KubeError DecodeStatus(int http_status, std::string_view body,
                       std::string_view retry_after_header = {});

// Parses Retry-After as the API server sends it: delta-seconds. An HTTP-date or garbage gives
// nullopt (callers then fall back to their own backoff).
std::optional<std::chrono::seconds> ParseRetryAfter(std::string_view value);

// The reason the API uses for an HTTP code when the body carries none ("NotFound", ...).
std::string_view ReasonForCode(int code);

}  // namespace stratum_guard::kube
