#pragma once

#include <prometheus/registry.h>

#include <string>

namespace stratum_guard::sweeper::testing {

// The value of one series in `registry` (counter or gauge); -1 when absent.
inline double MetricValue(prometheus::Registry& registry, const std::string& name,
                          const std::map<std::string, std::string>& labels = {}) {
  for (const auto& family : registry.Collect()) {
    if (family.name != name) continue;
    for (const auto& metric : family.metric) {
      std::map<std::string, std::string> have;
      for (const auto& l : metric.label) have[l.name] = l.value;
      if (have != labels) continue;
      return family.type == prometheus::MetricType::Counter ? metric.counter.value
                                                            : metric.gauge.value;
    }
  }
  return -1;
}

}  // namespace stratum_guard::sweeper::testing
