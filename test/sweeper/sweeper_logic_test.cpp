// The sweeper's decisions, against the in-process FakeKubeApi and a simulated clock: what is
// deleted and what is not, the safety rails, retries, events and metrics.
#include <gtest/gtest.h>

#include "policy/policy.h"
#include "sweeper/sweeper.h"
#include "test/fake_apiserver/fake_apiserver.h"
#include "test/sweeper/sweeper_test_util.h"
#include "test/testing/fake_kube_api.h"

namespace stratum_guard::sweeper {
namespace {

using fake_apiserver::MakePodJson;
using fake_apiserver::MinerPod;
using fake_apiserver::PodTemplate;
using kube::testing::FakeKubeApi;
using kube::testing::StatusError;
using testing::MetricValue;

class SweeperLogicTest : public ::testing::Test {
 protected:
  SweeperLogicTest() : policies_(policy::Policy::Default()) {
    options_.leader_elect = false;
    options_.backoff_initial = std::chrono::milliseconds(100);
  }

  void Benign(const std::string& ns, const std::string& name) {
    PodTemplate p = fake_apiserver::BenignPod(ns, name);
    p.uid = "uid-" + ns + "-" + name;
    api_.AddPod(MakePodJson(p));
  }
  void Miner(const std::string& ns, const std::string& name) {
    PodTemplate p = MinerPod(ns, name);
    p.uid = "uid-" + ns + "-" + name;
    api_.AddPod(MakePodJson(p));
  }
  SweepReport Sweep() {
    Sweeper sweeper(api_, policies_, registry_, clock_, options_);
    return sweeper.SweepOnce();
  }

  FakeKubeApi api_;
  common::SimulatedClock clock_;
  policy::PolicyStore policies_;
  prometheus::Registry registry_;
  Options options_;
};

TEST_F(SweeperLogicTest, DeletesMinersAcrossNamespacesAndLeavesTheRest) {
  for (int i = 0; i < 30; ++i) Benign("ns-" + std::to_string(i % 3), "web-" + std::to_string(i));
  Miner("team-a", "miner-1");
  Miner("team-b", "miner-2");
  Miner("miner-lab", "miner-exempt");
  policies_.Set(policy::Policy::Compile(
      "exemptions:\n  namespaces: [miner-lab]\n" + std::string(policy::Policy::DefaultText()),
      "<default + miner-lab exemption>"));
  options_.page_size = 7;
  SweepReport report = Sweep();
  EXPECT_TRUE(report.complete);
  EXPECT_EQ(report.scanned, 33u);
  EXPECT_EQ(report.candidates, 2u);
  EXPECT_EQ(report.deleted, 2u);
  EXPECT_TRUE(report.errors.empty());
  EXPECT_FALSE(api_.HasPod("team-a", "miner-1"));
  EXPECT_FALSE(api_.HasPod("team-b", "miner-2"));
  EXPECT_TRUE(api_.HasPod("miner-lab", "miner-exempt"));
  EXPECT_TRUE(api_.HasPod("ns-0", "web-0"));
  ASSERT_EQ(api_.deletions().size(), 2u);
  EXPECT_EQ(api_.deletions()[0].uid, "uid-team-a-miner-1");
  EXPECT_EQ(api_.deletions()[0].grace, 5);
  EXPECT_EQ(api_.calls("list"), 5);  // 33 pods in pages of 7
  EXPECT_EQ(MetricValue(registry_, "stratum_guard_sweeper_pods_scanned_total"), 33);
  // The exempt pod is listed with what its exemption silenced; the deleted ones after it.
  ASSERT_EQ(report.pods.size(), 3u);
  EXPECT_EQ(report.pods[0].name, "miner-exempt");
  EXPECT_TRUE(report.pods[0].findings.empty());
  EXPECT_FALSE(report.pods[0].exempted.empty());
  ASSERT_EQ(report.pods[1].action, PodAction::kDeleted);
  EXPECT_EQ(MetricValue(registry_, "stratum_guard_sweeper_pods_deleted_total",
                        {{"rule", report.pods[1].findings[0].rule_id}}),
            2);
  EXPECT_GT(MetricValue(registry_, "stratum_guard_sweeper_last_full_sync_timestamp_seconds"), 0);
  EXPECT_EQ(MetricValue(registry_, "stratum_guard_sweeper_circuit_open"), 0);
}

TEST_F(SweeperLogicTest, EventsNameThePodRuleAndEvidence) {
  Miner("team-a", "miner-1");
  Sweep();
  auto events = api_.events();
  ASSERT_EQ(events.size(), 1u);
  rapidjson::Document e;
  e.Parse(events[0].c_str());
  EXPECT_EQ(common::JsonString(e, "reason"), "MinerPodDeleted");
  EXPECT_EQ(common::JsonString(e, "type"), "Warning");
  EXPECT_EQ(common::JsonString(e["involvedObject"], "uid"), "uid-team-a-miner-1");
  EXPECT_EQ(common::JsonString(e["involvedObject"], "kind"), "Pod");
  EXPECT_EQ(common::JsonString(e["source"], "component"), "stratum-guard");
  EXPECT_EQ(kube::MetadataString(e, "namespace"), "team-a");
  EXPECT_EQ(kube::MetadataString(e, "name").substr(0, 8), "miner-1.");
  std::string message(common::JsonString(e, "message"));
  EXPECT_NE(message.find("rule "), std::string::npos) << message;
  EXPECT_NE(message.find("xmrig"), std::string::npos) << message;  // the evidence
  EXPECT_NE(message.find("stratum-url"), std::string::npos) << message;
}

TEST_F(SweeperLogicTest, DryRunDeletesNothingButReportsAndEmitsEventsOnce) {
  Miner("team-a", "miner-1");
  Benign("team-a", "web-1");
  options_.dry_run = true;
  Sweeper sweeper(api_, policies_, registry_, clock_, options_);
  SweepReport report = sweeper.SweepOnce();
  EXPECT_EQ(report.candidates, 1u);
  EXPECT_EQ(report.deleted, 0u);
  ASSERT_EQ(report.pods.size(), 1u);
  EXPECT_EQ(report.pods[0].action, PodAction::kWouldDelete);
  EXPECT_TRUE(api_.deletions().empty());
  EXPECT_EQ(api_.calls("delete"), 0);
  ASSERT_EQ(api_.events().size(), 1u);
  EXPECT_NE(api_.events()[0].find("\"reason\":\"MinerPodDetected\""), std::string::npos);
  sweeper.SweepOnce();  // a second pass must not repeat the event
  EXPECT_EQ(api_.events().size(), 1u);
  std::string text = FormatReport(report, true);
  EXPECT_NE(text.find("would delete: 1"), std::string::npos) << text;
  EXPECT_NE(text.find("team-a/miner-1"), std::string::npos) << text;
}

TEST_F(SweeperLogicTest, AnEvaluationFaultDeletesNothingAndIsCountedAndReported) {
  Miner("team-a", "miner-1");
  Benign("team-a", "web-1");
  policies_.Set(policy::Policy::FailingForTesting("injected"));
  SweepReport report = Sweep();
  EXPECT_EQ(report.scanned, 2u);
  EXPECT_EQ(report.failed, 2u);
  EXPECT_EQ(report.candidates, 0u);
  EXPECT_EQ(report.deleted, 0u);
  EXPECT_TRUE(report.pods.empty());
  EXPECT_EQ(api_.calls("delete"), 0);
  EXPECT_TRUE(api_.events().empty());
  EXPECT_EQ(
      MetricValue(registry_, "stratum_guard_sweeper_errors_total", {{"reason", "evaluation"}}), 2);
  EXPECT_EQ(MetricValue(registry_, "stratum_guard_sweeper_pods_detected_total",
                        {{"rule", "miner-image"}, {"action", "deny"}}),
            0)
      << "no made-up finding (the series exists from the start, at zero)";
  ASSERT_EQ(report.errors.size(), 2u);
  EXPECT_EQ(report.errors[0], "evaluate team-a/miner-1: policy evaluation failed: injected");
  std::string text = FormatReport(report, false);
  EXPECT_NE(text.find("0 finished, 2 policy errors"), std::string::npos) << text;
  EXPECT_NE(text.find("deleted: 0"), std::string::npos) << text;
}

// The default policy with `enforcement: MODE` on top.
std::shared_ptr<const policy::Policy> DefaultPolicyIn(std::string_view mode) {
  return policy::Policy::Compile(
      "enforcement: " + std::string(mode) + "\n" + std::string(policy::Policy::DefaultText()),
      "enforcement.yaml");
}

TEST_F(SweeperLogicTest, WarnAndAuditDeleteNothingButReportAndEmitEvents) {
  for (std::string_view mode : {"warn", "audit"}) {
    SCOPED_TRACE(std::string(mode));
    FakeKubeApi api;
    PodTemplate pod = MinerPod("team-a", "miner-1");
    pod.uid = "uid-miner-1";
    api.AddPod(MakePodJson(pod));
    prometheus::Registry registry;
    policies_.Set(DefaultPolicyIn(mode));
    Sweeper sweeper(api, policies_, registry, clock_, options_);
    SweepReport report = sweeper.SweepOnce();
    EXPECT_EQ(report.candidates, 1u);
    EXPECT_EQ(report.deleted, 0u);
    ASSERT_EQ(report.pods.size(), 1u);
    EXPECT_EQ(report.pods[0].action, PodAction::kNotEnforced);
    EXPECT_EQ(api.calls("delete"), 0);
    ASSERT_EQ(api.events().size(), 1u);
    EXPECT_NE(api.events()[0].find("\"reason\":\"MinerPodDetected\""), std::string::npos);
    EXPECT_NE(api.events()[0].find("stratum-guard (enforcement " + std::string(mode) +
                                   ") would delete this pod: rule "),
              std::string::npos)
        << api.events()[0];
    std::string text = FormatReport(report, false);
    EXPECT_NE(text.find("stratum-guard sweep (enforcement " + std::string(mode) + ")\n"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("would delete: 1"), std::string::npos) << text;
    EXPECT_NE(text.find("would delete (enforcement warn or audit)"), std::string::npos) << text;
  }
}

TEST_F(SweeperLogicTest, TheEnforcementFlagWinsOverThePolicy) {
  Miner("team-a", "miner-1");
  policies_.Set(DefaultPolicyIn("enforce"));
  options_.enforcement = policy::Enforcement::kAudit;
  SweepReport audit = Sweep();
  EXPECT_EQ(audit.deleted, 0u);
  EXPECT_EQ(audit.enforcement, policy::Enforcement::kAudit);
  EXPECT_TRUE(api_.HasPod("team-a", "miner-1"));

  policies_.Set(DefaultPolicyIn("warn"));
  options_.enforcement = policy::Enforcement::kEnforce;
  SweepReport enforce = Sweep();
  EXPECT_EQ(enforce.deleted, 1u);
  EXPECT_FALSE(api_.HasPod("team-a", "miner-1"));
}

// Everything is exempt in miner-lab; in team-a only miner-image is.
constexpr char kRuleExemptPolicy[] = R"(version: 1
exemptions:
  namespaces: [miner-lab]
rules:
  - id: stratum-url
    description: d
    action: deny
    match:
      patterns: ['stratum\+tcp://\S+']
  - id: miner-image
    description: d
    action: deny
    match:
      images: [xmrig]
    exempt:
      namespaces: [team-a]
end: stratum-guard-policy
)";

TEST_F(SweeperLogicTest, ExemptionsAreCountedAndNamedInEventsAndTheReport) {
  Miner("team-a", "miner-1");
  Miner("miner-lab", "miner-2");
  policies_.Set(policy::Policy::Compile(kRuleExemptPolicy, "exempt.yaml"));
  SweepReport report = Sweep();
  EXPECT_EQ(report.deleted, 1u);
  EXPECT_FALSE(api_.HasPod("team-a", "miner-1")) << "stratum-url is not exempt there";
  EXPECT_TRUE(api_.HasPod("miner-lab", "miner-2"));
  EXPECT_EQ(MetricValue(registry_, "stratum_guard_exemptions_total",
                        {{"rule", "miner-image"}, {"source", "sweeper"}}),
            2);
  EXPECT_EQ(MetricValue(registry_, "stratum_guard_exemptions_total",
                        {{"rule", "stratum-url"}, {"source", "sweeper"}}),
            1);
  ASSERT_EQ(api_.events().size(), 1u);
  EXPECT_NE(api_.events()[0].find("exempted: miner-image main image (namespace exemption)"),
            std::string::npos)
      << api_.events()[0];
  std::string text = FormatReport(report, false);
  EXPECT_NE(text.find("miner-lab/miner-2 (uid uid-miner-lab-miner-2): not deleted: every finding "
                      "exempted"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("[namespace exemption]"), std::string::npos) << text;
}

TEST_F(SweeperLogicTest, CircuitBreakerTripsOnTooLargeAShare) {
  for (int i = 0; i < 20; ++i) Benign("apps", "web-" + std::to_string(i));
  for (int i = 0; i < 6; ++i) Miner("apps", "miner-" + std::to_string(i));  // 6 > max(1.3, 5)
  SweepReport report = Sweep();
  EXPECT_TRUE(report.circuit_open);
  EXPECT_EQ(report.deleted, 0u);
  EXPECT_TRUE(api_.deletions().empty());
  EXPECT_EQ(MetricValue(registry_, "stratum_guard_sweeper_circuit_open"), 1);
  ASSERT_EQ(api_.events().size(), 6u);
  EXPECT_NE(api_.events()[0].find("MinerPodDetected"), std::string::npos);
  for (const auto& pod : report.pods) EXPECT_EQ(pod.action, PodAction::kCircuitOpen);
  EXPECT_NE(FormatReport(report, false).find("CIRCUIT BREAKER OPEN"), std::string::npos);
}

TEST_F(SweeperLogicTest, CircuitBreakerMinimumLetsASmallClusterBeCleaned) {
  Benign("apps", "web-1");
  Benign("apps", "web-2");
  Miner("apps", "miner-1");  // a third of the pods, but within the minimum of 5
  SweepReport report = Sweep();
  EXPECT_FALSE(report.circuit_open);
  EXPECT_EQ(report.deleted, 1u);
}

TEST_F(SweeperLogicTest, CircuitBreakerClosesAgainWhenThePassIsSane) {
  for (int i = 0; i < 6; ++i) Miner("apps", "miner-" + std::to_string(i));
  Sweeper sweeper(api_, policies_, registry_, clock_, options_);
  EXPECT_TRUE(sweeper.SweepOnce().circuit_open);
  options_.circuit_breaker_min = 10;
  Sweeper relaxed(api_, policies_, registry_, clock_, options_);
  SweepReport report = relaxed.SweepOnce();
  EXPECT_FALSE(report.circuit_open);
  EXPECT_EQ(report.deleted, 6u);
  EXPECT_EQ(MetricValue(registry_, "stratum_guard_sweeper_circuit_open"), 0);
}

TEST_F(SweeperLogicTest, RateLimitHolds) {
  for (int i = 0; i < 600; ++i) Benign("apps", "web-" + std::to_string(i));
  for (int i = 0; i < 25; ++i) Miner("apps", "miner-" + std::to_string(i));
  options_.max_deletions_per_minute = 10;
  SweepReport report = Sweep();
  EXPECT_EQ(report.deleted, 25u);
  // A burst of 10, then one every 6 s for the other 15.
  EXPECT_EQ(clock_.slept(), std::chrono::seconds(90));
}

TEST_F(SweeperLogicTest, RetriesThrottlingHonouringRetryAfter) {
  Miner("apps", "miner-1");
  kube::KubeError throttled = StatusError(429);
  throttled.retry_after = std::chrono::seconds(7);
  api_.FailNext("delete", throttled);
  api_.FailNext("delete", StatusError(503));
  SweepReport report = Sweep();
  EXPECT_EQ(report.deleted, 1u);
  EXPECT_EQ(api_.calls("delete"), 3);
  // 7 s as the server asked, then the first backoff step (100 ms).
  EXPECT_EQ(clock_.slept(), std::chrono::milliseconds(7100));
  EXPECT_EQ(MetricValue(registry_, "stratum_guard_sweeper_errors_total", {{"reason", "delete"}}),
            2);
}

TEST_F(SweeperLogicTest, GivesUpAfterTheAttemptsAndOnPermanentErrors) {
  Miner("apps", "miner-1");
  Miner("apps", "miner-2");
  api_.FailNext("delete", StatusError(500), 5);  // all attempts for miner-1
  api_.FailNext("delete", StatusError(403));     // miner-2: forbidden is not retried
  SweepReport report = Sweep();
  EXPECT_EQ(report.deleted, 0u);
  ASSERT_EQ(report.errors.size(), 2u);
  EXPECT_NE(report.errors[0].find("500"), std::string::npos);
  EXPECT_NE(report.errors[1].find("403 Forbidden"), std::string::npos);
  EXPECT_EQ(api_.calls("delete"), 6);
  EXPECT_EQ(report.pods[0].action, PodAction::kFailed);
}

TEST_F(SweeperLogicTest, NotFoundAndConflictMeanAlreadyHandled) {
  Miner("apps", "miner-1");
  Miner("apps", "miner-2");
  api_.FailNext("delete", StatusError(404));
  api_.FailNext("delete", StatusError(409));
  SweepReport report = Sweep();
  EXPECT_TRUE(report.errors.empty());
  EXPECT_EQ(report.pods[0].action, PodAction::kAlreadyGone);
  EXPECT_EQ(report.pods[1].action, PodAction::kAlreadyGone);
  EXPECT_EQ(api_.calls("delete"), 2);
}

TEST_F(SweeperLogicTest, NeverDeletesItsOwnDeployment) {
  const std::pair<std::string, std::string> app = {"app.kubernetes.io/name", "stratum-guard"};
  PodTemplate self = MinerPod("stratum-guard", "stratum-guard-abc-1");
  self.labels = {app};
  self.uid = "self";
  self.controller_uid = "rs-1";
  api_.AddPod(MakePodJson(self));
  PodTemplate sibling = MinerPod("stratum-guard", "stratum-guard-abc-2");
  sibling.uid = "sibling";
  sibling.labels = {app};
  sibling.controller_uid = "rs-1";
  api_.AddPod(MakePodJson(sibling));
  PodTemplate other_rs = MinerPod("stratum-guard", "stratum-guard-def-1");
  other_rs.uid = "old-rs";
  other_rs.labels = {app};
  other_rs.controller_uid = "rs-0";
  api_.AddPod(MakePodJson(other_rs));  // same app.kubernetes.io/name label as self
  PodTemplate elsewhere = MinerPod("elsewhere", "stratum-guard-abc-9");
  elsewhere.uid = "elsewhere";
  elsewhere.labels = {app};  // anyone can set a label: it only protects in our own namespace
  api_.AddPod(MakePodJson(elsewhere));
  options_.self_namespace = "stratum-guard";
  options_.self_name = "stratum-guard-abc-1";
  SweepReport report = Sweep();
  EXPECT_EQ(report.skipped_self, 3u);
  EXPECT_EQ(report.deleted, 1u);
  EXPECT_TRUE(api_.HasPod("stratum-guard", "stratum-guard-abc-1"));
  EXPECT_TRUE(api_.HasPod("stratum-guard", "stratum-guard-abc-2"));
  EXPECT_TRUE(api_.HasPod("stratum-guard", "stratum-guard-def-1"));
  EXPECT_FALSE(api_.HasPod("elsewhere", "stratum-guard-abc-9"));
}

TEST_F(SweeperLogicTest, OwnPodProtectedByNameWhenItCannotBeRead) {
  PodTemplate self = MinerPod("stratum-guard", "sg-1");
  self.uid = "self";
  api_.AddPod(MakePodJson(self));
  api_.FailNext("get_pod", StatusError(403));
  options_.self_namespace = "stratum-guard";
  options_.self_name = "sg-1";
  SweepReport report = Sweep();
  EXPECT_EQ(report.skipped_self, 1u);
  EXPECT_TRUE(api_.HasPod("stratum-guard", "sg-1"));
  EXPECT_EQ(
      MetricValue(registry_, "stratum_guard_sweeper_errors_total", {{"reason", "self_lookup"}}), 1);
}

TEST_F(SweeperLogicTest, SkipsTerminatingAndFinishedPods) {
  PodTemplate terminating = MinerPod("apps", "going");
  terminating.uid = "t";
  terminating.terminating = true;
  api_.AddPod(MakePodJson(terminating));
  PodTemplate done = MinerPod("apps", "done");
  done.uid = "d";
  done.phase = "Succeeded";
  api_.AddPod(MakePodJson(done));
  PodTemplate failed = MinerPod("apps", "failed");
  failed.uid = "f";
  failed.phase = "Failed";
  api_.AddPod(MakePodJson(failed));
  SweepReport report = Sweep();
  EXPECT_EQ(report.scanned, 3u);
  EXPECT_EQ(report.skipped_terminating, 1u);
  EXPECT_EQ(report.skipped_finished, 2u);
  EXPECT_EQ(report.candidates, 0u);
  EXPECT_EQ(api_.calls("delete"), 0);
}

TEST_F(SweeperLogicTest, ExpiredContinueTokenRestartsTheList) {
  for (int i = 0; i < 10; ++i) Benign("apps", "web-" + std::to_string(i));
  Miner("apps", "miner-1");
  options_.page_size = 4;
  api_.ExpireContinueTokens(1);
  SweepReport report = Sweep();
  EXPECT_TRUE(report.complete);
  EXPECT_EQ(report.scanned, 11u);  // counted once, from the restarted list
  EXPECT_EQ(report.deleted, 1u);
  EXPECT_EQ(api_.calls("list"), 1 + 1 + 3);  // page 1, expired page 2, then 3 pages
  EXPECT_EQ(
      MetricValue(registry_, "stratum_guard_sweeper_errors_total", {{"reason", "list_expired"}}),
      1);
}

TEST_F(SweeperLogicTest, ListGivesUpWhenTokensKeepExpiring) {
  for (int i = 0; i < 10; ++i) Benign("apps", "web-" + std::to_string(i));
  options_.page_size = 4;
  api_.ExpireContinueTokens(100);
  SweepReport report = Sweep();
  EXPECT_FALSE(report.complete);
  ASSERT_EQ(report.errors.size(), 1u);
  EXPECT_NE(report.errors[0].find("410"), std::string::npos);
}

TEST_F(SweeperLogicTest, ListFailureIsReported) {
  Miner("apps", "miner-1");
  api_.FailNext("list", StatusError(403));
  SweepReport report = Sweep();
  EXPECT_FALSE(report.complete);
  ASSERT_EQ(report.errors.size(), 1u);
  EXPECT_NE(report.errors[0].find("list pods: 403"), std::string::npos);
  EXPECT_EQ(api_.calls("delete"), 0);
  EXPECT_NE(FormatReport(report, false).find("list incomplete"), std::string::npos);
}

TEST_F(SweeperLogicTest, ListRetriesTransientFailures) {
  Miner("apps", "miner-1");
  api_.FailNext("list", StatusError(503), 2);
  SweepReport report = Sweep();
  EXPECT_TRUE(report.complete);
  EXPECT_EQ(report.deleted, 1u);
  EXPECT_EQ(api_.calls("list"), 3);
}

// A Retry-After of 11 days (a broken proxy, a hostile server) must not park the sweeper: both
// the list and the delete wait at most kMaxRetryAfter, then carry on and delete the miner.
TEST_F(SweeperLogicTest, RetryAfterIsCappedForListAndDelete) {
  Miner("apps", "miner-1");
  kube::KubeError throttled = StatusError(429);
  throttled.retry_after = std::chrono::seconds(999'999);
  api_.FailNext("list", throttled);
  api_.FailNext("delete", throttled);
  SweepReport report = Sweep();
  EXPECT_TRUE(report.complete);
  EXPECT_EQ(report.deleted, 1u);
  EXPECT_EQ(api_.calls("list"), 2);
  EXPECT_EQ(api_.calls("delete"), 2);
  EXPECT_EQ(clock_.slept(), 2 * kMaxRetryAfter);
}

// Below the cap the server's word is kept on the list path too, not replaced by our backoff.
TEST_F(SweeperLogicTest, ListHonoursAShortRetryAfter) {
  Miner("apps", "miner-1");
  kube::KubeError throttled = StatusError(429);
  throttled.retry_after = std::chrono::seconds(3);
  api_.FailNext("list", throttled);
  SweepReport report = Sweep();
  EXPECT_EQ(report.deleted, 1u);
  EXPECT_EQ(clock_.slept(), std::chrono::seconds(3));
}

TEST_F(SweeperLogicTest, EventFailureDoesNotStopDeletion) {
  Miner("apps", "miner-1");
  api_.FailNext("event", StatusError(403));
  SweepReport report = Sweep();
  EXPECT_EQ(report.deleted, 1u);
  EXPECT_EQ(MetricValue(registry_, "stratum_guard_sweeper_errors_total", {{"reason", "event"}}), 1);
}

TEST_F(SweeperLogicTest, GracePeriodMinusOneKeepsThePodsOwn) {
  Miner("apps", "miner-1");
  options_.grace_period_seconds = std::nullopt;
  Sweep();
  ASSERT_EQ(api_.deletions().size(), 1u);
  EXPECT_FALSE(api_.deletions()[0].grace);
}

}  // namespace
}  // namespace stratum_guard::sweeper
