#pragma once

#include <set>
#include <string>

namespace stratum_guard::manifests {

// What the real binary exports, as a dashboard or an alert may name it.
struct ExportedMetrics {
  std::string error;  // empty when the scrape worked
  // Every series name: sample names, and every family of a `# TYPE` line with a histogram's
  // _bucket, _sum and _count.
  std::set<std::string> names;
};

// Runs `stratum-guard serve --sweep` on loopback ports with a development certificate against
// the fake API server holding one miner pod, waits for the sweeper to delete it, sends the
// webhook one miner review, then scrapes /metrics. Run once per process; every caller gets the
// same result.
const ExportedMetrics& ScrapeTheBinary();

}  // namespace stratum_guard::manifests
