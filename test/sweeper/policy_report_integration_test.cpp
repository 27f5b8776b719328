// PolicyReports written by the sweeper with the real client against the fake HTTPS API server,
// whose policyreports resource follows the API's semantics (201/409/404, resourceVersion
// conflicts) and can be "not installed" (404 for the whole group).
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <filesystem>
#include <set>

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
using fake_apiserver::MakePodJson;
using fake_apiserver::PodTemplate;
using stratum_guard::testing::Eventually;
using testing::MetricValue;
using testing::RunningSweeper;

constexpr const char* kMetric = "stratum_guard_sweeper_policy_reports_total";

// The `times` calls of `method` on a target containing `path` from now on get `status`.
fake_apiserver::FakeApiServer::Fault Fault(std::string method, std::string path, int status,
                                           std::string reason, int times = 1) {
  fake_apiserver::FakeApiServer::Fault fault;
  fault.method = std::move(method);
  fault.path_contains = std::move(path);
  fault.status = status;
  fault.reason = std::move(reason);
  fault.times = times;
  return fault;
}

class PolicyReportIntegrationTest : public testing::FakeApiServerTest {
 protected:
  PolicyReportIntegrationTest() { options_.dry_run = true; }
  void SetUp() override {
    FakeApiServerTest::SetUp();
    client_ = std::make_unique<kube::KubeClient>(Config());
  }
  void TearDown() override {
    client_.reset();
    FakeApiServerTest::TearDown();
  }
  // A miner option alone: a warn finding, nothing to delete.
  void Suspicious(const std::string& ns, const std::string& name) {
    PodTemplate pod = BenignPod(ns, name);
    pod.args = {"--donate-level", "1"};
    server_.AddPod(MakePodJson(pod));
  }
  // The stored report of `ns`, parsed; a null document when there is none.
  rapidjson::Document Report(const std::string& ns) {
    rapidjson::Document doc;
    if (auto json = server_.policy_report_json(ns, "stratum-guard")) doc.Parse(json->c_str());
    return doc;
  }
  // The pods the results of `ns`'s report name.
  std::set<std::string> Subjects(const std::string& ns) {
    std::set<std::string> names;
    rapidjson::Document doc = Report(ns);
    if (!doc.IsObject()) return names;
    for (const auto& r : doc["results"].GetArray()) {
      names.insert(r["resources"][0]["name"].GetString());
    }
    return names;
  }
  double Calls(const std::string& operation, const std::string& result) {
    return MetricValue(registry_, kMetric, {{"operation", operation}, {"result", result}});
  }

  std::unique_ptr<kube::KubeClient> client_;
};

TEST_F(PolicyReportIntegrationTest, OneReportPerNamespaceWithFindingsNoneElsewhere) {
  Miner("apps", "xmrig-1");
  Miner("apps", "xmrig-2");
  Suspicious("batch", "tuner");
  Benign("web", "shop");
  Sweeper sweeper(*client_, policies_, registry_, clock_, options_);
  SweepReport report = sweeper.SweepOnce();
  ASSERT_TRUE(report.complete);
  EXPECT_EQ(server_.policy_report_count(), 2u);
  EXPECT_FALSE(server_.policy_report_json("web", "stratum-guard"));

  rapidjson::Document apps = Report("apps");
  ASSERT_TRUE(apps.IsObject());
  const auto& summary = apps["summary"];
  EXPECT_GE(summary["fail"].GetInt(), 2);  // at least one deny finding per miner
  EXPECT_EQ(summary["pass"].GetInt(), 0);
  int fails = 0;
  for (const auto& r : apps["results"].GetArray()) {
    if (std::string(r["result"].GetString()) == "fail") ++fails;
    EXPECT_FALSE(std::string(r["resources"][0]["uid"].GetString()).empty());
  }
  EXPECT_EQ(fails, summary["fail"].GetInt());
  EXPECT_EQ(Subjects("apps"), (std::set<std::string>{"xmrig-1", "xmrig-2"}));
  // Dry run: the miners are still there, and so are their reports.
  EXPECT_TRUE(server_.HasPod("apps", "xmrig-1"));

  rapidjson::Document batch = Report("batch");
  ASSERT_TRUE(batch.IsObject());
  EXPECT_EQ(batch["summary"]["fail"].GetInt(), 0);
  EXPECT_EQ(batch["summary"]["warn"].GetInt(), 1);
  EXPECT_STREQ(batch["results"][0]["rule"].GetString(), "miner-flag");
  EXPECT_STREQ(batch["results"][0]["severity"].GetString(), "medium");
  EXPECT_EQ(Calls("create", "ok"), 2);
  EXPECT_EQ(Calls("list", "ok"), 1);
}

TEST_F(PolicyReportIntegrationTest, AnUnchangedReportIsNotWrittenAgain) {
  Miner("apps", "xmrig");
  Sweeper sweeper(*client_, policies_, registry_, clock_, options_);
  sweeper.SweepOnce();
  ASSERT_EQ(server_.policy_report_writes(), 1u);
  sweeper.SweepOnce();
  sweeper.SweepOnce();
  EXPECT_EQ(server_.policy_report_writes(), 1u);
  EXPECT_EQ(Calls("update", "ok"), 0);

  // A restarted sweeper knows the report only from the API server, by its hash annotation.
  prometheus::Registry other_registry;
  Sweeper restarted(*client_, policies_, other_registry, clock_, options_);
  restarted.SweepOnce();
  EXPECT_EQ(server_.policy_report_writes(), 1u);

  Suspicious("apps", "tuner");
  sweeper.SweepOnce();
  EXPECT_EQ(server_.policy_report_writes(), 2u);
  EXPECT_EQ(Calls("update", "ok"), 1);
  EXPECT_EQ(Subjects("apps"), (std::set<std::string>{"xmrig", "tuner"}));
}

TEST_F(PolicyReportIntegrationTest, ANamespaceWithoutFindingsLosesItsReport) {
  Miner("apps", "xmrig");
  Miner("batch", "xmrig");
  {
    Sweeper sweeper(*client_, policies_, registry_, clock_, options_);
    sweeper.SweepOnce();
  }
  ASSERT_EQ(server_.policy_report_count(), 2u);
  ASSERT_TRUE(server_.RemovePod("apps", "xmrig"));
  // A new process: the stale report is found through the list and deleted.
  prometheus::Registry other_registry;
  Sweeper sweeper(*client_, policies_, other_registry, clock_, options_);
  sweeper.SweepOnce();
  EXPECT_FALSE(server_.policy_report_json("apps", "stratum-guard"));
  EXPECT_TRUE(server_.policy_report_json("batch", "stratum-guard"));
  EXPECT_EQ(MetricValue(other_registry, kMetric, {{"operation", "delete"}, {"result", "ok"}}), 1);
}

TEST_F(PolicyReportIntegrationTest, AnIncompleteListDeletesNoReport) {
  Miner("apps", "xmrig");
  Sweeper sweeper(*client_, policies_, registry_, clock_, options_);
  sweeper.SweepOnce();
  ASSERT_EQ(server_.policy_report_count(), 1u);
  ASSERT_TRUE(server_.RemovePod("apps", "xmrig"));
  // Every list page fails: the pass proves nothing about apps, its report stays.
  server_.InjectFault(Fault("GET", "/api/v1/pods", 500, "InternalError", 100));
  SweepReport report = sweeper.SweepOnce();
  EXPECT_FALSE(report.complete);
  EXPECT_TRUE(server_.policy_report_json("apps", "stratum-guard"));
  EXPECT_EQ(Calls("list", "ok"), 1);  // not even looked at
  server_.ClearFaults();
  sweeper.SweepOnce();
  EXPECT_FALSE(server_.policy_report_json("apps", "stratum-guard"));
}

TEST_F(PolicyReportIntegrationTest, ReportsFollowPodsAsTheyComeAndGo) {
  options_.resync_period = std::chrono::hours(1);  // everything below arrives by the watch
  Miner("apps", "xmrig");
  RunningSweeper running(*client_, policies_, registry_, clock_, options_);
  ASSERT_TRUE(Eventually([&] { return server_.policy_report_count() == 1; }));
  ASSERT_TRUE(Eventually([&] { return server_.watch_requests() >= 1; }));

  Miner("batch", "cpuminer");
  EXPECT_TRUE(
      Eventually([&] { return server_.policy_report_json("batch", "stratum-guard").has_value(); }));

  Miner("apps", "xmrig-2");
  EXPECT_TRUE(Eventually([&] {
    return Subjects("apps") == std::set<std::string>{"xmrig", "xmrig-2"};
  }));

  ASSERT_TRUE(server_.RemovePod("batch", "cpuminer"));
  EXPECT_TRUE(Eventually([&] { return !server_.policy_report_json("batch", "stratum-guard"); }));
  ASSERT_TRUE(server_.RemovePod("apps", "xmrig"));
  ASSERT_TRUE(server_.RemovePod("apps", "xmrig-2"));
  EXPECT_TRUE(Eventually([&] { return server_.policy_report_count() == 0; }));
  EXPECT_EQ(server_.list_requests(), 1u);  // all of it through the watch
}

TEST_F(PolicyReportIntegrationTest, ADeletedMinerLeavesNoResultBehind) {
  options_.dry_run = false;
  Miner("apps", "xmrig");
  Suspicious("apps", "tuner");
  Sweeper sweeper(*client_, policies_, registry_, clock_, options_);
  SweepReport report = sweeper.SweepOnce();
  EXPECT_EQ(report.deleted, 1u);
  rapidjson::Document apps = Report("apps");
  ASSERT_TRUE(apps.IsObject());
  EXPECT_EQ(apps["summary"]["fail"].GetInt(), 0);
  EXPECT_EQ(Subjects("apps"), std::set<std::string>{"tuner"});
}

TEST_F(PolicyReportIntegrationTest, WithoutTheCrdTheSweeperSweepsAndFindsItLater) {
  server_.SetPolicyReportsInstalled(false);
  options_.dry_run = false;
  Miner("apps", "xmrig");
  Suspicious("batch", "tuner");
  Sweeper sweeper(*client_, policies_, registry_, clock_, options_);
  SweepReport report = sweeper.SweepOnce();
  EXPECT_EQ(report.deleted, 1u);
  EXPECT_FALSE(server_.HasPod("apps", "xmrig"));
  EXPECT_EQ(Calls("list", "not_installed"), 1);
  EXPECT_EQ(Calls("create", "ok"), 0);
  EXPECT_EQ(Calls("create", "error"), 0);  // not even tried

  server_.SetPolicyReportsInstalled(true);
  sweeper.SweepOnce();
  EXPECT_TRUE(server_.policy_report_json("batch", "stratum-guard"));
  EXPECT_EQ(Calls("list", "ok"), 1);
  EXPECT_EQ(Calls("create", "ok"), 1);
}

TEST_F(PolicyReportIntegrationTest, AStaleResourceVersionIsReReadAndTheUpdateRetried) {
  // A full pass lists the reports first, so it never holds a stale version: the watch does.
  options_.resync_period = std::chrono::hours(1);
  Miner("apps", "xmrig");
  RunningSweeper running(*client_, policies_, registry_, clock_, options_);
  ASSERT_TRUE(Eventually([&] { return server_.policy_report_count() == 1; }));
  ASSERT_TRUE(Eventually([&] { return server_.watch_requests() >= 1; }));
  ASSERT_TRUE(server_.BumpPolicyReport("apps", "stratum-guard"));  // another writer
  Suspicious("apps", "tuner");
  EXPECT_TRUE(Eventually([&] { return Calls("update", "ok") == 1; }));
  EXPECT_EQ(Calls("update", "conflict"), 1);
  EXPECT_EQ(Subjects("apps"), (std::set<std::string>{"xmrig", "tuner"}));
}

TEST_F(PolicyReportIntegrationTest, AlreadyExistsOnCreateIsReReadAndRetried) {
  Miner("apps", "xmrig");
  server_.InjectFault(Fault("POST", "policyreports", 409, "AlreadyExists"));
  Sweeper sweeper(*client_, policies_, registry_, clock_, options_);
  sweeper.SweepOnce();
  EXPECT_EQ(Calls("create", "conflict"), 1);
  EXPECT_EQ(Calls("create", "ok"), 1);
  EXPECT_TRUE(server_.policy_report_json("apps", "stratum-guard"));
}

TEST_F(PolicyReportIntegrationTest, ConflictsWithoutEndAreGivenUpAndCounted) {
  Miner("apps", "xmrig");
  server_.InjectFault(Fault("POST", "policyreports", 409, "AlreadyExists", 100));
  Sweeper sweeper(*client_, policies_, registry_, clock_, options_);
  SweepReport report = sweeper.SweepOnce();
  EXPECT_TRUE(report.complete);
  EXPECT_EQ(Calls("create", "conflict"), 3);
  EXPECT_EQ(Calls("create", "error"), 1);
  EXPECT_EQ(server_.policy_report_count(), 0u);
}

TEST_F(PolicyReportIntegrationTest, FailedWritesAreCountedAndNeverStopDeletion) {
  options_.dry_run = false;
  Miner("apps", "xmrig");
  Suspicious("apps", "tuner");
  server_.InjectFault(Fault("POST", "policyreports", 500, "InternalError", 100));
  Sweeper sweeper(*client_, policies_, registry_, clock_, options_);
  SweepReport report = sweeper.SweepOnce();
  EXPECT_EQ(report.deleted, 1u);
  EXPECT_TRUE(report.errors.empty());
  EXPECT_EQ(Calls("create", "error"), 1);
  EXPECT_EQ(server_.policy_report_count(), 0u);

  // The next pass tries again.
  server_.ClearFaults();
  sweeper.SweepOnce();
  EXPECT_TRUE(server_.policy_report_json("apps", "stratum-guard"));
}

TEST_F(PolicyReportIntegrationTest, AFailedListSkipsReportsForThePassOnly) {
  options_.dry_run = false;
  Miner("apps", "xmrig");
  Suspicious("batch", "tuner");
  server_.InjectFault(
      Fault("GET", "wgpolicyk8s.io/v1alpha2/policyreports", 503, "ServiceUnavailable"));
  Sweeper sweeper(*client_, policies_, registry_, clock_, options_);
  SweepReport report = sweeper.SweepOnce();
  EXPECT_EQ(report.deleted, 1u);
  EXPECT_EQ(Calls("list", "error"), 1);
  EXPECT_EQ(server_.policy_report_count(), 0u);
  sweeper.SweepOnce();
  EXPECT_TRUE(server_.policy_report_json("batch", "stratum-guard"));
}

TEST_F(PolicyReportIntegrationTest, FailedDeleteIsRetriedAtTheNextPass) {
  Miner("apps", "xmrig");
  Sweeper sweeper(*client_, policies_, registry_, clock_, options_);
  sweeper.SweepOnce();
  ASSERT_TRUE(server_.RemovePod("apps", "xmrig"));
  server_.InjectFault(Fault("DELETE", "policyreports", 500, "InternalError"));
  sweeper.SweepOnce();
  EXPECT_EQ(Calls("delete", "error"), 1);
  EXPECT_TRUE(server_.policy_report_json("apps", "stratum-guard"));
  sweeper.SweepOnce();
  EXPECT_EQ(Calls("delete", "ok"), 1);
  EXPECT_FALSE(server_.policy_report_json("apps", "stratum-guard"));
}

TEST_F(PolicyReportIntegrationTest, ExemptedFindingsAreReportedAsSkips) {
  policies_.Set(policy::Policy::Compile(
      "exemptions:\n  namespaces: [miner-lab]\n" + std::string(policy::Policy::DefaultText()),
      "<default + miner-lab exemption>"));
  Miner("miner-lab", "benchmark");
  Sweeper sweeper(*client_, policies_, registry_, clock_, options_);
  sweeper.SweepOnce();
  rapidjson::Document lab = Report("miner-lab");
  ASSERT_TRUE(lab.IsObject());
  EXPECT_EQ(lab["summary"]["fail"].GetInt(), 0);
  EXPECT_GE(lab["summary"]["skip"].GetInt(), 1);
  EXPECT_STREQ(lab["results"][0]["properties"]["exemption"].GetString(), "namespace");
}

TEST_F(PolicyReportIntegrationTest, TurnedOffMakesNoReportCallAndNoMetric) {
  options_.policy_reports = false;
  Miner("apps", "xmrig");
  Sweeper sweeper(*client_, policies_, registry_, clock_, options_);
  sweeper.SweepOnce();
  EXPECT_EQ(server_.policy_report_count(), 0u);
  EXPECT_EQ(Calls("list", "ok"), -1);
}

TEST_F(PolicyReportIntegrationTest, SeriesExistAtZeroBeforeAnyCall) {
  Sweeper sweeper(*client_, policies_, registry_, clock_, options_);
  for (const char* result : {"ok", "not_installed", "error"}) EXPECT_EQ(Calls("list", result), 0);
  for (const char* op : {"create", "update"}) {
    for (const char* result : {"ok", "conflict", "error"}) EXPECT_EQ(Calls(op, result), 0);
  }
  for (const char* result : {"ok", "error"}) EXPECT_EQ(Calls("delete", result), 0);
}

}  // namespace
}  // namespace stratum_guard::sweeper
