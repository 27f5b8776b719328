#include "kube/leader_elector.h"

#include "common/log.h"

namespace stratum_guard::kube {

using common::Log;
using common::LogLevel;

LeaderElector::LeaderElector(KubeApi& api, common::Clock& clock, LeaderElectionOptions options)
    : api_(api), clock_(clock), options_(std::move(options)) {}

bool LeaderElector::IsLeader() const {
  std::lock_guard lock(mu_);
  return leading_ && clock_.Now() < last_renew_ + options_.renew_deadline;
}

bool LeaderElector::TryAcquireOrRenew() {
  auto started = clock_.Now();
  std::string now = FormatMicroTime(clock_.WallNow());
  int duration_s = static_cast<int>(
      std::chrono::duration_cast<std::chrono::seconds>(options_.lease_duration).count());
  if (duration_s < 1) duration_s = 1;
  Lease current;
  KubeError e = api_.GetLease(options_.lease_namespace, options_.lease_name, &current);
  Lease desired;
  desired.namespace_ = options_.lease_namespace;
  desired.name = options_.lease_name;
  desired.holder_identity = options_.identity;
  desired.lease_duration_seconds = duration_s;
  desired.renew_time = now;
  Lease stored;
  if (e.IsNotFound()) {
    desired.acquire_time = now;
    e = api_.CreateLease(desired, &stored);
    if (!e.ok()) {
      Log(LogLevel::kWarn, "leader election: create lease failed",
          {{"lease", options_.lease_name}, {"error", e.ToString()}});
      return false;
    }
  } else if (!e.ok()) {
    Log(LogLevel::kWarn, "leader election: get lease failed",
        {{"lease", options_.lease_name}, {"error", e.ToString()}});
    return false;
  } else {
    {
      std::lock_guard lock(mu_);
      bool changed = !have_observed_ || current.holder_identity != observed_.holder_identity ||
                     current.renew_time != observed_.renew_time ||
                     current.resource_version != observed_.resource_version;
      if (changed) {
        observed_ = current;
        observed_time_ = started;
        have_observed_ = true;
      }
      auto lease_for = current.lease_duration_seconds > 0
                           ? std::chrono::milliseconds(current.lease_duration_seconds * 1000LL)
                           : options_.lease_duration;
      bool held_by_other = !current.holder_identity.empty() &&
                           current.holder_identity != options_.identity &&
                           started < observed_time_ + lease_for;
      if (held_by_other) {
        leading_ = false;
        return false;
      }
    }
    if (current.holder_identity == options_.identity) {
      desired.acquire_time = current.acquire_time;
      desired.lease_transitions = current.lease_transitions;
    } else {
      desired.acquire_time = now;
      desired.lease_transitions = current.lease_transitions + 1;
    }
    desired.resource_version = current.resource_version;
    e = api_.UpdateLease(desired, &stored);
    if (!e.ok()) {
      Log(e.IsConflict() ? LogLevel::kInfo : LogLevel::kWarn,
          "leader election: update lease failed",
          {{"lease", options_.lease_name}, {"error", e.ToString()}});
      return false;
    }
  }
  std::lock_guard lock(mu_);
  observed_ = stored;
  observed_time_ = started;
  have_observed_ = true;
  leading_ = true;
  // Measured from before the GET: the lease other replicas see may be as old as that.
  last_renew_ = started;
  return true;
}

void LeaderElector::Release() {
  Lease held;
  {
    std::lock_guard lock(mu_);
    if (!leading_) return;
    leading_ = false;
    held = observed_;
  }
  Lease released = held;
  released.holder_identity.clear();
  released.lease_duration_seconds = 1;
  released.renew_time = FormatMicroTime(clock_.WallNow());
  Lease stored;
  KubeError e = api_.UpdateLease(released, &stored);
  Log(e.ok() ? LogLevel::kInfo : LogLevel::kWarn, "leader election: released lease",
      {{"lease", options_.lease_name}, {"error", e.ok() ? std::string() : e.ToString()}});
}

void LeaderElector::Run(const common::StopSignal& stop,
                        const std::function<void(bool)>& on_change) {
  bool was_leading = false;
  auto stopped = [&stop] { return stop.stopped(); };
  while (!stop.stopped()) {
    TryAcquireOrRenew();
    bool leading = IsLeader();
    if (leading != was_leading) {
      Log(leading ? LogLevel::kInfo : LogLevel::kWarn,
          leading ? "leader election: became leader" : "leader election: lost leadership",
          {{"lease", options_.lease_name}, {"identity", options_.identity}});
      if (on_change) on_change(leading);
      was_leading = leading;
    }
    clock_.SleepFor(options_.retry_period, stopped);
  }
  if (options_.release_on_stop) Release();
  if (was_leading && on_change) on_change(false);
}

}  // namespace stratum_guard::kube
