#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace stratum_guard::common {

// Standard base64 (RFC 4648 section 4, with padding), as kubeconfig's *-data fields and
// Kubernetes Secrets use it.
std::string EncodeBase64(std::string_view bytes);

// Strict: whitespace is ignored (kubeconfig files wrap long values), anything else outside the
// alphabet, a length that is not a multiple of four, or data after padding gives nullopt.
std::optional<std::string> DecodeBase64(std::string_view text);

}  // namespace stratum_guard::common
