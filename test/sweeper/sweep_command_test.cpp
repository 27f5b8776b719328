// `stratum-guard sweep` as a process against the fake API server.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>

#include "test/fake_apiserver/fake_apiserver.h"
#include "test/testing/child_process.h"
#include "test/testing/eventually.h"
#include "test/testing/prometheus_text.h"
#include "test/testing/tls_client.h"

namespace stratum_guard::sweeper {
namespace {

using fake_apiserver::BenignPod;
using fake_apiserver::FakeApiServer;
using fake_apiserver::KubeconfigForm;
using fake_apiserver::MakePodJson;
using fake_apiserver::MinerPod;
using fake_apiserver::WriteKubeconfig;
using fake_apiserver::WriteScript;
using std::chrono::seconds;
using stratum_guard::testing::Eventually;

// The child's stdout (the --once report) and stderr (log lines), as one text.
std::string Output(const testing::ChildProcess& p) {
  std::string all;
  for (const std::string& line : p.Lines()) all += line + "\n";
  return all;
}

int Exit(testing::ChildProcess& p) { return p.WaitExit(std::chrono::seconds(60)).value_or(-1); }

class SweepCommandTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_.Start();
    dir_ = (std::filesystem::temp_directory_path() /
            ("sg-cli-" + std::to_string(::getpid()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name()))
               .string();
    std::filesystem::create_directories(dir_);
    kubeconfig_ = WriteKubeconfig(server_, dir_);
    for (int i = 0; i < 12; ++i) {
      server_.AddPod(
          MakePodJson(BenignPod("ns-" + std::to_string(i % 3), "web-" + std::to_string(i))));
    }
    server_.AddPod(MakePodJson(MinerPod("team-a", "xmr-1")));
    server_.AddPod(MakePodJson(MinerPod("team-b", "xmr-2")));
  }
  void TearDown() override {
    server_.Stop();
    std::filesystem::remove_all(dir_);
  }
  std::unique_ptr<testing::ChildProcess> Start(const std::vector<std::string>& args) {
    return std::make_unique<testing::ChildProcess>(STRATUM_GUARD_BINARY, args);
  }

  FakeApiServer server_;
  std::string dir_;
  std::string kubeconfig_;
};

TEST_F(SweepCommandTest, OnceDryRunPrintsTheReport) {
  auto p = Start({"sweep", "--once", "--dry-run", "--kubeconfig", kubeconfig_});
  EXPECT_EQ(Exit(*p), 0) << Output(*p);
  std::string out = Output(*p);
  EXPECT_NE(out.find("pods scanned: 14"), std::string::npos) << out;
  EXPECT_NE(out.find("would delete: 2"), std::string::npos) << out;
  EXPECT_NE(out.find("team-a/xmr-1"), std::string::npos) << out;
  EXPECT_NE(out.find("team-b/xmr-2"), std::string::npos) << out;
  EXPECT_NE(out.find("stratum+tcp://"), std::string::npos) << out;  // evidence
  EXPECT_EQ(server_.requests("DELETE"), 0u);
  EXPECT_EQ(server_.pod_count(), 14u);
}

TEST_F(SweepCommandTest, OnceDeletes) {
  auto p = Start({"sweep", "--once", "--kubeconfig", kubeconfig_, "--page-size", "5"});
  EXPECT_EQ(Exit(*p), 0) << Output(*p);
  EXPECT_NE(Output(*p).find("deleted: 2"), std::string::npos) << Output(*p);
  EXPECT_FALSE(server_.HasPod("team-a", "xmr-1"));
  EXPECT_EQ(server_.pod_count(), 12u);
}

TEST_F(SweepCommandTest, OnceExitsOneOnApiErrors) {
  FakeApiServer::Fault fault;
  fault.method = "GET";
  fault.status = 403;
  fault.reason = "Forbidden";
  fault.times = 100;
  server_.InjectFault(fault);
  auto p = Start({"sweep", "--once", "--kubeconfig", kubeconfig_});
  EXPECT_EQ(Exit(*p), 1) << Output(*p);
  EXPECT_NE(Output(*p).find("list pods: 403 Forbidden"), std::string::npos) << Output(*p);
}

TEST_F(SweepCommandTest, OnceWithEnforcementWarnDeletesNothing) {
  auto p = Start({"sweep", "--once", "--enforcement=warn", "--kubeconfig", kubeconfig_});
  EXPECT_EQ(Exit(*p), 0) << Output(*p);
  EXPECT_NE(Output(*p).find("stratum-guard sweep (enforcement warn)"), std::string::npos)
      << Output(*p);
  EXPECT_NE(Output(*p).find("would delete: 2"), std::string::npos) << Output(*p);
  EXPECT_EQ(server_.requests("DELETE"), 0u);
  EXPECT_EQ(server_.pod_count(), 14u);
}

TEST_F(SweepCommandTest, BadEnforcementExitsTwo) {
  auto bad_flag = Start({"sweep", "--once", "--kubeconfig", kubeconfig_, "--enforcement", "off"});
  EXPECT_EQ(Exit(*bad_flag), 2);
  EXPECT_NE(Output(*bad_flag).find("must be enforce, warn or audit, not \"off\""),
            std::string::npos)
      << Output(*bad_flag);
  const std::string policy = dir_ + "/policy.yaml";
  std::ofstream(policy) << "enforcement: off\nversion: 1\nrules:\n"
                           "  - {id: r, description: d, action: deny, match: {patterns: [x]}}\n"
                           "end: stratum-guard-policy\n";
  auto bad_policy = Start({"sweep", "--once", "--kubeconfig", kubeconfig_, "--policy", policy});
  EXPECT_EQ(Exit(*bad_policy), 2);
  EXPECT_NE(Output(*bad_policy).find(policy + ":1: unknown enforcement \"off\""), std::string::npos)
      << Output(*bad_policy);
  EXPECT_EQ(server_.requests("DELETE"), 0u);
}

TEST_F(SweepCommandTest, OnceWritesPolicyReportsUnlessTurnedOff) {
  auto off = Start(
      {"sweep", "--once", "--dry-run", "--policy-reports=false", "--kubeconfig", kubeconfig_});
  EXPECT_EQ(Exit(*off), 0) << Output(*off);
  EXPECT_EQ(server_.policy_report_count(), 0u);

  auto on = Start({"sweep", "--once", "--dry-run", "--kubeconfig", kubeconfig_});
  EXPECT_EQ(Exit(*on), 0) << Output(*on);
  EXPECT_TRUE(server_.policy_report_json("team-a", "stratum-guard").has_value());
  EXPECT_TRUE(server_.policy_report_json("team-b", "stratum-guard").has_value());
  EXPECT_EQ(server_.policy_report_count(), 2u);

  auto bad = Start({"sweep", "--once", "--policy-reports=maybe", "--kubeconfig", kubeconfig_});
  EXPECT_EQ(Exit(*bad), 2);
  EXPECT_NE(Output(*bad).find("--policy-reports"), std::string::npos) << Output(*bad);
}

TEST_F(SweepCommandTest, WithoutTheCrdOnceStillSweepsAndSaysSoOnce) {
  server_.SetPolicyReportsInstalled(false);
  auto p = Start({"sweep", "--once", "--kubeconfig", kubeconfig_});
  EXPECT_EQ(Exit(*p), 0) << Output(*p);
  EXPECT_EQ(server_.pod_count(), 12u);
  std::string out = Output(*p);
  const std::string line = "PolicyReport CRD (wgpolicyk8s.io/v1alpha2) not installed";
  ASSERT_NE(out.find(line), std::string::npos) << out;
  EXPECT_EQ(out.find(line), out.rfind(line)) << out;
}

TEST_F(SweepCommandTest, BadConfigurationExitsTwo) {
  auto missing = Start({"sweep", "--once", "--kubeconfig", dir_ + "/nope"});
  EXPECT_EQ(Exit(*missing), 2);
  EXPECT_NE(Output(*missing).find("kubeconfig"), std::string::npos) << Output(*missing);
  auto bad_flag = Start({"sweep", "--once", "--resync-period", "soon"});
  EXPECT_EQ(Exit(*bad_flag), 2);
  auto bad_lease = Start({"sweep", "--kubeconfig", kubeconfig_, "--renew-deadline", "20s"});
  EXPECT_EQ(Exit(*bad_lease), 2);
  EXPECT_NE(Output(*bad_lease).find("--renew-deadline must be shorter"), std::string::npos);
}

TEST_F(SweepCommandTest, RunsUntilSigtermThenExitsZero) {
  auto p = Start({"sweep", "--kubeconfig", kubeconfig_, "--lease-duration", "2s",
                  "--renew-deadline", "1500ms", "--retry-period", "200ms"});
  EXPECT_TRUE(Eventually([&] { return server_.pod_count() == 12; })) << Output(*p);
  // Watching: the full pass is over, and SIGTERM finds it in its steady state.
  EXPECT_TRUE(Eventually([&] { return server_.watch_requests() > 0; })) << Output(*p);
  p->Signal(SIGTERM);
  EXPECT_EQ(Exit(*p), 0) << Output(*p);
  // It took the Lease in its default namespace, and released it on the way out.
  auto lease = server_.lease_json("stratum-guard", "stratum-guard-sweeper");
  ASSERT_TRUE(lease);
  EXPECT_NE(lease->find("\"holderIdentity\":\"\""), std::string::npos) << *lease;
}

TEST_F(SweepCommandTest, ExitsPromptlyOnSigtermWhileTheApiServerHangs) {
  server_.SetStalled(true);
  auto p = Start({"sweep", "--kubeconfig", kubeconfig_, "--leader-elect=false"});
  ASSERT_TRUE(server_.WaitForStalledRequest(seconds(30))) << Output(*p);
  p->Signal(SIGTERM);
  // The request timeout is 30 s: only cancelling the call stops it within the grace (2 s).
  EXPECT_EQ(p->WaitExit(seconds(10)), 0) << Output(*p);
}

TEST_F(SweepCommandTest, OnceWithAnExecCredentialPlugin) {
  KubeconfigForm form;
  form.auth = KubeconfigForm::Auth::kExec;
  form.exec_command =
      WriteScript(dir_, "plugin",
                  "echo '{\"apiVersion\":\"client.authentication.k8s.io/v1\","
                  "\"kind\":\"ExecCredential\",\"status\":{\"token\":\"test-token\"}}'\n");
  std::string kubeconfig = WriteKubeconfig(server_, dir_ + "/exec", form);
  auto p = Start({"sweep", "--once", "--dry-run", "--kubeconfig", kubeconfig});
  EXPECT_EQ(Exit(*p), 0) << Output(*p);
  EXPECT_NE(Output(*p).find("pods scanned: 14"), std::string::npos) << Output(*p);
  EXPECT_EQ(server_.unauthorized(), 0u);
}

// A policy with one rule that denies pods whose command, args or env match `pattern`.
std::string PolicyDenying(const std::string& pattern) {
  return "version: 1\nrules:\n  - id: canary\n    description: test rule\n    action: deny\n"
         "    match:\n      patterns: ['" +
         pattern + "']\nend: stratum-guard-policy\n";
}

std::string CanaryPod(const std::string& name) {
  fake_apiserver::PodTemplate pod = BenignPod("shop", name);
  pod.env.emplace_back("CANARY", "condemn-me");
  return MakePodJson(pod);
}

TEST_F(SweepCommandTest, ReloadsItsPolicyAndKeepsTheLastGoodOne) {
  server_.AddPod(CanaryPod("canary-1"));
  std::string policy = dir_ + "/policy.yaml";
  auto write = [&](const std::string& text) {
    std::ofstream(policy + ".tmp") << text;
    std::filesystem::rename(policy + ".tmp", policy);  // as an editor or a ConfigMap swaps
  };
  write(PolicyDenying("nothing-matches-this"));
  // The default resync period (10m): the new policy must reach canary-1, which never changes,
  // through the watch (its bookmarks come every second from the fake).
  auto p = Start({"sweep", "--kubeconfig", kubeconfig_, "--leader-elect=false", "--policy", policy,
                  "--reload-interval", "100ms"});
  ASSERT_TRUE(p->WaitForLog("sweeper: full pass done", {}, seconds(30))) << Output(*p);
  EXPECT_EQ(server_.requests("DELETE"), 0u);  // not even the miners: the policy replaced them

  write(PolicyDenying("condemn-me"));
  ASSERT_TRUE(p->WaitForLog("reloaded", {{"config", "policy"}}, seconds(30))) << Output(*p);
  ASSERT_TRUE(p->WaitForLog("sweeper: policy changed, resyncing", {}, seconds(30))) << Output(*p);
  ASSERT_TRUE(p->WaitForLog("sweeper: deleted miner pod", {{"pod", "canary-1"}}, seconds(30)))
      << Output(*p);
  EXPECT_FALSE(server_.HasPod("shop", "canary-1"));

  write("version: 1\nrules: [\n");
  ASSERT_TRUE(p->WaitForLog("reload failed, keeping the configuration in force",
                            {{"config", "policy"}}, seconds(30)))
      << Output(*p);
  server_.AddPod(CanaryPod("canary-2"));
  ASSERT_TRUE(p->WaitForLog("sweeper: deleted miner pod", {{"pod", "canary-2"}}, seconds(30)))
      << Output(*p);
  EXPECT_TRUE(server_.HasPod("team-a", "xmr-1"));  // the default policy never came back

  p->Signal(SIGTERM);
  EXPECT_EQ(Exit(*p), 0) << Output(*p);
}

TEST_F(SweepCommandTest, ABadReloadIntervalExitsTwo) {
  auto p = Start({"sweep", "--kubeconfig", kubeconfig_, "--reload-interval", "often"});
  EXPECT_EQ(Exit(*p), 2);
  EXPECT_NE(Output(*p).find("--reload-interval"), std::string::npos) << Output(*p);
}

// `sweep` alone serves its metrics when asked, with every rule's series born at zero: an alert
// on increase() must see the first deletion under any rule.
TEST_F(SweepCommandTest, ServesItsMetricsWhenGivenMetricsListen) {
  auto p = Start({"sweep", "--kubeconfig", kubeconfig_, "--leader-elect=false", "--metrics-listen",
                  "127.0.0.1:0"});
  const unsigned short port = p->WaitForListening("metrics");
  ASSERT_NE(port, 0) << Output(*p);
  ASSERT_TRUE(p->WaitForLog("sweeper: full pass done", {}, seconds(30))) << Output(*p);
  testing::Response r = testing::PlainGet(port, "/metrics");
  ASSERT_EQ(r.result_int(), 200u);
  std::string error;
  auto metrics = testing::ParsePrometheusText(r.body(), &error);
  ASSERT_TRUE(metrics) << error;
  EXPECT_EQ(metrics->Value("stratum_guard_sweeper_pods_deleted_total", {{"rule", "miner-image"}}),
            2);
  EXPECT_EQ(metrics->Sum("stratum_guard_sweeper_pods_deleted_total", {{"rule", "stratum-url"}}),
            std::optional<double>(0))
      << "a deny rule's series exists before its first deletion";
  EXPECT_EQ(metrics->Sum("stratum_guard_sweeper_pods_detected_total",
                         {{"rule", "download-exec"}, {"action", "warn"}}),
            std::optional<double>(0));
  EXPECT_GT(metrics->Value("stratum_guard_policy_rules"), 0);
  EXPECT_TRUE(metrics->Sum("stratum_guard_policy_reloads_total", {{"result", "error"}}));
  EXPECT_GT(metrics->Value("process_resident_memory_bytes"), 0);
  EXPECT_EQ(metrics->types.count("stratum_guard_admission_requests_total"), 0u)
      << "no webhook runs here";
  p->Signal(SIGTERM);
  EXPECT_EQ(Exit(*p), 0) << Output(*p);
}

TEST_F(SweepCommandTest, MetricsListenRefusesABadAddressAndOnce) {
  auto bad = Start({"sweep", "--kubeconfig", kubeconfig_, "--metrics-listen", "nowhere:port"});
  EXPECT_EQ(Exit(*bad), 2) << Output(*bad);
  EXPECT_NE(Output(*bad).find("cannot start the metrics listener"), std::string::npos)
      << Output(*bad);
  auto once = Start({"sweep", "--once", "--kubeconfig", kubeconfig_, "--metrics-listen", ":0"});
  EXPECT_EQ(Exit(*once), 2) << Output(*once);
  EXPECT_NE(Output(*once).find("--metrics-listen"), std::string::npos) << Output(*once);
}

}  // namespace
}  // namespace stratum_guard::sweeper
