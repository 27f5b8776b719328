// Two sweepers with leader election against one fake API server, each with its own token so
// the server knows who sent every DELETE. The leader is then cut off from renewing its Lease:
// it must stop deleting by its renew deadline, and the other takes over. The replicas and the
// server share one simulated clock that only the test moves, so the Lease keeps client-go's
// timings (15 s lease, 10 s renew deadline, 2 s retry) at no cost in real time, and a replica
// that the machine runs late cannot lose its lease to a fixed real-time budget.
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <filesystem>
#include <functional>
#include <map>
#include <set>

#include "kube/kube_client.h"
#include "policy/policy.h"
#include "sweeper/sweeper.h"
#include "test/fake_apiserver/fake_apiserver.h"
#include "test/sweeper/sweeper_test_util.h"
#include "test/testing/eventually.h"

namespace stratum_guard::sweeper {
namespace {

using fake_apiserver::BenignPod;
using fake_apiserver::FakeApiServer;
using fake_apiserver::KubeconfigForm;
using fake_apiserver::MakePodJson;
using fake_apiserver::MinerPod;
using fake_apiserver::WriteKubeconfig;
using stratum_guard::testing::Eventually;
using testing::RunningSweeper;
using namespace std::chrono_literals;

// Moves `clock` one step each time `condition` is found false. A step is small beside the
// 5 s between the renew deadline and the lease's end, the margin that keeps two leaders apart
// while a DELETE is on its way.
::testing::AssertionResult AdvanceUntil(common::SimulatedClock& clock,
                                        const std::function<bool()>& condition) {
  return Eventually([&] {
    if (condition()) return true;
    clock.Advance(100ms);
    return false;
  });
}

std::string Holder(const FakeApiServer& server) {
  auto json = server.lease_json("stratum-guard", "stratum-guard-sweeper");
  if (!json) return {};
  rapidjson::Document doc;
  doc.Parse(json->c_str());
  return std::string(common::JsonString(doc["spec"], "holderIdentity"));
}

TEST(LeaderElectionIntegrationTest, TwoSweepersNeverBothDelete) {
  common::SimulatedClock clock(common::SimulatedClock::Sleep::kWaitsForAdvance);
  FakeApiServer::Options server_options;
  server_options.clock = &clock;  // ms_since_user_lease_write on the replicas' timeline
  FakeApiServer server(server_options);
  server.Start();
  server.AddToken("token-a", "user-a");
  server.AddToken("token-b", "user-b");
  const std::map<std::string, std::string> identity_of = {{"user-a", "a"}, {"user-b", "b"}};
  std::string dir =
      (std::filesystem::temp_directory_path() / ("sg-leader-" + std::to_string(::getpid())))
          .string();
  KubeconfigForm form_a;
  form_a.token = "token-a";
  kube::ClusterConfig config_a = kube::LoadKubeconfig(WriteKubeconfig(server, dir + "/a", form_a));
  KubeconfigForm form_b;
  form_b.token = "token-b";
  kube::ClusterConfig config_b = kube::LoadKubeconfig(WriteKubeconfig(server, dir + "/b", form_b));

  for (int i = 0; i < 20; ++i)
    server.AddPod(MakePodJson(BenignPod("apps", "web-" + std::to_string(i))));
  for (int i = 0; i < 3; ++i)
    server.AddPod(MakePodJson(MinerPod("apps", "early-" + std::to_string(i))));

  policy::PolicyStore policies(policy::Policy::Default());
  const kube::LeaderElectionOptions lease;  // client-go's timings
  auto options_for = [&lease](const std::string& identity) {
    Options o;
    o.leader_elect = true;
    o.leader = lease;
    o.leader.identity = identity;
    o.max_deletions_per_minute = 1000;
    o.circuit_breaker_min = 100;
    return o;
  };
  kube::KubeClient client_a(config_a);
  kube::KubeClient client_b(config_b);
  prometheus::Registry registry_a;
  prometheus::Registry registry_b;
  RunningSweeper a(client_a, policies, registry_a, clock, options_for("a"));
  RunningSweeper b(client_b, policies, registry_b, clock, options_for("b"));

  // Phase 1: whoever leads cleans up the early miners.
  ASSERT_TRUE(AdvanceUntil(clock, [&] { return server.pod_count() == 20; }));
  std::string first = Holder(server);
  ASSERT_TRUE(first == "a" || first == "b") << first;
  std::string first_user = first == "a" ? "user-a" : "user-b";

  // Phase 2: the leader can no longer renew (its Lease writes fail), but keeps running.
  FakeApiServer::Fault cut;
  cut.method = "PUT";
  cut.path_contains = "/leases/";
  cut.user = first_user;
  cut.status = 500;
  cut.reason = "InternalError";
  cut.times = 1'000'000;
  server.InjectFault(cut);
  // Miners keep arriving, one per retry period, through the hand-over: the first ones while
  // the old leader may still delete, the last ones after the other took over.
  const common::Clock::Steady cut_at = clock.Now();
  int late = 0;
  ASSERT_TRUE(AdvanceUntil(clock, [&] {
    for (; late < 10 && clock.Now() >= cut_at + late * lease.retry_period; ++late) {
      server.AddPod(MakePodJson(MinerPod("apps", "late-" + std::to_string(late))));
    }
    std::string holder = Holder(server);
    return late == 10 && holder != first && !holder.empty() && server.pod_count() == 20;
  }));

  a.Stop();
  b.Stop();

  std::map<std::string, int> delete_requests_per_pod;
  std::set<std::string> deleters;
  for (const auto& d : server.deletes()) {
    ++delete_requests_per_pod[d.name];
    if (d.status != 200) continue;
    deleters.insert(d.user);
    // Every successful delete came from the Lease's holder, within its renew deadline of its
    // last renewal. The deadline is checked before the DELETE is sent; the second beyond it is
    // for the clock the test keeps moving while the request is on its way.
    EXPECT_EQ(d.lease_holder, identity_of.at(d.user)) << d.name;
    EXPECT_GE(d.ms_since_user_lease_write, 0) << d.name;
    EXPECT_LT(d.ms_since_user_lease_write, (lease.renew_deadline + 1s).count())
        << d.name << " by " << d.user;
  }
  for (const auto& [name, count] : delete_requests_per_pod) {
    EXPECT_EQ(count, 1) << name << " was deleted " << count << " times";
  }
  EXPECT_EQ(delete_requests_per_pod.size(), 13u);
  EXPECT_EQ(deleters.size(), 2u);  // the hand-over happened while miners kept coming
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace stratum_guard::sweeper
