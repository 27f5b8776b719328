// `stratum-guard sweep` as a process against the fake API server.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "test/fake_apiserver/fake_apiserver.h"

extern char** environ;

namespace stratum_guard::sweeper {
namespace {

using fake_apiserver::BenignPod;
using fake_apiserver::FakeApiServer;
using fake_apiserver::MakePodJson;
using fake_apiserver::MinerPod;
using fake_apiserver::WriteKubeconfig;

struct Process {
  pid_t pid = -1;
  std::string out_path;
  std::string err_path;
  int Wait(int timeout_s = 60) {
    for (int i = 0; i < timeout_s * 50; ++i) {
      int status = 0;
      if (waitpid(pid, &status, WNOHANG) == pid) {
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    return -1;
  }
  std::string Out() const { return Slurp(out_path); }
  std::string Err() const { return Slurp(err_path); }
  static std::string Slurp(const std::string& path) {
    std::ifstream in(path);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }
};

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
  Process Start(std::vector<std::string> args) {
    Process p;
    p.out_path = dir_ + "/out-" + std::to_string(runs_);
    p.err_path = dir_ + "/err-" + std::to_string(runs_++);
    args.insert(args.begin(), STRATUM_GUARD_BINARY);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, p.out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                     0600);
    posix_spawn_file_actions_addopen(&actions, 2, p.err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                     0600);
    EXPECT_EQ(posix_spawn(&p.pid, STRATUM_GUARD_BINARY, &actions, nullptr, argv.data(), environ),
              0);
    posix_spawn_file_actions_destroy(&actions);
    return p;
  }

  FakeApiServer server_;
  std::string dir_;
  std::string kubeconfig_;
  int runs_ = 0;
};

TEST_F(SweepCommandTest, OnceDryRunPrintsTheReport) {
  Process p = Start({"sweep", "--once", "--dry-run", "--kubeconfig", kubeconfig_});
  EXPECT_EQ(p.Wait(), 0) << p.Err();
  std::string out = p.Out();
  EXPECT_NE(out.find("pods scanned: 14"), std::string::npos) << out;
  EXPECT_NE(out.find("would delete: 2"), std::string::npos) << out;
  EXPECT_NE(out.find("team-a/xmr-1"), std::string::npos) << out;
  EXPECT_NE(out.find("team-b/xmr-2"), std::string::npos) << out;
  EXPECT_NE(out.find("stratum+tcp://"), std::string::npos) << out;  // evidence
  EXPECT_EQ(server_.requests("DELETE"), 0u);
  EXPECT_EQ(server_.pod_count(), 14u);
}

TEST_F(SweepCommandTest, OnceDeletes) {
  Process p = Start({"sweep", "--once", "--kubeconfig", kubeconfig_, "--page-size", "5"});
  EXPECT_EQ(p.Wait(), 0) << p.Err();
  EXPECT_NE(p.Out().find("deleted: 2"), std::string::npos) << p.Out();
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
  Process p = Start({"sweep", "--once", "--kubeconfig", kubeconfig_});
  EXPECT_EQ(p.Wait(), 1) << p.Err();
  EXPECT_NE(p.Out().find("list pods: 403 Forbidden"), std::string::npos) << p.Out();
}

TEST_F(SweepCommandTest, BadConfigurationExitsTwo) {
  Process missing = Start({"sweep", "--once", "--kubeconfig", dir_ + "/nope"});
  EXPECT_EQ(missing.Wait(), 2);
  EXPECT_NE(missing.Err().find("kubeconfig"), std::string::npos) << missing.Err();
  Process bad_flag = Start({"sweep", "--once", "--resync-period", "soon"});
  EXPECT_EQ(bad_flag.Wait(), 2);
  Process bad_lease = Start({"sweep", "--kubeconfig", kubeconfig_, "--renew-deadline", "20s"});
  EXPECT_EQ(bad_lease.Wait(), 2);
  EXPECT_NE(bad_lease.Err().find("--renew-deadline must be shorter"), std::string::npos);
}

TEST_F(SweepCommandTest, RunsUntilSigtermThenExitsZero) {
  Process p = Start({"sweep", "--kubeconfig", kubeconfig_, "--lease-duration", "2s",
                     "--renew-deadline", "1500ms", "--retry-period", "200ms"});
  for (int i = 0; i < 1500 && server_.pod_count() != 12; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(server_.pod_count(), 12u) << p.Err();
  for (int i = 0; i < 1500 && server_.watch_requests() == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  kill(p.pid, SIGTERM);
  EXPECT_EQ(p.Wait(), 0) << p.Err();
  // It took the Lease in its default namespace, and released it on the way out.
  auto lease = server_.lease_json("stratum-guard", "stratum-guard-sweeper");
  ASSERT_TRUE(lease);
  EXPECT_NE(lease->find("\"holderIdentity\":\"\""), std::string::npos) << *lease;
}

}  // namespace
}  // namespace stratum_guard::sweeper
