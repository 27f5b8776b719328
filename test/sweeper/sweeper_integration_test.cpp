// The sweeper with the real client against the fake HTTPS API server: the "Done when" list of
// issue 4. Durations are shortened through Options; the tests wait on the fake server's records
// and the sweeper's metrics, never on time.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "kube/kube_client.h"
#include "policy/policy.h"
#include "sweeper/sweeper.h"
#include "test/fake_apiserver/fake_apiserver.h"
#include "test/sweeper/integration_fixture.h"
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
using testing::MetricValue;
using testing::RunningSweeper;

class SweeperIntegrationTest : public testing::FakeApiServerTest {};

TEST_F(SweeperIntegrationTest, DeletesPreExistingMinersAndLeavesOthersAndExemptNamespaces) {
  for (int i = 0; i < 60; ++i) Benign("team-" + std::to_string(i % 5), "web-" + std::to_string(i));
  Miner("team-0", "miner-a");
  Miner("team-3", "miner-b");
  Miner("batch", "miner-c");
  Miner("miner-lab", "miner-exempt");
  policies_.Set(policy::Policy::Compile(
      "exemptions:\n  namespaces: [miner-lab]\n" + std::string(policy::Policy::DefaultText()),
      "<default + miner-lab exemption>"));
  options_.page_size = 16;
  kube::KubeClient client(Config());
  Sweeper sweeper(client, policies_, registry_, clock_, options_);
  SweepReport report = sweeper.SweepOnce();
  EXPECT_TRUE(report.complete);
  EXPECT_EQ(report.scanned, 64u);
  EXPECT_EQ(report.deleted, 3u);
  EXPECT_FALSE(server_.HasPod("team-0", "miner-a"));
  EXPECT_FALSE(server_.HasPod("team-3", "miner-b"));
  EXPECT_FALSE(server_.HasPod("batch", "miner-c"));
  EXPECT_TRUE(server_.HasPod("miner-lab", "miner-exempt"));
  EXPECT_EQ(server_.pod_count(), 61u);
  for (const auto& d : server_.deletes()) {
    EXPECT_EQ(d.status, 200);
    EXPECT_FALSE(d.precondition_uid.empty());
    EXPECT_EQ(d.grace_period_seconds, 5);
  }
  auto events = server_.events();
  ASSERT_EQ(events.size(), 3u);
  for (const auto& e : events) {
    EXPECT_EQ(e.reason, "MinerPodDeleted");
    EXPECT_EQ(e.type, "Warning");
    EXPECT_EQ(e.involved_kind, "Pod");
    EXPECT_EQ(e.namespace_, e.involved_namespace);
    EXPECT_FALSE(e.involved_uid.empty());
    EXPECT_EQ(e.source_component, "stratum-guard");
  }
}

TEST_F(SweeperIntegrationTest, DryRunDeletesNothingButReports) {
  Benign("apps", "web");
  Miner("apps", "miner");
  options_.dry_run = true;
  kube::KubeClient client(Config());
  Sweeper sweeper(client, policies_, registry_, clock_, options_);
  SweepReport report = sweeper.SweepOnce();
  EXPECT_EQ(report.candidates, 1u);
  EXPECT_TRUE(server_.HasPod("apps", "miner"));
  EXPECT_EQ(server_.requests("DELETE"), 0u);
  ASSERT_EQ(server_.events().size(), 1u);
  EXPECT_EQ(server_.events()[0].reason, "MinerPodDetected");
  EXPECT_NE(FormatReport(report, true).find("apps/miner"), std::string::npos);
}

TEST_F(SweeperIntegrationTest, RateLimitHolds) {
  for (int i = 0; i < 400; ++i) Benign("apps", "web-" + std::to_string(i));
  for (int i = 0; i < 15; ++i) Miner("apps", "miner-" + std::to_string(i));
  options_.max_deletions_per_minute = 5;
  common::SimulatedClock clock;  // the bucket waits on it: instant, exact
  kube::KubeClient client(Config());
  Sweeper sweeper(client, policies_, registry_, clock, options_);
  SweepReport report = sweeper.SweepOnce();
  EXPECT_EQ(report.deleted, 15u);
  EXPECT_EQ(server_.deletes().size(), 15u);
  // 5 at once, then one every 12 s for the other 10.
  EXPECT_EQ(clock.slept(), std::chrono::seconds(120));
}

TEST_F(SweeperIntegrationTest, CircuitBreakerHolds) {
  for (int i = 0; i < 30; ++i) Benign("apps", "web-" + std::to_string(i));
  for (int i = 0; i < 8; ++i) Miner("apps", "miner-" + std::to_string(i));
  kube::KubeClient client(Config());
  Sweeper sweeper(client, policies_, registry_, clock_, options_);
  SweepReport report = sweeper.SweepOnce();
  EXPECT_TRUE(report.circuit_open);
  EXPECT_EQ(server_.requests("DELETE"), 0u);
  EXPECT_EQ(MetricValue(registry_, "stratum_guard_sweeper_circuit_open"), 1);
  EXPECT_EQ(server_.events().size(), 8u);
  for (const auto& e : server_.events()) EXPECT_EQ(e.reason, "MinerPodDetected");
}

TEST_F(SweeperIntegrationTest, ThrottledDeletesAreRetried) {
  Miner("apps", "miner");
  FakeApiServer::Fault fault;
  fault.method = "DELETE";
  fault.times = 2;
  fault.retry_after_seconds = 0;
  server_.InjectFault(fault);
  kube::KubeClient client(Config());
  Sweeper sweeper(client, policies_, registry_, clock_, options_);
  SweepReport report = sweeper.SweepOnce();
  EXPECT_EQ(report.deleted, 1u);
  auto deletes = server_.deletes();
  ASSERT_EQ(deletes.size(), 1u);  // the two 429s were answered before reaching the handler
  EXPECT_EQ(server_.requests("DELETE"), 3u);
}

TEST_F(SweeperIntegrationTest, MinerCreatedDuringTheWatchIsDeleted) {
  Benign("apps", "web");
  kube::KubeClient client(Config());
  RunningSweeper running(client, policies_, registry_, clock_, options_);
  ASSERT_TRUE(Eventually([&] { return server_.watch_requests() >= 1; }));
  Miner("apps", "late-miner");
  EXPECT_TRUE(Eventually([&] { return !server_.HasPod("apps", "late-miner"); }));
  EXPECT_EQ(server_.list_requests(), 1u);  // seen through the watch, not a relist
  EXPECT_TRUE(server_.HasPod("apps", "web"));
  running.Stop();
  EXPECT_EQ(MetricValue(registry_, "stratum_guard_sweeper_is_leader"), 0);
}

TEST_F(SweeperIntegrationTest, ModifiedPodThatTurnsIntoAMinerIsDeleted) {
  Benign("apps", "web");
  kube::KubeClient client(Config());
  RunningSweeper running(client, policies_, registry_, clock_, options_);
  ASSERT_TRUE(Eventually([&] { return server_.watch_requests() >= 1; }));
  ASSERT_TRUE(server_.UpdatePod(MakePodJson(MinerPod("apps", "web"))));
  EXPECT_TRUE(Eventually([&] { return !server_.HasPod("apps", "web"); }));
}

TEST_F(SweeperIntegrationTest, OpenCircuitAlsoHoldsDuringTheWatch) {
  for (int i = 0; i < 6; ++i) Miner("apps", "miner-" + std::to_string(i));
  kube::KubeClient client(Config());
  RunningSweeper running(client, policies_, registry_, clock_, options_);
  ASSERT_TRUE(Eventually([&] { return server_.watch_requests() >= 1; }));
  EXPECT_EQ(MetricValue(registry_, "stratum_guard_sweeper_circuit_open"), 1);
  Miner("apps", "late-miner");
  ASSERT_TRUE(Eventually([&] { return server_.events().size() == 7; }));
  EXPECT_EQ(server_.events().back().involved_name, "late-miner");
  EXPECT_EQ(server_.events().back().reason, "MinerPodDetected");
  EXPECT_EQ(server_.requests("DELETE"), 0u);
  EXPECT_TRUE(server_.HasPod("apps", "late-miner"));
}

TEST_F(SweeperIntegrationTest, GoneLeadsToARelist) {
  Benign("apps", "web");
  kube::KubeClient client(Config());
  RunningSweeper running(client, policies_, registry_, clock_, options_);
  ASSERT_TRUE(Eventually([&] { return server_.watch_requests() >= 1; }));
  // The live watch gets an ERROR event with a 410 Status; the sweeper lists again.
  server_.Compact();
  ASSERT_TRUE(Eventually([&] { return server_.list_requests() >= 2; }));
  EXPECT_EQ(
      MetricValue(registry_, "stratum_guard_sweeper_errors_total", {{"reason", "watch_expired"}}),
      1);
  // And the same when the 410 comes as the HTTP status of a new watch.
  server_.SetWatchGoneAsHttpStatus(true);
  ASSERT_TRUE(Eventually([&] { return server_.watch_requests() >= 2; }));
  server_.Stop();
  server_.Compact();
  Miner("apps", "miner");  // only a relist can find it: its event is compacted away
  server_.Start();
  EXPECT_TRUE(Eventually([&] { return !server_.HasPod("apps", "miner"); }));
  EXPECT_GE(server_.list_requests(), 3u);
}

TEST_F(SweeperIntegrationTest, SurvivesAnApiServerRestartMidWatch) {
  Benign("apps", "web");
  kube::KubeClient client(Config());
  RunningSweeper running(client, policies_, registry_, clock_, options_);
  ASSERT_TRUE(Eventually([&] { return server_.watch_requests() >= 1; }));
  server_.Stop();
  // The broken watch, then refused reconnects, each counted.
  auto watch_errors = [&] {
    return MetricValue(registry_, "stratum_guard_sweeper_errors_total", {{"reason", "watch"}});
  };
  ASSERT_TRUE(Eventually([&] { return watch_errors() >= 3; }));
  Miner("apps", "miner-while-down");
  server_.Start();
  EXPECT_TRUE(Eventually([&] { return !server_.HasPod("apps", "miner-while-down"); }));
  EXPECT_GE(server_.watch_requests(), 2u);
}

TEST_F(SweeperIntegrationTest, PicksUpARotatedToken) {
  KubeconfigForm form;
  form.auth = KubeconfigForm::Auth::kTokenFile;
  kube::KubeClient client(Config(form));
  RunningSweeper running(client, policies_, registry_, clock_, options_);
  ASSERT_TRUE(Eventually([&] { return server_.watch_requests() >= 1; }));
  // The kubelet writes the new token; the API server stops accepting the old one.
  std::ofstream(dir_ + "/token") << "rotated\n";
  server_.SetToken("rotated");
  Miner("apps", "miner");
  EXPECT_TRUE(Eventually([&] { return !server_.HasPod("apps", "miner"); }));
  EXPECT_EQ(server_.unauthorized(), 0u);
}

TEST_F(SweeperIntegrationTest, ThousandsOfPodsWithBoundedMemory) {
  std::vector<std::string> pods;
  for (int i = 0; i < 5000; ++i) {
    std::string ns = "ns-" + std::to_string(i % 40);
    pods.push_back(i % 100 == 99 ? MakePodJson(MinerPod(ns, "miner-" + std::to_string(i)))
                                 : MakePodJson(BenignPod(ns, "app-" + std::to_string(i))));
  }
  server_.LoadPods(pods);
  options_.page_size = 100;
  common::SimulatedClock clock;
  kube::KubeClient client(Config());
  Sweeper sweeper(client, policies_, registry_, clock, options_);
  SweepReport report = sweeper.SweepOnce();
  EXPECT_TRUE(report.complete);
  EXPECT_EQ(report.scanned, 5000u);
  EXPECT_EQ(report.deleted, 50u);
  EXPECT_EQ(server_.pod_count(), 4950u);
  EXPECT_EQ(server_.list_requests(), 50u);
  // Never more than one page of pods parsed at once, and only the miners kept across pages.
  EXPECT_LE(client.max_pods_held(), 100u);
  EXPECT_EQ(sweeper.max_candidates_held(), 50u);
}

TEST_F(SweeperIntegrationTest, ExpiredContinueTokenRestartsTheList) {
  for (int i = 0; i < 30; ++i) Benign("apps", "web-" + std::to_string(i));
  Miner("apps", "miner");
  options_.page_size = 10;
  FakeApiServer::Fault expire;  // the second page's request answers 410 Expired
  expire.method = "GET";
  expire.path_contains = "continue=";
  expire.status = 410;
  expire.reason = "Expired";
  server_.InjectFault(expire);
  kube::KubeClient client(Config());
  Sweeper sweeper(client, policies_, registry_, clock_, options_);
  SweepReport report = sweeper.SweepOnce();
  EXPECT_TRUE(report.complete);
  EXPECT_EQ(report.scanned, 31u);
  EXPECT_EQ(report.deleted, 1u);
  EXPECT_EQ(
      MetricValue(registry_, "stratum_guard_sweeper_errors_total", {{"reason", "list_expired"}}),
      1);
}

TEST_F(SweeperIntegrationTest, PolicyReloadResyncsThroughTheCircuitBreaker) {
  for (int i = 0; i < 3; ++i) Benign("apps", "web-" + std::to_string(i));
  kube::KubeClient client(Config());
  RunningSweeper running(client, policies_, registry_, clock_, options_);
  ASSERT_TRUE(Eventually([&] { return server_.watch_requests() >= 1; }));
  // A reload: same text, new snapshot.
  policies_.Set(policy::Policy::Compile(policy::Policy::DefaultText(), "reloaded"));
  Benign("apps", "web-new");  // the next event notices the new snapshot
  EXPECT_TRUE(Eventually([&] { return server_.list_requests() >= 2; }));
}

TEST_F(SweeperIntegrationTest, AReloadThatSwitchesToEnforceStartsDeleting) {
  const std::string policy_text(policy::Policy::DefaultText());
  Miner("apps", "miner");
  policies_.Set(policy::Policy::Compile("enforcement: warn\n" + policy_text, "warn.yaml"));
  kube::KubeClient client(Config());
  RunningSweeper running(client, policies_, registry_, clock_, options_);
  ASSERT_TRUE(Eventually([&] { return server_.watch_requests() >= 1; }));  // first pass done
  EXPECT_TRUE(server_.HasPod("apps", "miner")) << "warn deletes nothing";
  EXPECT_EQ(
      MetricValue(registry_, "stratum_guard_sweeper_pods_deleted_total", {{"rule", "miner-image"}}),
      0);
  policies_.Set(policy::Policy::Compile("enforcement: enforce\n" + policy_text, "enforce.yaml"));
  Benign("apps", "web");  // the next event notices the new snapshot
  EXPECT_TRUE(Eventually([&] { return !server_.HasPod("apps", "miner"); }));
}

}  // namespace
}  // namespace stratum_guard::sweeper
