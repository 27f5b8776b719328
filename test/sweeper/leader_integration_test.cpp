// Two sweepers with leader election against one fake API server, each with its own token so
// the server knows who sent every DELETE. The leader is then cut off from renewing its Lease:
// it must stop deleting by its renew deadline, and the other takes over.
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <filesystem>
#include <map>
#include <set>
#include <thread>

#include "kube/kube_client.h"
#include "policy/policy.h"
#include "sweeper/sweeper.h"
#include "test/fake_apiserver/fake_apiserver.h"

namespace stratum_guard::sweeper {
namespace {

using fake_apiserver::BenignPod;
using fake_apiserver::FakeApiServer;
using fake_apiserver::KubeconfigForm;
using fake_apiserver::MakePodJson;
using fake_apiserver::MinerPod;
using fake_apiserver::WriteKubeconfig;

bool Eventually(const std::function<bool()>& condition, int seconds = 30) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return condition();
}

std::string Holder(const FakeApiServer& server) {
  auto json = server.lease_json("stratum-guard", "stratum-guard-sweeper");
  if (!json) return {};
  rapidjson::Document doc;
  doc.Parse(json->c_str());
  return std::string(common::JsonString(doc["spec"], "holderIdentity"));
}

TEST(LeaderElectionIntegrationTest, TwoSweepersNeverBothDelete) {
  FakeApiServer server;
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
  common::SystemClock clock;
  auto options_for = [](const std::string& identity) {
    Options o;
    o.leader_elect = true;
    o.leader.identity = identity;
    o.leader.lease_namespace = "stratum-guard";
    o.leader.lease_name = "stratum-guard-sweeper";
    o.leader.lease_duration = std::chrono::milliseconds(2000);
    o.leader.renew_deadline = std::chrono::milliseconds(1500);
    o.leader.retry_period = std::chrono::milliseconds(200);
    o.backoff_initial = std::chrono::milliseconds(50);
    o.backoff_max = std::chrono::milliseconds(200);
    o.max_deletions_per_minute = 1000;
    o.circuit_breaker_min = 100;
    return o;
  };
  kube::KubeClient client_a(config_a);
  kube::KubeClient client_b(config_b);
  prometheus::Registry registry_a;
  prometheus::Registry registry_b;
  common::StopSignal stop_a;
  common::StopSignal stop_b;
  Sweeper a(client_a, policies, registry_a, clock, options_for("a"));
  Sweeper b(client_b, policies, registry_b, clock, options_for("b"));
  std::thread thread_a([&] { a.Run(stop_a); });
  std::thread thread_b([&] { b.Run(stop_b); });

  // Phase 1: whoever leads cleans up the early miners.
  ASSERT_TRUE(Eventually([&] { return server.pod_count() == 20; }));
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
  // Miners keep arriving during the hand-over.
  for (int i = 0; i < 10; ++i) {
    server.AddPod(MakePodJson(MinerPod("apps", "late-" + std::to_string(i))));
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
  }
  ASSERT_TRUE(Eventually([&] { return Holder(server) != first && !Holder(server).empty(); }));
  ASSERT_TRUE(Eventually([&] { return server.pod_count() == 20; }));

  stop_a.Stop();
  stop_b.Stop();
  thread_a.join();
  thread_b.join();

  std::map<std::string, int> delete_requests_per_pod;
  std::set<std::string> deleters;
  for (const auto& d : server.deletes()) {
    ++delete_requests_per_pod[d.name];
    if (d.status != 200) continue;
    deleters.insert(d.user);
    // Every successful delete came from the Lease's holder, while its last renewal was fresh.
    EXPECT_EQ(d.lease_holder, identity_of.at(d.user)) << d.name;
    EXPECT_GE(d.ms_since_user_lease_write, 0) << d.name;
    EXPECT_LT(d.ms_since_user_lease_write, 2000) << d.name << " by " << d.user;
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
