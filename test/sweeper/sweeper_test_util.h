#pragma once

#include <prometheus/registry.h>

#include <map>
#include <string>
#include <thread>

#include "sweeper/sweeper.h"

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

// A Sweeper running on its own thread until Stop() or destruction, so that a failed assertion
// cannot leave the thread behind.
class RunningSweeper {
 public:
  RunningSweeper(kube::KubeApi& api, policy::PolicyStore& policies, prometheus::Registry& registry,
                 common::Clock& clock, const Options& options)
      : sweeper_(api, policies, registry, clock, options),
        thread_([this] { sweeper_.Run(stop_); }) {}
  ~RunningSweeper() { Stop(); }
  RunningSweeper(const RunningSweeper&) = delete;  // owns the thread
  RunningSweeper& operator=(const RunningSweeper&) = delete;
  void Stop() {
    stop_.Stop();
    if (thread_.joinable()) thread_.join();
  }

 private:
  common::StopSignal stop_;
  Sweeper sweeper_;
  std::thread thread_;
};

}  // namespace stratum_guard::sweeper::testing
