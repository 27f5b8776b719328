#include "test/soak/soak_judge.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <map>
#include <stdexcept>

namespace stratum_guard::soak {

namespace {
std::uint64_t PeakOf(std::vector<RssSample>::const_iterator begin,
                     std::vector<RssSample>::const_iterator end) {
  std::uint64_t peak = 0;
  for (auto it = begin; it != end; ++it) peak = std::max(peak, it->kib);
  return peak;
}

std::string MiB(std::uint64_t kib) { return std::to_string(kib / 1024) + " MiB"; }
}  // namespace

RssJudgement JudgeRss(const std::vector<RssSample>& samples, std::uint64_t limit_kib,
                      double growth) {
  RssJudgement j;
  if (samples.size() < 9) {
    j.reason = "only " + std::to_string(samples.size()) + " RSS samples; at least 9 are needed";
    return j;
  }
  j.min_kib = samples.front().kib;
  for (const auto& s : samples) {
    j.min_kib = std::min(j.min_kib, s.kib);
    j.peak_kib = std::max(j.peak_kib, s.kib);
  }
  j.end_kib = samples.back().kib;
  std::size_t third = samples.size() / 3;
  j.middle_peak_kib = PeakOf(samples.begin() + third, samples.begin() + 2 * third);
  j.last_peak_kib = PeakOf(samples.begin() + 2 * third, samples.end());
  if (j.peak_kib >= limit_kib) {
    j.reason = "RSS peaked at " + MiB(j.peak_kib) + ", at or over the limit of " + MiB(limit_kib);
    return j;
  }
  double bound = static_cast<double>(j.middle_peak_kib) * (1.0 + growth);
  if (static_cast<double>(j.last_peak_kib) > bound) {
    j.reason = "RSS did not settle: the last third peaked at " + MiB(j.last_peak_kib) +
               ", more than " + std::to_string(static_cast<int>(growth * 100)) +
               "% over the middle third's " + MiB(j.middle_peak_kib);
    return j;
  }
  j.passed = true;
  return j;
}

DeleteJudgement JudgeDeletes(const std::set<std::string>& miners,
                             const std::set<std::string>& benign,
                             const std::vector<DeleteCall>& calls) {
  DeleteJudgement j;
  std::map<std::string, int> succeeded;
  std::map<std::string, int> attempted;
  for (const auto& c : calls) {
    ++attempted[c.pod];
    if (c.status == 200) ++succeeded[c.pod];
  }
  for (const auto& pod : miners) {
    int n = succeeded.count(pod) ? succeeded[pod] : 0;
    if (n != 1) {
      j.problems.push_back("miner " + pod + " deleted " + std::to_string(n) +
                           " times, expected exactly once");
    }
  }
  for (const auto& [pod, n] : attempted) {
    if (benign.count(pod)) {
      j.problems.push_back("benign pod " + pod + " got " + std::to_string(n) + " DELETE calls");
    } else if (!miners.count(pod)) {
      j.problems.push_back("pod " + pod + ", never added, got " + std::to_string(n) +
                           " DELETE calls");
    }
  }
  j.passed = j.problems.empty();
  return j;
}

std::optional<std::uint64_t> ParseMemoryQuantity(std::string_view quantity) {
  std::uint64_t number = 0;
  auto [end, ec] = std::from_chars(quantity.data(), quantity.data() + quantity.size(), number);
  if (ec != std::errc() || end == quantity.data()) return std::nullopt;
  std::string_view suffix(end, quantity.data() + quantity.size() - end);
  static const std::map<std::string_view, std::uint64_t> kMultipliers = {{"", 1},
                                                                         {"k", 1000},
                                                                         {"M", 1000'000},
                                                                         {"G", 1000'000'000},
                                                                         {"Ki", 1ull << 10},
                                                                         {"Mi", 1ull << 20},
                                                                         {"Gi", 1ull << 30},
                                                                         {"Ti", 1ull << 40}};
  auto it = kMultipliers.find(suffix);
  if (it == kMultipliers.end()) return std::nullopt;
  if (number > UINT64_MAX / it->second) return std::nullopt;
  return number * it->second;
}

ManifestLimits ReadManifestLimits(const std::string& deployment_yaml) {
  YAML::Node doc;
  try {
    doc = YAML::Load(deployment_yaml);
  } catch (const YAML::Exception& e) {
    throw std::runtime_error(std::string("deployment YAML does not parse: ") + e.what());
  }
  YAML::Node pod = doc["spec"]["template"]["spec"];
  if (!pod || !pod["terminationGracePeriodSeconds"]) {
    throw std::runtime_error("deployment has no spec.template.spec.terminationGracePeriodSeconds");
  }
  YAML::Node memory = pod["containers"][0]["resources"]["limits"]["memory"];
  if (!memory) {
    throw std::runtime_error("deployment's first container has no resources.limits.memory");
  }
  ManifestLimits limits;
  auto bytes = ParseMemoryQuantity(memory.as<std::string>());
  if (!bytes) throw std::runtime_error("limits.memory does not parse: " + memory.as<std::string>());
  limits.memory_limit_bytes = *bytes;
  limits.termination_grace_seconds = pod["terminationGracePeriodSeconds"].as<int>();
  return limits;
}

ExitJudgement JudgeExit(std::optional<int> exit_code, double seconds, int grace_seconds) {
  ExitJudgement j;
  if (!exit_code) {
    j.reason = "still running " + std::to_string(seconds) + " s after SIGTERM";
  } else if (*exit_code != 0) {
    j.reason = "exit code " + std::to_string(*exit_code) + " after SIGTERM";
  } else if (seconds > grace_seconds) {
    j.reason = "exit took " + std::to_string(seconds) + " s, over the grace period of " +
               std::to_string(grace_seconds) + " s";
  } else {
    j.passed = true;
  }
  return j;
}

}  // namespace stratum_guard::soak
