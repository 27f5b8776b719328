#include "common/cpus.h"

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <thread>

#include "common/files.h"

namespace stratum_guard::common {
namespace {

std::optional<std::uint64_t> ParsePositive(std::string_view text) {
  std::uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value == 0) return std::nullopt;
  return value;
}

}  // namespace

std::optional<unsigned> CpusFromCpuMax(std::string_view text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.remove_suffix(1);
  const std::size_t space = text.find(' ');
  if (space == std::string_view::npos) return std::nullopt;
  const std::string_view quota_text = text.substr(0, space);
  const std::optional<std::uint64_t> period = ParsePositive(text.substr(space + 1));
  if (!period || quota_text == "max") return std::nullopt;
  const std::optional<std::uint64_t> quota = ParsePositive(quota_text);
  if (!quota) return std::nullopt;
  // A quota cannot usefully exceed the thread count anyone would run; the cap keeps the
  // rounding below from overflowing unsigned.
  const std::uint64_t cpus = std::min<std::uint64_t>((*quota + *period - 1) / *period, 1u << 16);
  return static_cast<unsigned>(cpus);
}

unsigned AvailableCpus(const std::string& cpu_max_path) {
  if (std::optional<std::string> text = ReadFile(cpu_max_path, nullptr)) {
    if (std::optional<unsigned> cpus = CpusFromCpuMax(*text)) return *cpus;
  }
  return std::max(1u, std::thread::hardware_concurrency());
}

}  // namespace stratum_guard::common
