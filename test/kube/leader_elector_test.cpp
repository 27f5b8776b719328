#include "kube/leader_elector.h"

#include <gtest/gtest.h>

#include "test/testing/fake_kube_api.h"

namespace stratum_guard::kube {
namespace {

using kube::testing::FakeKubeApi;
using std::chrono::milliseconds;
using testing::StatusError;

LeaderElectionOptions Opts(const std::string& identity) {
  LeaderElectionOptions o;
  o.lease_namespace = "sg";
  o.lease_name = "sweeper";
  o.identity = identity;
  return o;  // client-go defaults: 15 s / 10 s / 2 s
}

TEST(LeaderElectorTest, CreatesMissingLease) {
  FakeKubeApi api;
  common::SimulatedClock clock;
  LeaderElector a(api, clock, Opts("a"));
  EXPECT_FALSE(a.IsLeader());
  EXPECT_TRUE(a.TryAcquireOrRenew());
  EXPECT_TRUE(a.IsLeader());
  Lease lease = api.lease("sg", "sweeper");
  EXPECT_EQ(lease.holder_identity, "a");
  EXPECT_EQ(lease.lease_duration_seconds, 15);
  EXPECT_EQ(lease.lease_transitions, 0);
  EXPECT_EQ(lease.acquire_time, FormatMicroTime(clock.WallNow()));
  EXPECT_EQ(lease.renew_time, lease.acquire_time);
}

TEST(LeaderElectorTest, OtherCandidateWaitsForExpiryObservedLocally) {
  FakeKubeApi api;
  common::SimulatedClock clock;
  LeaderElector a(api, clock, Opts("a"));
  LeaderElector b(api, clock, Opts("b"));
  ASSERT_TRUE(a.TryAcquireOrRenew());
  EXPECT_FALSE(b.TryAcquireOrRenew());
  // a keeps renewing: b never gets in.
  for (int i = 0; i < 20; ++i) {
    clock.Advance(milliseconds(2000));
    ASSERT_TRUE(a.TryAcquireOrRenew());
    ASSERT_FALSE(b.TryAcquireOrRenew());
  }
  std::string acquired = api.lease("sg", "sweeper").acquire_time;
  // a stops renewing. b must wait a full lease duration from when it last saw a change.
  clock.Advance(milliseconds(14'000));
  EXPECT_FALSE(b.TryAcquireOrRenew());
  EXPECT_FALSE(a.IsLeader());  // a's renew deadline (10 s) passed long ago
  clock.Advance(milliseconds(1'001));
  EXPECT_TRUE(b.TryAcquireOrRenew());
  Lease lease = api.lease("sg", "sweeper");
  EXPECT_EQ(lease.holder_identity, "b");
  EXPECT_EQ(lease.lease_transitions, 1);
  EXPECT_NE(lease.acquire_time, acquired);
  // a comes back and sees b holding a fresh lease.
  EXPECT_FALSE(a.TryAcquireOrRenew());
  EXPECT_FALSE(a.IsLeader());
}

TEST(LeaderElectorTest, RenewalKeepsAcquireTimeAndTransitions) {
  FakeKubeApi api;
  common::SimulatedClock clock;
  LeaderElector a(api, clock, Opts("a"));
  ASSERT_TRUE(a.TryAcquireOrRenew());
  Lease first = api.lease("sg", "sweeper");
  clock.Advance(milliseconds(2000));
  ASSERT_TRUE(a.TryAcquireOrRenew());
  Lease second = api.lease("sg", "sweeper");
  EXPECT_EQ(second.acquire_time, first.acquire_time);
  EXPECT_NE(second.renew_time, first.renew_time);
  EXPECT_EQ(second.lease_transitions, 0);
  EXPECT_NE(second.resource_version, first.resource_version);
}

TEST(LeaderElectorTest, StopsBeingLeaderAtRenewDeadlineWhenRenewalsFail) {
  FakeKubeApi api;
  common::SimulatedClock clock;
  LeaderElector a(api, clock, Opts("a"));
  ASSERT_TRUE(a.TryAcquireOrRenew());
  api.FailNext("update_lease", StatusError(500), 100);
  for (int i = 0; i < 4; ++i) {
    clock.Advance(milliseconds(2000));
    EXPECT_FALSE(a.TryAcquireOrRenew());
    EXPECT_TRUE(a.IsLeader()) << "still within the renew deadline after " << (i + 1) * 2 << " s";
  }
  clock.Advance(milliseconds(2000));  // 10 s since the last renewal
  EXPECT_FALSE(a.TryAcquireOrRenew());
  EXPECT_FALSE(a.IsLeader());
}

TEST(LeaderElectorTest, ConflictMeansNotLeader) {
  FakeKubeApi api;
  common::SimulatedClock clock;
  LeaderElector a(api, clock, Opts("a"));
  ASSERT_TRUE(a.TryAcquireOrRenew());
  clock.Advance(milliseconds(20'000));
  LeaderElector b(api, clock, Opts("b"));
  api.FailNext("update_lease", StatusError(409));
  EXPECT_FALSE(b.TryAcquireOrRenew());
  EXPECT_FALSE(b.IsLeader());
}

TEST(LeaderElectorTest, GetAndCreateFailuresMeanNotLeader) {
  FakeKubeApi api;
  common::SimulatedClock clock;
  LeaderElector a(api, clock, Opts("a"));
  api.FailNext("get_lease", KubeError::Transport("refused"));
  EXPECT_FALSE(a.TryAcquireOrRenew());
  api.FailNext("create_lease", StatusError(409, "AlreadyExists"));
  EXPECT_FALSE(a.TryAcquireOrRenew());
  EXPECT_FALSE(a.IsLeader());
  EXPECT_TRUE(a.TryAcquireOrRenew());
}

TEST(LeaderElectorTest, ReleaseHandsOverAtOnce) {
  FakeKubeApi api;
  common::SimulatedClock clock;
  LeaderElector a(api, clock, Opts("a"));
  LeaderElector b(api, clock, Opts("b"));
  ASSERT_TRUE(a.TryAcquireOrRenew());
  ASSERT_FALSE(b.TryAcquireOrRenew());
  a.Release();
  EXPECT_FALSE(a.IsLeader());
  EXPECT_EQ(api.lease("sg", "sweeper").holder_identity, "");
  EXPECT_TRUE(b.TryAcquireOrRenew());
}

TEST(LeaderElectorTest, RunStopsAndReleases) {
  FakeKubeApi api;
  common::SimulatedClock clock;
  common::StopSignal stop;
  LeaderElector a(api, clock, Opts("a"));
  std::vector<bool> changes;
  // The simulated clock makes every retry sleep instant; stop after a few rounds.
  int rounds = 0;
  api.FailNext("get_lease", StatusError(404), 0);
  std::thread t([&] {
    a.Run(stop, [&](bool leading) {
      changes.push_back(leading);
      if (++rounds == 1) stop.Stop();
    });
  });
  t.join();
  ASSERT_EQ(changes.size(), 2u);
  EXPECT_TRUE(changes[0]);
  EXPECT_FALSE(changes[1]);
  EXPECT_EQ(api.lease("sg", "sweeper").holder_identity, "");
}

}  // namespace
}  // namespace stratum_guard::kube
