#include "server/process_metrics.h"

#include <sys/resource.h>
#include <unistd.h>

#include <filesystem>
#include <sstream>

#include "common/files.h"

namespace stratum_guard::server {
namespace {

prometheus::MetricFamily Family(std::string name, std::string help, prometheus::MetricType type,
                                double value) {
  prometheus::MetricFamily family;
  family.name = std::move(name);
  family.help = std::move(help);
  family.type = type;
  prometheus::ClientMetric metric;
  if (type == prometheus::MetricType::Counter) {
    metric.counter.value = value;
  } else {
    metric.gauge.value = value;
  }
  family.metric.push_back(std::move(metric));
  return family;
}

}  // namespace

ProcessCollector::ProcessCollector(std::string proc_self, std::string proc_stat)
    : proc_self_(std::move(proc_self)), proc_stat_(std::move(proc_stat)) {}

std::vector<prometheus::MetricFamily> ProcessCollector::Collect() const {
  std::vector<prometheus::MetricFamily> out;
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  const double page = static_cast<double>(sysconf(_SC_PAGESIZE));

  if (auto stat = common::ReadFile(proc_self_ + "/stat", nullptr)) {
    // The command name (field 2) is in parentheses and may contain spaces: parse after ')'.
    std::size_t close = stat->rfind(')');
    if (close != std::string::npos) {
      std::istringstream in(stat->substr(close + 2));
      std::vector<std::string> fields;  // fields[0] is field 3 (state)
      for (std::string f; in >> f;) fields.push_back(std::move(f));
      // /proc is trusted, but a scrape must never throw: a bad number leaves the metrics out.
      if (fields.size() > 21) try {
          double utime = std::stod(fields[11]);      // field 14
          double stime = std::stod(fields[12]);      // field 15
          double starttime = std::stod(fields[19]);  // field 22, ticks after boot
          double vsize = std::stod(fields[20]);      // field 23, bytes
          double rss = std::stod(fields[21]);        // field 24, pages
          out.push_back(Family("process_cpu_seconds_total",
                               "Total user and system CPU time spent in seconds.",
                               prometheus::MetricType::Counter, (utime + stime) / ticks));
          out.push_back(Family("process_resident_memory_bytes", "Resident memory size in bytes.",
                               prometheus::MetricType::Gauge, rss * page));
          out.push_back(Family("process_virtual_memory_bytes", "Virtual memory size in bytes.",
                               prometheus::MetricType::Gauge, vsize));
          if (auto boot = common::ReadFile(proc_stat_, nullptr)) {
            std::size_t at = boot->find("\nbtime ");
            if (at != std::string::npos) {
              double btime = std::stod(boot->substr(at + 7));
              out.push_back(Family("process_start_time_seconds",
                                   "Start time of the process since unix epoch in seconds.",
                                   prometheus::MetricType::Gauge, btime + starttime / ticks));
            }
          }
        } catch (const std::exception&) {
        }
    }
  }

  std::error_code ec;
  double fds = 0;
  for (std::filesystem::directory_iterator it(proc_self_ + "/fd", ec), end; !ec && it != end;
       it.increment(ec)) {
    ++fds;
  }
  if (!ec) {
    out.push_back(Family("process_open_fds", "Number of open file descriptors.",
                         prometheus::MetricType::Gauge, fds));
  }
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0) {
    out.push_back(Family("process_max_fds", "Maximum number of open file descriptors.",
                         prometheus::MetricType::Gauge, static_cast<double>(limit.rlim_cur)));
  }
  return out;
}

}  // namespace stratum_guard::server
