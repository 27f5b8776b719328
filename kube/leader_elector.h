#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <string>

#include "common/clock.h"
#include "kube/kube_api.h"

namespace stratum_guard::kube {

// client-go's defaults: lease 15 s, renew deadline 10 s, retry period 2 s.
struct LeaderElectionOptions {
  std::string lease_namespace = "stratum-guard";
  std::string lease_name = "stratum-guard-sweeper";
  std::string identity;  // unique per replica: the pod name (plus a random suffix)
  std::chrono::milliseconds lease_duration{15'000};
  std::chrono::milliseconds renew_deadline{10'000};
  std::chrono::milliseconds retry_period{2'000};
  bool release_on_stop = true;  // hand the lease back on a clean stop for a fast failover
};

// Leader election with a coordination.k8s.io/v1 Lease, following client-go's algorithm:
// a candidate takes the lease when it is free, released, or not renewed for lease_duration as
// observed on the candidate's own monotonic clock (never by comparing renewTime with its wall
// clock, so clock skew between nodes does not matter); the leader renews every retry_period;
// every write carries the Lease's resourceVersion, so of two racing writers one gets 409.
//
// IsLeader() is true only while the last successful renewal is younger than renew_deadline.
// Since renew_deadline < lease_duration, a replica stops considering itself leader before any
// other replica may take over, even when its renewals hang: that margin is what makes "never
// two sweepers deleting at once" hold. Thread-safe: Run() on one thread, IsLeader() anywhere.
class LeaderElector {
 public:
  LeaderElector(KubeApi& api, common::Clock& clock, LeaderElectionOptions options);

  // Campaigns and renews until `stop` fires, then releases the lease if held.
  // `on_change(bool leading)` is called on the Run thread at each transition.
  void Run(const common::StopSignal& stop, const std::function<void(bool)>& on_change = nullptr);

  // One attempt to acquire or renew; true when this replica holds the lease afterwards.
  bool TryAcquireOrRenew();
  // Gives the lease up (holder "") if this replica holds it.
  void Release();

  bool IsLeader() const;
  const LeaderElectionOptions& options() const { return options_; }

 private:
  KubeApi& api_;
  common::Clock& clock_;
  LeaderElectionOptions options_;
  mutable std::mutex mu_;
  Lease observed_;                       // the last record seen
  common::Clock::Steady observed_time_;  // when it last changed, on our clock
  bool have_observed_ = false;
  bool leading_ = false;
  common::Clock::Steady last_renew_;
};

}  // namespace stratum_guard::kube
