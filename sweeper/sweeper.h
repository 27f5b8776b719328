#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include "common/clock.h"
#include "kube/kube_api.h"
#include "kube/leader_elector.h"
#include "kube/rate_limiter.h"
#include "policy/policy_store.h"
#include "policy/verdict.h"
#include "registry/credentials.h"
#include "registry/inspector.h"

namespace stratum_guard::sweeper {

class PolicyReportWriter;

// Everything `stratum-guard sweep` can be told. Defaults are the documented flag defaults.
struct Options {
  bool dry_run = false;  // --dry-run: judge and report, never delete
  // --enforcement: wins over the policy's `enforcement:`; nullopt lets the policy decide. Only
  // enforce deletes; warn and audit report what would be deleted, as --dry-run does.
  std::optional<policy::Enforcement> enforcement;
  int max_deletions_per_minute = 10;    // --max-deletions-per-minute (token bucket)
  double circuit_breaker_ratio = 0.05;  // --circuit-breaker-ratio
  int circuit_breaker_min = 5;          // --circuit-breaker-min
  // --grace-period: DeleteOptions.gracePeriodSeconds; nullopt (flag -1) keeps the pod's own.
  std::optional<std::int64_t> grace_period_seconds = 5;
  int page_size = 500;                               // --page-size (list `limit`)
  std::chrono::milliseconds resync_period{600'000};  // --resync-period
  std::chrono::seconds watch_timeout{300};           // server-side timeoutSeconds of one watch
  std::chrono::milliseconds backoff_initial{1'000};  // first pause after a failed call
  std::chrono::milliseconds backoff_max{30'000};     // longest pause
  int delete_attempts = 5;                           // per pod and pass, for 429/5xx/transport
  int list_restarts = 3;  // expired continue tokens tolerated in one pass before giving up
  // The sweeper's own pod (downward API POD_NAMESPACE / POD_NAME): never deleted, nor any pod
  // of the same controller or carrying the same app.kubernetes.io/name in that namespace.
  std::string self_namespace;
  std::string self_name;
  bool leader_elect = true;
  kube::LeaderElectionOptions leader;
  bool emit_events = true;
  // Candidates kept in memory per full pass; beyond this they are counted (so the circuit
  // breaker still sees them) and left to the next pass.
  std::size_t max_candidates = 10'000;
  // --policy-reports: keep a wgpolicyk8s.io/v1alpha2 PolicyReport per namespace with findings,
  // when that CRD is installed (docs/OPERATIONS.md, "Policy reports").
  bool policy_reports = true;
  std::size_t policy_report_max_results = 1'000;  // per report: one etcd object stays small
  // --inspect-images: each pod's image configs are judged too (docs/OPERATIONS.md, "Image
  // inspection"). Null: off. Both must outlive the sweeper.
  registry::ImageInspector* images = nullptr;
  registry::CredentialStore* image_credentials = nullptr;
  // How long one pod waits for its images' configs. The sweeper has no caller waiting on it,
  // so this is the time a registry gets, not a latency budget; a pod judged without its image
  // (a timeout or an error, both counted) is judged again at the next pass, from the cache the
  // fetch goes on to fill.
  std::chrono::milliseconds image_deadline{10'000};
};

// The longest pause a server's Retry-After buys before a list or a delete is retried.
inline constexpr std::chrono::minutes kMaxRetryAfter{10};

// What a pass did to one pod that had a deny finding.
enum class PodAction {
  kDeleted,      // DELETE accepted
  kWouldDelete,  // dry run
  kNotEnforced,  // not deleted: enforcement is warn or audit
  kAlreadyGone,  // 404 or 409 (uid changed): someone else handled it
  kCircuitOpen,  // not deleted: the circuit breaker is open
  kNotLeader,    // not deleted: leadership lost (or stop requested) before the call
  kFailed,       // the API refused or kept failing
  kDeferred,     // over max_candidates: left for the next pass
};
std::string_view PodActionName(PodAction action);

struct PodOutcome {
  std::string namespace_;
  std::string name;
  std::string uid;
  std::vector<policy::Finding> findings;                   // deny findings first, then warn/audit
  std::vector<policy::Finding> exempted;                   // findings an exemption silenced
  policy::Decision decision = policy::Decision::kAllowed;  // the rules', before enforcement
  PodAction action = PodAction::kWouldDelete;
  std::string error;
};

// The result of one full pass (list + judge + act).
struct SweepReport {
  std::uint64_t scanned = 0;
  std::uint64_t skipped_self = 0;
  std::uint64_t skipped_terminating = 0;  // deletionTimestamp set: already going away
  std::uint64_t skipped_finished = 0;     // phase Succeeded/Failed: runs nothing
  std::uint64_t candidates = 0;           // pods with a non-exempt deny finding
  std::uint64_t failed = 0;               // pods the policy failed to evaluate: left alone
  policy::Enforcement enforcement = policy::Enforcement::kEnforce;  // in force for this pass
  std::uint64_t deleted = 0;
  bool circuit_open = false;
  bool complete = false;   // the list reached its last page
  bool truncated = false;  // some pods with findings were left out of `pods` (max_candidates)
  std::string resource_version;
  std::vector<PodOutcome> pods;     // every pod with a finding (deny, warn, audit or exempted)
  std::vector<std::string> errors;  // what went wrong, one line each
};

// Text for `sweep --once`: counts, each pod with its findings and action, errors.
std::string FormatReport(const SweepReport& report, bool dry_run);

// Finds running miner pods and deletes them. Every pod is judged by the PolicyStore's current
// snapshot (taken once per pass, and per event while watching, so reloads apply); deletions go
// through a token bucket, a circuit breaker and, when enabled, leader election.
// Not thread-safe: one thread calls SweepOnce or Run.
class Sweeper {
 public:
  Sweeper(kube::KubeApi& api, policy::PolicyStore& policies, prometheus::Registry& registry,
          common::Clock& clock, Options options);
  ~Sweeper();
  Sweeper(const Sweeper&) = delete;  // owns metric handles and a leader elector thread
  Sweeper& operator=(const Sweeper&) = delete;

  // One full pass without leader election (`sweep --once`). Returns what it saw and did.
  SweepReport SweepOnce(const common::CancelCheck& cancelled = nullptr);

  // Lists, then watches, resyncing every resync_period, until `stop` fires. With leader_elect,
  // only while holding the lease: losing it stops deleting at once and goes back to waiting.
  void Run(const common::StopSignal& stop);

  bool circuit_open() const { return circuit_open_; }
  // Candidates held in memory by the last full pass, at most (bounded-memory evidence).
  std::size_t max_candidates_held() const { return max_candidates_held_; }

 private:
  // Judges one pod; fills `out` when it has findings, exempted ones included. Returns true if it
  // has a deny finding. A pod the policy fails to evaluate is counted, logged and left alone.
  bool Judge(const policy::Policy& policy, const rapidjson::Value& pod, SweepReport& report,
             PodOutcome* out);
  SweepReport FullSync(const common::CancelCheck& cancelled);
  bool ListAndJudge(const policy::Policy& policy, const common::CancelCheck& cancelled,
                    SweepReport& report, std::vector<PodOutcome>& candidates);
  void Act(PodOutcome& pod, const common::CancelCheck& cancelled, SweepReport& report);
  PodAction Delete(PodOutcome& pod, const common::CancelCheck& cancelled);
  void EmitEvent(const PodOutcome& pod, std::string_view reason, std::string_view message);
  bool MayDelete() const;
  void ResolveSelf();
  void ObserveForReports(const rapidjson::Value& pod, const PodOutcome& outcome);
  void WatchUntilResync(const std::string& resource_version, const common::CancelCheck& cancelled);
  std::size_t BreakerThreshold(std::uint64_t scanned) const;
  void SetCircuit(bool open);

  kube::KubeApi& api_;
  policy::PolicyStore& policies_;
  common::Clock& clock_;
  Options options_;
  kube::TokenBucket bucket_;
  std::unique_ptr<kube::LeaderElector> elector_;
  std::unique_ptr<PolicyReportWriter> reports_;  // null with policy_reports off
  bool circuit_open_ = false;
  std::uint64_t last_scanned_ = 0;
  std::uint64_t deleted_since_sync_ = 0;
  std::size_t max_candidates_held_ = 0;
  std::shared_ptr<const policy::Policy> sync_policy_;  // the snapshot of the last full pass
  policy::Enforcement enforcement_ = policy::Enforcement::kEnforce;  // of sync_policy_ and flag
  std::uint64_t event_serial_ = 0;
  std::unordered_set<std::string> detected_uids_;  // dry-run/circuit events sent once per pod
  // Self identity, resolved from the API at start.
  std::string self_controller_uid_;
  std::string self_app_name_;
  bool self_resolved_ = false;

  prometheus::Counter& scanned_;
  prometheus::Family<prometheus::Counter>& deleted_;
  prometheus::Family<prometheus::Counter>& detected_;
  prometheus::Family<prometheus::Counter>& errors_;
  prometheus::Family<prometheus::Counter>& exemptions_;
  prometheus::Family<prometheus::Counter>& inspections_;
  prometheus::Gauge& last_full_sync_;
  prometheus::Gauge& is_leader_;
  prometheus::Gauge& circuit_gauge_;
  std::shared_ptr<void> policy_subscription_;  // declared last: unsubscribed first
};

}  // namespace stratum_guard::sweeper
