#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace stratum_guard::common {

// Parses a Go-style duration as Kubernetes flags write them: "250ms", "10s", "2m", "1h30m",
// or a bare number of seconds ("10", "0.5"). Returns nullopt for anything else or a negative.
std::optional<std::chrono::milliseconds> ParseDuration(std::string_view text);

// The shortest form ParseDuration reads back to the same value (durations are never negative):
// "0s", "250ms", "10s", "2m", "1h30m", "1m500ms". What --help shows as a default, taken from the
// options struct.
std::string FormatDuration(std::chrono::milliseconds duration);

}  // namespace stratum_guard::common
