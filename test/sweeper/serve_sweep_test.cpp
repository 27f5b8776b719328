// `stratum-guard serve --sweep`: the sweeper beside the webhook in one process, as the manifests
// deploy it, against the fake API server.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <optional>
#include <string>

#include "test/fake_apiserver/fake_apiserver.h"
#include "test/testing/child_process.h"
#include "test/testing/eventually.h"
#include "test/testing/prometheus_text.h"
#include "test/testing/temp_dir.h"
#include "test/testing/tls_client.h"

namespace stratum_guard::sweeper {
namespace {

using fake_apiserver::BenignPod;
using fake_apiserver::FakeApiServer;
using fake_apiserver::MakePodJson;
using fake_apiserver::MinerPod;
using fake_apiserver::WriteKubeconfig;
using std::chrono::seconds;

TEST(ServeSweepTest, DeletesMinersAndSharesTheWebhooksMetrics) {
  FakeApiServer api;
  api.Start();
  testing::TempDir dir;
  std::string kubeconfig = WriteKubeconfig(api, dir.path());
  for (int i = 0; i < 5; ++i)
    api.AddPod(MakePodJson(BenignPod("shop", "web-" + std::to_string(i))));
  api.AddPod(MakePodJson(MinerPod("team-a", "xmr-1")));
  api.AddPod(MakePodJson(MinerPod("team-b", "xmr-2")));

  testing::ChildProcess server(
      STRATUM_GUARD_BINARY,
      {"serve", "--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0", "--dev-cert-dir",
       dir.File("certs"), "--sweep", "--kubeconfig", kubeconfig, "--leader-elect=false"});
  unsigned short metrics_port = server.WaitForListening("metrics");
  ASSERT_NE(metrics_port, 0);
  ASSERT_TRUE(testing::Eventually([&] { return api.pod_count() == 5; }))
      << "pods left: " << api.pod_count();
  EXPECT_FALSE(api.HasPod("team-a", "xmr-1"));
  EXPECT_FALSE(api.HasPod("team-b", "xmr-2"));
  EXPECT_TRUE(api.HasPod("shop", "web-0"));

  // One registry: the sweeper's counters and the webhook's gauges on the same /metrics. The
  // sweeper counts a deletion after the API server has answered it, so the second count may
  // come a moment after the pod is gone: wait for it rather than read the metric once.
  std::optional<testing::Exposition> exposition;
  std::string error;
  EXPECT_TRUE(testing::Eventually([&] {
    testing::Response response = testing::PlainGet(metrics_port, "/metrics");
    exposition = testing::ParsePrometheusText(response.body(), &error);
    return response.result_int() == 200 && exposition &&
           exposition->Value("stratum_guard_sweeper_pods_deleted_total") >= 2;
  }));
  ASSERT_TRUE(exposition.has_value()) << error;
  EXPECT_EQ(exposition->Value("stratum_guard_sweeper_pods_deleted_total"), 2);
  EXPECT_GE(exposition->Value("stratum_guard_sweeper_pods_scanned_total"), 7);
  EXPECT_GT(exposition->Value("stratum_guard_policy_rules"), 0);

  server.Signal(SIGTERM);
  EXPECT_EQ(server.WaitExit(seconds(30)), 0);
}

TEST(ServeSweepTest, ServeEnforcementReachesTheSweeper) {
  FakeApiServer api;
  api.Start();
  testing::TempDir dir;
  std::string kubeconfig = WriteKubeconfig(api, dir.path());
  api.AddPod(MakePodJson(BenignPod("shop", "web-0")));
  api.AddPod(MakePodJson(MinerPod("team-a", "xmr-1")));

  testing::ChildProcess server(
      STRATUM_GUARD_BINARY, {"serve", "--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0",
                             "--dev-cert-dir", dir.File("certs"), "--sweep", "--kubeconfig",
                             kubeconfig, "--leader-elect=false", "--enforcement=audit"});
  unsigned short metrics_port = server.WaitForListening("metrics");
  ASSERT_NE(metrics_port, 0);
  auto full_pass_done = [&] {
    std::string error;
    auto e =
        testing::ParsePrometheusText(testing::PlainGet(metrics_port, "/metrics").body(), &error);
    return e && e->Value("stratum_guard_sweeper_last_full_sync_timestamp_seconds") > 0;
  };
  ASSERT_TRUE(testing::Eventually(full_pass_done));
  EXPECT_TRUE(api.HasPod("team-a", "xmr-1")) << "audit deletes nothing";
  EXPECT_EQ(api.requests("DELETE"), 0u);
  server.Signal(SIGTERM);
  EXPECT_EQ(server.WaitExit(seconds(30)), 0);
}

TEST(ServeSweepTest, ASweeperThatCannotStartStopsTheProcess) {
  testing::TempDir dir;
  std::string kubeconfig = dir.Write("kubeconfig", "apiVersion: v1\nkind: Config\nclusters: []\n");
  testing::ChildProcess server(
      STRATUM_GUARD_BINARY,
      {"serve", "--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0", "--dev-cert-dir",
       dir.File("certs"), "--sweep", "--kubeconfig", kubeconfig, "--leader-elect=false"});
  EXPECT_EQ(server.WaitExit(seconds(30)), 1);
  EXPECT_FALSE(server.LogsWithMsg("the sweeper stopped").empty());
}

TEST(ServeSweepTest, ExitsPromptlyOnSigtermWhileTheApiServerHangs) {
  FakeApiServer api;
  api.Start();
  api.SetStalled(true);
  testing::TempDir dir;
  std::string kubeconfig = WriteKubeconfig(api, dir.path());
  testing::ChildProcess server(
      STRATUM_GUARD_BINARY,
      {"serve", "--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0", "--dev-cert-dir",
       dir.File("certs"), "--sweep", "--kubeconfig", kubeconfig, "--leader-elect=false"});
  ASSERT_TRUE(api.WaitForStalledRequest(seconds(30)));
  server.Signal(SIGTERM);
  // The request timeout is 30 s: only cancelling the call stops it within the grace (2 s).
  EXPECT_EQ(server.WaitExit(seconds(10)), 0);
  // The webhook went unready and drained first, not after the sweeper's stalled call ended.
  const std::vector<std::string> lines = server.Lines();
  auto position = [&](std::string_view msg) {
    for (std::size_t i = 0; i < lines.size(); ++i) {
      if (lines[i].find("\"msg\":\"" + std::string(msg) + "\"") != std::string::npos) return i;
    }
    return lines.size();
  };
  ASSERT_LT(position("shutting down"), lines.size());
  ASSERT_LT(position("sweeper: stopped"), lines.size()) << "the order below needs both lines";
  EXPECT_LT(position("shutting down"), position("sweeper: stopped"));
}

}  // namespace
}  // namespace stratum_guard::sweeper
