#pragma once

#include <optional>
#include <string>

namespace stratum_guard::common {

// Reads a whole file. Returns nullopt and sets *error (errno text with the path) on failure.
std::optional<std::string> ReadFile(const std::string& path, std::string* error);

}  // namespace stratum_guard::common
