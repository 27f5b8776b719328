#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace stratum_guard::common {

// The CPUs a process may use, for sizing thread pools. In a container limited to 1 CPU on a
// 64-core node, hardware_concurrency() says 64; the cgroup v2 quota says 1 (as Go's automaxprocs
// reads it).

// Parses the text of a cgroup v2 `cpu.max` ("QUOTA PERIOD", or "max PERIOD" for no limit).
// Returns the quota in whole CPUs, rounded up and at least 1, or nullopt when there is no limit
// or the text is not in that form.
std::optional<unsigned> CpusFromCpuMax(std::string_view text);

// CpusFromCpuMax of the file at `cpu_max_path` when it can be read and sets a limit, else
// std::thread::hardware_concurrency() (at least 1).
unsigned AvailableCpus(const std::string& cpu_max_path = "/sys/fs/cgroup/cpu.max");

}  // namespace stratum_guard::common
