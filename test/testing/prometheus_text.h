#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace stratum_guard::testing {

// One sample of the Prometheus text exposition format.
struct Sample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};

struct Exposition {
  std::vector<Sample> samples;
  std::map<std::string, std::string> types;  // "# TYPE name counter"
  // The sum of the samples named `name` whose labels include all of `labels`; nullopt when
  // no sample matches.
  std::optional<double> Sum(std::string_view name,
                            const std::map<std::string, std::string>& labels = {}) const;
  double Value(std::string_view name, const std::map<std::string, std::string>& labels = {}) const {
    return Sum(name, labels).value_or(0);
  }
};

// Parses the text format strictly enough for tests: returns nullopt (with *error) on any
// line that is neither a comment nor a well-formed sample.
std::optional<Exposition> ParsePrometheusText(std::string_view text, std::string* error);

}  // namespace stratum_guard::testing
