#pragma once

#include <gtest/gtest.h>
#include <prometheus/registry.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "kube/kube_config.h"
#include "policy/policy.h"
#include "policy/policy_store.h"
#include "sweeper/sweeper.h"
#include "test/fake_apiserver/fake_apiserver.h"

namespace stratum_guard::sweeper::testing {

// The sweeper with the real client against the fake HTTPS API server on 127.0.0.1, with its
// durations shortened through Options and a temporary directory for the kubeconfig.
class FakeApiServerTest : public ::testing::Test {
 protected:
  FakeApiServerTest() : server_(ServerOptions()), policies_(policy::Policy::Default()) {
    options_.leader_elect = false;
    options_.backoff_initial = std::chrono::milliseconds(50);
    options_.backoff_max = std::chrono::milliseconds(200);
    options_.max_deletions_per_minute = 1000;
    options_.page_size = 50;
  }
  static fake_apiserver::FakeApiServer::Options ServerOptions() {
    fake_apiserver::FakeApiServer::Options o;
    o.bookmark_interval = std::chrono::milliseconds(200);
    return o;
  }
  void SetUp() override {
    server_.Start();
    dir_ = (std::filesystem::temp_directory_path() /
            ("sg-sweep-" + std::to_string(::getpid()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name()))
               .string();
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override {
    server_.Stop();
    std::filesystem::remove_all(dir_);
  }
  kube::ClusterConfig Config(const fake_apiserver::KubeconfigForm& form = {}) {
    return kube::LoadKubeconfig(fake_apiserver::WriteKubeconfig(server_, dir_, form));
  }
  void Miner(const std::string& ns, const std::string& name) {
    server_.AddPod(fake_apiserver::MakePodJson(fake_apiserver::MinerPod(ns, name)));
  }
  void Benign(const std::string& ns, const std::string& name) {
    server_.AddPod(fake_apiserver::MakePodJson(fake_apiserver::BenignPod(ns, name)));
  }
  fake_apiserver::FakeApiServer server_;
  std::string dir_;
  policy::PolicyStore policies_;
  prometheus::Registry registry_;
  common::SystemClock clock_;
  Options options_;
};

}  // namespace stratum_guard::sweeper::testing
