#include "common/duration.h"

#include <charconv>
#include <string>

namespace stratum_guard::common {

std::optional<std::chrono::milliseconds> ParseDuration(std::string_view text) {
  if (text.empty()) return std::nullopt;
  double total_ms = 0;
  std::size_t i = 0;
  bool any_unit = false;
  while (i < text.size()) {
    std::size_t start = i;
    while (i < text.size() && ((text[i] >= '0' && text[i] <= '9') || text[i] == '.')) ++i;
    if (start == i) return std::nullopt;
    double number = 0;
    try {
      std::size_t used = 0;
      number = std::stod(std::string(text.substr(start, i - start)), &used);
      if (used != i - start) return std::nullopt;
    } catch (...) {
      return std::nullopt;
    }
    std::size_t unit_start = i;
    while (i < text.size() && text[i] >= 'a' && text[i] <= 'z') ++i;
    std::string_view unit = text.substr(unit_start, i - unit_start);
    double scale;
    if (unit.empty()) {
      // A bare number is seconds, and only on its own.
      if (any_unit || i != text.size() || start != 0) return std::nullopt;
      scale = 1000;
    } else if (unit == "ms") {
      scale = 1;
    } else if (unit == "s") {
      scale = 1000;
    } else if (unit == "m") {
      scale = 60'000;
    } else if (unit == "h") {
      scale = 3'600'000;
    } else {
      return std::nullopt;
    }
    any_unit = any_unit || !unit.empty();
    total_ms += number * scale;
  }
  return std::chrono::milliseconds(static_cast<long long>(total_ms + 0.5));
}

std::string FormatDuration(std::chrono::milliseconds duration) {
  long long ms = duration.count();
  if (ms == 0) return "0s";
  std::string out;
  for (auto [unit, size] : {std::pair{"h", 3'600'000LL}, {"m", 60'000LL}, {"s", 1'000LL}}) {
    if (ms >= size) {
      out += std::to_string(ms / size) + unit;
      ms %= size;
    }
  }
  if (ms > 0) out += std::to_string(ms) + "ms";
  return out;
}

}  // namespace stratum_guard::common
