#include "check/check.h"

#include <gtest/gtest.h>

#include "test/check/test_support.h"

namespace stratum_guard::check {
namespace {

using testing::FakeVerdict;
using testing::Parse;

Report CheckText(const std::string& text, std::string_view default_namespace = {}) {
  return Check(Parse(text), FakeVerdict, default_namespace);
}

TEST(CheckTest, ObjectsWithoutPodTemplateAreNotJudgedAndNeverEvaluated) {
  int calls = 0;
  Evaluator counting = [&calls](const policy::Workload& w) {
    ++calls;
    return FakeVerdict(w);
  };
  Report report = Check(Parse("apiVersion: v1\nkind: Service\nmetadata: {name: s}\n---\n"
                              "kind: ConfigMap\nmetadata: {name: c}\ndata: {image: xmrig}\n---\n"
                              "apiVersion: example.com/v1\nkind: MinerPool\nmetadata: {name: m}\n"
                              "spec: {template: {spec: {containers: [{image: xmrig}]}}}\n"),
                        counting);
  EXPECT_EQ(calls, 0);
  ASSERT_EQ(report.judgements.size(), 3u);
  for (const Judgement& j : report.judgements) EXPECT_EQ(j.outcome, Outcome::kNotJudged) << j.kind;
  EXPECT_EQ(report.judgements[0].note, "Service carries no pod template");
  EXPECT_EQ(report.judgements[2].api_version, "example.com/v1");
  EXPECT_EQ(report.ExitCode(), 0);
  Summary s = report.Summarize();
  EXPECT_EQ(s.not_judged, 3);
  EXPECT_EQ(s.judged, 0);
}

TEST(CheckTest, EveryPodTemplateKindIsJudged) {
  const char* kinds[][2] = {
      {"Pod", "spec: {containers: [{name: c, image: xmrig/xmrig}]}"},
      {"PodTemplate", "template: {spec: {containers: [{name: c, image: xmrig/xmrig}]}}"},
      {"Deployment", "spec: {template: {spec: {containers: [{name: c, image: xmrig/xmrig}]}}}"},
      {"ReplicaSet", "spec: {template: {spec: {containers: [{name: c, image: xmrig/xmrig}]}}}"},
      {"StatefulSet", "spec: {template: {spec: {containers: [{name: c, image: xmrig/xmrig}]}}}"},
      {"DaemonSet", "spec: {template: {spec: {containers: [{name: c, image: xmrig/xmrig}]}}}"},
      {"Job", "spec: {template: {spec: {containers: [{name: c, image: xmrig/xmrig}]}}}"},
      {"ReplicationController",
       "spec: {template: {spec: {containers: [{name: c, image: xmrig/xmrig}]}}}"},
      {"CronJob",
       "spec: {jobTemplate: {spec: {template: {spec: {containers: [{name: c, image: "
       "xmrig/xmrig}]}}}}}"},
  };
  for (const auto& [kind, body] : kinds) {
    Report report = CheckText(std::string("kind: ") + kind + "\nmetadata: {name: x}\n" + body);
    ASSERT_EQ(report.judgements.size(), 1u);
    EXPECT_EQ(report.judgements[0].outcome, Outcome::kDenied) << kind;
    EXPECT_EQ(report.ExitCode(), 1) << kind;
  }
}

TEST(CheckTest, FindingsCarryTheLineOfTheirField) {
  Report report = CheckText(
      "apiVersion: apps/v1\n"
      "kind: Deployment\n"
      "metadata:\n"
      "  name: web\n"
      "  namespace: shop\n"
      "spec:\n"
      "  template:\n"
      "    spec:\n"
      "      containers:\n"
      "      - name: ok\n"
      "        image: nginx\n"
      "      - name: bad\n"
      "        image: docker.io/xmrig/xmrig:6.21.0\n");
  ASSERT_EQ(report.judgements.size(), 1u);
  const Judgement& j = report.judgements[0];
  EXPECT_EQ(j.outcome, Outcome::kDenied);
  EXPECT_EQ(j.kind, "Deployment");
  EXPECT_EQ(j.namespace_, "shop");
  EXPECT_EQ(j.name, "web");
  ASSERT_EQ(j.verdict.findings.size(), 1u);
  EXPECT_EQ(j.verdict.findings[0].path, "spec.template.spec.containers[1].image");
  ASSERT_EQ(j.finding_lines.size(), 1u);
  EXPECT_EQ(j.finding_lines[0], 13);
}

TEST(CheckTest, InitAndEphemeralContainersAreJudged) {
  Report report = CheckText(
      "kind: Pod\nmetadata: {name: p}\nspec:\n"
      "  initContainers: [{name: i, image: warnme}]\n"
      "  containers: [{name: c, image: nginx}]\n"
      "  ephemeralContainers: [{name: e, image: xmrig}]\n");
  const Judgement& j = report.judgements[0];
  ASSERT_EQ(j.verdict.findings.size(), 2u);
  EXPECT_EQ(j.verdict.findings[0].path, "spec.initContainers[0].image");
  EXPECT_EQ(j.verdict.findings[1].path, "spec.ephemeralContainers[0].image");
  EXPECT_EQ(j.finding_lines[0], 4);
  EXPECT_EQ(j.finding_lines[1], 6);
  EXPECT_EQ(j.outcome, Outcome::kDenied);
}

TEST(CheckTest, WarnAloneIsWarnedAndExitsZero) {
  Report report = CheckText("kind: Pod\nspec: {containers: [{name: c, image: warnme}]}\n");
  EXPECT_EQ(report.judgements[0].outcome, Outcome::kWarned);
  EXPECT_EQ(report.ExitCode(), 0);
  EXPECT_EQ(report.Summarize().warned, 1);
}

TEST(CheckTest, DocumentsWithoutKindOrNotMappingsAreSkippedWithAReason) {
  Report report = CheckText("metadata: {name: nokind}\n---\n- a list\n---\nkind: 3\n");
  ASSERT_EQ(report.judgements.size(), 3u);
  EXPECT_EQ(report.judgements[0].outcome, Outcome::kSkipped);
  EXPECT_EQ(report.judgements[0].note, "no kind: not a Kubernetes object");
  EXPECT_EQ(report.judgements[0].name, "nokind");
  EXPECT_EQ(report.judgements[1].outcome, Outcome::kSkipped);
  EXPECT_EQ(report.judgements[1].note, "the document is a list, not a Kubernetes object");
  EXPECT_EQ(report.judgements[2].outcome, Outcome::kSkipped);
  EXPECT_EQ(report.ExitCode(), 0);  // a warning, not an error
  EXPECT_EQ(report.Summarize().skipped, 3);
}

TEST(CheckTest, DefaultNamespaceFillsOnlyMissingNamespaces) {
  Evaluator seen_namespace = [](const policy::Workload& w) {
    policy::Verdict v;
    policy::Finding f;
    f.rule_id = std::string(w.namespace_);
    v.findings.push_back(f);
    return v;
  };
  Report report = Check(Parse("kind: Pod\nmetadata: {name: a}\n---\n"
                              "kind: Pod\nmetadata: {name: b, namespace: own}\n"),
                        seen_namespace, "ci");
  EXPECT_EQ(report.judgements[0].namespace_, "ci");
  EXPECT_EQ(report.judgements[0].verdict.findings[0].rule_id, "ci");
  EXPECT_EQ(report.judgements[1].namespace_, "own");
  EXPECT_EQ(report.judgements[1].verdict.findings[0].rule_id, "own");
}

TEST(CheckTest, GenerateNameStandsInForName) {
  Report report = CheckText("kind: Job\nmetadata: {generateName: batch-}\nspec: {}\n");
  EXPECT_EQ(report.judgements[0].name, "batch-");
  EXPECT_EQ(report.judgements[0].outcome, Outcome::kAllowed);
}

TEST(CheckTest, ReadErrorsMakeExitCodeTwoEvenWithDenials) {
  ReadResult read = Parse("kind: Pod\nspec: {containers: [{image: xmrig}]}\n---\nkind: [\n");
  ASSERT_EQ(read.errors.size(), 1u);
  Report report = Check(read, FakeVerdict);
  EXPECT_EQ(report.Summarize().denied, 1);
  EXPECT_EQ(report.ExitCode(), 2);
}

TEST(CheckTest, OutcomeNames) {
  EXPECT_EQ(OutcomeName(Outcome::kAllowed), "allowed");
  EXPECT_EQ(OutcomeName(Outcome::kWarned), "warned");
  EXPECT_EQ(OutcomeName(Outcome::kDenied), "denied");
  EXPECT_EQ(OutcomeName(Outcome::kNotJudged), "not judged");
  EXPECT_EQ(OutcomeName(Outcome::kSkipped), "skipped");
  EXPECT_EQ(OutcomeName(Outcome::kError), "error");
}

}  // namespace
}  // namespace stratum_guard::check
