// `stratum-guard sweep` as a process against the fake API server.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <memory>

#include "test/fake_apiserver/fake_apiserver.h"
#include "test/testing/child_process.h"
#include "test/testing/eventually.h"

namespace stratum_guard::sweeper {
namespace {

using fake_apiserver::BenignPod;
using fake_apiserver::FakeApiServer;
using fake_apiserver::MakePodJson;
using fake_apiserver::MinerPod;
using fake_apiserver::WriteKubeconfig;
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

}  // namespace
}  // namespace stratum_guard::sweeper
