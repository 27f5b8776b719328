// The PolicyReport a namespace's pods make: pure, no API server.
#include "sweeper/policy_report.h"

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <algorithm>

namespace stratum_guard::sweeper {
namespace {

policy::Finding MakeFinding(std::string rule, policy::Action action, std::string field,
                            std::string evidence) {
  policy::Finding f;
  f.rule_id = std::move(rule);
  f.action = action;
  f.container = "main";
  f.field = std::move(field);
  f.evidence = std::move(evidence);
  f.message = "container \"main\" " + f.field + " has " + f.evidence;
  return f;
}

PodOutcome MakePod(std::string ns, std::string name) {
  PodOutcome pod;
  pod.namespace_ = std::move(ns);
  pod.name = std::move(name);
  pod.uid = "uid-" + pod.name;
  return pod;
}

PodOutcome Miner(std::string ns, std::string name) {
  PodOutcome pod = MakePod(std::move(ns), std::move(name));
  pod.findings = {
      MakeFinding("stratum-url", policy::Action::kDeny, "args[1]", "stratum+tcp://p:3333"),
      MakeFinding("miner-flag", policy::Action::kWarn, "args[2]", "--donate-level"),
      MakeFinding("pool-port", policy::Action::kAudit, "args[1]", "p:3333")};
  pod.decision = policy::Decision::kDenied;
  return pod;
}

const auto kNow = common::Clock::Wall(std::chrono::seconds(1'800'000'000));

TEST(PolicyReportTest, OneResultPerFindingWithRuleResultSeverityAndPodSubject) {
  PolicyReportContent report = BuildPolicyReport("apps", {Miner("apps", "xmrig")}, 100);
  ASSERT_EQ(report.results.size(), 3u);
  // Fail first, then warn; deny is high, warn medium, audit low (and reported as warn).
  EXPECT_EQ(report.results[0].rule, "stratum-url");
  EXPECT_EQ(report.results[0].result, "fail");
  EXPECT_EQ(report.results[0].severity, "high");
  EXPECT_EQ(report.results[1].result, "warn");
  EXPECT_EQ(report.results[2].result, "warn");
  std::vector<std::string> severities = {report.results[1].severity, report.results[2].severity};
  std::sort(severities.begin(), severities.end());
  EXPECT_EQ(severities, (std::vector<std::string>{"low", "medium"}));
  EXPECT_EQ(report.summary.fail, 1);
  EXPECT_EQ(report.summary.warn, 2);
  EXPECT_EQ(report.summary.skip, 0);
  EXPECT_EQ(report.summary.pass, 0);
  EXPECT_EQ(report.summary.error, 0);

  rapidjson::Document doc;
  std::string json = PolicyReportJson(report, kNow, "");
  doc.Parse(json.c_str());
  ASSERT_FALSE(doc.HasParseError()) << json;
  EXPECT_STREQ(doc["apiVersion"].GetString(), "wgpolicyk8s.io/v1alpha2");
  EXPECT_STREQ(doc["kind"].GetString(), "PolicyReport");
  EXPECT_STREQ(doc["metadata"]["name"].GetString(), "stratum-guard");
  EXPECT_STREQ(doc["metadata"]["namespace"].GetString(), "apps");
  EXPECT_FALSE(doc["metadata"].HasMember("resourceVersion"));
  EXPECT_STREQ(doc["metadata"]["labels"]["app.kubernetes.io/managed-by"].GetString(),
               "stratum-guard");
  EXPECT_EQ(doc["metadata"]["annotations"]["stratum-guard.io/content-hash"].GetString(),
            report.content_hash);
  EXPECT_EQ(doc["summary"]["fail"].GetInt(), 1);
  EXPECT_EQ(doc["summary"]["warn"].GetInt(), 2);
  const auto& first = doc["results"][0];
  EXPECT_STREQ(first["policy"].GetString(), "stratum-guard");
  EXPECT_STREQ(first["source"].GetString(), "stratum-guard");
  EXPECT_STREQ(first["rule"].GetString(), "stratum-url");
  EXPECT_STREQ(first["result"].GetString(), "fail");
  EXPECT_STREQ(first["severity"].GetString(), "high");
  EXPECT_STREQ(first["message"].GetString(), "container \"main\" args[1] has stratum+tcp://p:3333");
  EXPECT_STREQ(first["resources"][0]["kind"].GetString(), "Pod");
  EXPECT_STREQ(first["resources"][0]["apiVersion"].GetString(), "v1");
  EXPECT_STREQ(first["resources"][0]["namespace"].GetString(), "apps");
  EXPECT_STREQ(first["resources"][0]["name"].GetString(), "xmrig");
  EXPECT_STREQ(first["resources"][0]["uid"].GetString(), "uid-xmrig");
  EXPECT_STREQ(first["properties"]["evidence"].GetString(), "stratum+tcp://p:3333");
  EXPECT_STREQ(first["properties"]["field"].GetString(), "args[1]");
  EXPECT_STREQ(first["properties"]["container"].GetString(), "main");
  EXPECT_STREQ(first["properties"]["action"].GetString(), "deny");
  EXPECT_EQ(first["timestamp"]["seconds"].GetInt64(), 1'800'000'000);
  EXPECT_EQ(first["timestamp"]["nanos"].GetInt(), 0);
}

TEST(PolicyReportTest, ExemptedFindingsAreSkipsNamingTheExemption) {
  PodOutcome pod = MakePod("lab", "bench");
  policy::Finding f = MakeFinding("miner-image", policy::Action::kDeny, "image", "xmrig/xmrig");
  f.exempted_by = policy::ExemptedBy::kNamespace;
  pod.exempted = {f};
  PolicyReportContent report = BuildPolicyReport("lab", {pod}, 100);
  ASSERT_EQ(report.results.size(), 1u);
  EXPECT_EQ(report.results[0].result, "skip");
  EXPECT_EQ(report.results[0].exemption, "namespace");
  EXPECT_EQ(report.summary.skip, 1);
  EXPECT_EQ(report.summary.fail, 0);
  rapidjson::Document doc;
  std::string json = PolicyReportJson(report, kNow, "");
  doc.Parse(json.c_str());
  EXPECT_STREQ(doc["results"][0]["properties"]["exemption"].GetString(), "namespace");
}

TEST(PolicyReportTest, SameContentWhateverTheOrderOfPodsAndFindings) {
  std::vector<PodOutcome> pods = {Miner("apps", "b"), Miner("apps", "a"), Miner("apps", "c")};
  PolicyReportContent one = BuildPolicyReport("apps", pods, 100);
  std::reverse(pods.begin(), pods.end());
  for (auto& pod : pods) std::reverse(pod.findings.begin(), pod.findings.end());
  PolicyReportContent two = BuildPolicyReport("apps", pods, 100);
  EXPECT_EQ(one.content_hash, two.content_hash);
  EXPECT_EQ(PolicyReportJson(one, kNow, ""), PolicyReportJson(two, kNow, ""));
  EXPECT_EQ(one.results.front().pod, "a");
  EXPECT_EQ(one.results.back().pod, "c");
}

TEST(PolicyReportTest, HashIgnoresTheTimeButSeesEveryChangeOfContent) {
  PolicyReportContent base = BuildPolicyReport("apps", {Miner("apps", "x")}, 100);
  EXPECT_NE(PolicyReportJson(base, kNow, ""),
            PolicyReportJson(base, kNow + std::chrono::hours(1), ""));
  EXPECT_EQ(base.content_hash.size(), 16u);

  PodOutcome changed = Miner("apps", "x");
  changed.findings[0].evidence = "stratum+tcp://q:3333";
  EXPECT_NE(BuildPolicyReport("apps", {changed}, 100).content_hash, base.content_hash);
  PodOutcome other_uid = Miner("apps", "x");
  other_uid.uid = "uid-replaced";
  EXPECT_NE(BuildPolicyReport("apps", {other_uid}, 100).content_hash, base.content_hash);
  EXPECT_NE(BuildPolicyReport("apps", {Miner("apps", "x"), Miner("apps", "y")}, 100).content_hash,
            base.content_hash);
}

TEST(PolicyReportTest, PodsOfOtherNamespacesAreLeftOut) {
  PolicyReportContent report =
      BuildPolicyReport("apps", {Miner("apps", "x"), Miner("batch", "y")}, 100);
  ASSERT_EQ(report.results.size(), 3u);
  for (const auto& r : report.results) EXPECT_EQ(r.pod, "x");
  EXPECT_TRUE(BuildPolicyReport("empty", {Miner("apps", "x")}, 100).results.empty());
}

TEST(PolicyReportTest, TruncatedAtMaxResultsKeepingFailuresFirst) {
  std::vector<PodOutcome> pods;
  for (int i = 0; i < 4; ++i) pods.push_back(Miner("apps", "pod-" + std::to_string(i)));
  PolicyReportContent report = BuildPolicyReport("apps", pods, 5);
  EXPECT_EQ(report.results.size(), 5u);
  EXPECT_EQ(report.dropped, 7u);
  EXPECT_EQ(report.summary.fail, 4);  // every pod's deny finding made it
  EXPECT_EQ(report.summary.warn, 1);
}

TEST(PolicyReportTest, ResourceVersionOnlyInAnUpdate) {
  PolicyReportContent report = BuildPolicyReport("apps", {Miner("apps", "x")}, 100);
  rapidjson::Document doc;
  std::string json = PolicyReportJson(report, kNow, "4711");
  doc.Parse(json.c_str());
  EXPECT_STREQ(doc["metadata"]["resourceVersion"].GetString(), "4711");
}

TEST(PolicyReportTest, FindingWithoutMessageIsDescribedFromItsParts) {
  PodOutcome pod = MakePod("apps", "x");
  policy::Finding f = MakeFinding("miner-image", policy::Action::kDeny, "image", "xmrig/xmrig");
  f.message.clear();
  pod.findings = {f};
  PolicyReportContent report = BuildPolicyReport("apps", {pod}, 100);
  ASSERT_EQ(report.results.size(), 1u);
  EXPECT_EQ(report.results[0].message, "container \"main\" image: xmrig/xmrig");
}

}  // namespace
}  // namespace stratum_guard::sweeper
