#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

// The soak driver's verdicts (test/soak/README.md): pure functions of what the run measured,
// kept apart from the driver so that their pass/fail logic is tested with inputs that fail.
namespace stratum_guard::soak {

// RSS of the server, sampled from /proc/PID/status.
struct RssSample {
  double seconds = 0;  // since the server started
  std::uint64_t kib = 0;
};

struct RssJudgement {
  bool passed = false;
  std::string reason;  // why it failed; empty when it passed
  std::uint64_t min_kib = 0;
  std::uint64_t peak_kib = 0;
  std::uint64_t end_kib = 0;
  std::uint64_t middle_peak_kib = 0;  // peak of the middle third of the samples
  std::uint64_t last_peak_kib = 0;    // peak of the last third
};

// Passes when every sample is under `limit_kib` and RSS settled: the peak of the last third of
// the samples is at most `growth` (0.10: 10%) above the peak of the middle third. The first
// third is the warm-up (allocator arenas, TLS sessions, the policy) and is not compared. A
// process that keeps growing under a steady load fails; one whose peak only moves up and down
// within the bound passes. Fewer than 9 samples (3 per third) cannot show either: a failure.
RssJudgement JudgeRss(const std::vector<RssSample>& samples, std::uint64_t limit_kib,
                      double growth);

// One DELETE of a pod that reached the fake API server's handler, as /debug/deletes lists it.
struct DeleteCall {
  std::string pod;  // "namespace/name"
  int status = 0;   // what the server answered
};

struct DeleteJudgement {
  bool passed = false;
  std::vector<std::string> problems;  // one line per pod that broke the rule
};

// Every miner deleted exactly once (one call answered 200; calls answered 404 after a lost
// answer are retries and allowed), no DELETE at all for a benign pod, none for a pod the
// driver never added.
DeleteJudgement JudgeDeletes(const std::set<std::string>& miners,
                             const std::set<std::string>& benign,
                             const std::vector<DeleteCall>& calls);

// A Kubernetes memory quantity ("256Mi", "1Gi", "500M", "134217728") in bytes; nullopt when it
// does not parse.
std::optional<std::uint64_t> ParseMemoryQuantity(std::string_view quantity);

// What the driver reads from the manifests' Deployment.
struct ManifestLimits {
  std::uint64_t memory_limit_bytes = 0;
  int termination_grace_seconds = 0;
};
// From manifests/base/deployment.yaml's text: the first container's limits.memory and the pod's
// terminationGracePeriodSeconds. Throws std::runtime_error naming what is missing.
ManifestLimits ReadManifestLimits(const std::string& deployment_yaml);

// The end of the run: SIGTERM must give exit code 0 within the grace period.
struct ExitJudgement {
  bool passed = false;
  std::string reason;
};
ExitJudgement JudgeExit(std::optional<int> exit_code, double seconds, int grace_seconds);

}  // namespace stratum_guard::soak
