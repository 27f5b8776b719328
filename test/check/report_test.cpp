#include "check/report.h"

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <sstream>

#include "test/check/test_support.h"

namespace stratum_guard::check {
namespace {

using testing::FakeVerdict;
using testing::Parse;

constexpr char kMixed[] =
    "apiVersion: apps/v1\n"                               // 1
    "kind: Deployment\n"                                  // 2
    "metadata: {name: miner, namespace: mining}\n"        // 3
    "spec:\n"                                             // 4
    "  template:\n"                                       // 5
    "    spec:\n"                                         // 6
    "      containers:\n"                                 // 7
    "      - name: xmrig\n"                               // 8
    "        image: xmrig/xmrig\n"                        // 9
    "---\n"                                               // 10
    "kind: Pod\n"                                         // 11
    "metadata: {name: web}\n"                             // 12
    "spec: {containers: [{name: web, image: nginx}]}\n"   // 13
    "---\n"                                               // 14
    "kind: Service\n"                                     // 15
    "metadata: {name: web, namespace: shop}\n"            // 16
    "---\n"                                               // 17
    "kind: List\n"                                        // 18
    "items:\n"                                            // 19
    "- kind: Pod\n"                                       // 20
    "  metadata: {name: maybe}\n"                         // 21
    "  spec: {containers: [{name: m, image: warnme}]}\n"  // 22
    "---\n"                                               // 23
    "metadata: {name: nokind}\n";                         // 24

Report MixedReport() {
  ReadResult read = Parse(kMixed, "m.yaml");
  read.files = 1;
  read.errors.push_back({"broken.yaml", 4, 7, "YAML: end of map not found"});
  read.errors.push_back({"gone.yaml", 0, 0, "No such file or directory"});
  return Check(read, FakeVerdict);
}

TEST(ReportTest, TextListsEveryObjectFindingErrorAndSummary) {
  std::ostringstream out, err;
  WriteText(MixedReport(), out, err);
  EXPECT_EQ(out.str(),
            "m.yaml:1: document 0: Deployment mining/miner: denied\n"
            "  m.yaml:9: deny fake-miner-image spec.template.spec.containers[0].image: "
            "container \"xmrig\" image \"xmrig/xmrig\"\n"
            "m.yaml:11: document 1: Pod web: allowed\n"
            "m.yaml:15: document 2: Service shop/web: not judged (Service carries no pod "
            "template)\n"
            "m.yaml:20: document 3 items[0]: Pod maybe: warned\n"
            "  m.yaml:22: warn fake-warning spec.containers[0].image: container \"m\" image "
            "\"warnme\"\n"
            "m.yaml:24: document 4: warning: skipped: no kind: not a Kubernetes object\n"
            "summary: 1 file, 3 objects judged, 1 denied, 1 warned, 1 not judged, 1 skipped, "
            "2 errors\n");
  EXPECT_EQ(err.str(),
            "broken.yaml:4:7: error: YAML: end of map not found\n"
            "gone.yaml: error: No such file or directory\n");
}

TEST(ReportTest, QuietTextKeepsOnlyWhatNeedsAttention) {
  std::ostringstream out, err;
  WriteText(MixedReport(), out, err, {.quiet = true});
  EXPECT_EQ(out.str().find("allowed"), std::string::npos);
  EXPECT_EQ(out.str().find("not judged ("), std::string::npos);
  EXPECT_NE(out.str().find("Deployment mining/miner: denied"), std::string::npos);
  EXPECT_NE(out.str().find("Pod maybe: warned"), std::string::npos);
  EXPECT_NE(out.str().find("warning: skipped"), std::string::npos);
  EXPECT_NE(out.str().find("summary: "), std::string::npos);
}

TEST(ReportTest, ExemptedFindingsAreListedButDoNotDecide) {
  ReadResult read = Parse("kind: Pod\nmetadata: {name: p}\nspec: {containers: [{image: x}]}\n");
  Report report = Check(read, [](const policy::Workload&) {
    policy::Verdict v;
    policy::Finding f;
    f.rule_id = "miner-image";
    f.action = policy::Action::kDeny;
    f.path = "spec.containers[0].image";
    f.message = "exempted image";
    f.exempted_by = policy::ExemptedBy::kImage;
    v.exempted.push_back(f);
    return v;
  });
  std::ostringstream out, err;
  WriteText(report, out, err);
  EXPECT_NE(out.str().find("Pod p: allowed\n  test.yaml:3: exempted deny miner-image "
                           "spec.containers[0].image: exempted image (image exemption)\n"),
            std::string::npos)
      << out.str();
  EXPECT_EQ(report.ExitCode(), 0);
  std::ostringstream json;
  WriteJson(report, json);
  EXPECT_NE(json.str().find("\"exemption\": \"image\""), std::string::npos) << json.str();
}

TEST(ReportTest, AnObjectThePolicyFailedToEvaluateIsAnErrorAndExitsTwo) {
  ReadResult read = Parse(
      "kind: Pod\nmetadata: {name: miner}\nspec: {containers: [{image: xmrig}]}\n---\n"
      "kind: Pod\nmetadata: {name: web}\nspec: {containers: [{image: nginx}]}\n");
  Report report = Check(read, EvaluatorFor(policy::Policy::FailingForTesting("injected")));
  ASSERT_EQ(report.judgements.size(), 2u);
  EXPECT_EQ(report.judgements[0].outcome, Outcome::kError);
  EXPECT_EQ(report.judgements[0].note, "policy evaluation failed: injected");
  const Summary s = report.Summarize();
  EXPECT_EQ(s.errors, 2);
  EXPECT_EQ(s.denied, 0) << "an error is never a denial";
  EXPECT_EQ(s.judged, 0);
  EXPECT_EQ(report.ExitCode(), 2);

  std::ostringstream out, err;
  WriteText(report, out, err, {.quiet = true});
  EXPECT_NE(out.str().find("test.yaml:1: document 0: Pod miner: error: policy evaluation failed: "
                           "injected\n"),
            std::string::npos)
      << out.str();
  EXPECT_NE(out.str().find("0 denied, 0 warned, 0 not judged, 0 skipped, 2 errors"),
            std::string::npos)
      << out.str();
  std::ostringstream json;
  WriteJson(report, json);
  rapidjson::Document doc;
  doc.Parse(json.str().c_str());
  ASSERT_FALSE(doc.HasParseError()) << json.str();
  EXPECT_EQ(doc["exit_code"].GetInt(), 2);
  EXPECT_STREQ(doc["objects"][0]["outcome"].GetString(), "error");
  EXPECT_STREQ(doc["objects"][0]["note"].GetString(), "policy evaluation failed: injected");
  EXPECT_EQ(doc["summary"]["errors"].GetInt(), 2);
}

TEST(ReportTest, JsonIsOneParseableObjectWithTheDocumentedSchema) {
  std::ostringstream out;
  WriteJson(MixedReport(), out);
  rapidjson::Document doc;
  doc.Parse(out.str().c_str());
  ASSERT_FALSE(doc.HasParseError()) << out.str();
  EXPECT_EQ(doc["version"].GetInt(), 1);
  EXPECT_EQ(doc["exit_code"].GetInt(), 2);
  const auto& s = doc["summary"];
  EXPECT_EQ(s["files"].GetInt(), 1);
  EXPECT_EQ(s["objects"].GetInt(), 5);
  EXPECT_EQ(s["judged"].GetInt(), 3);
  EXPECT_EQ(s["denied"].GetInt(), 1);
  EXPECT_EQ(s["warned"].GetInt(), 1);
  EXPECT_EQ(s["allowed"].GetInt(), 1);
  EXPECT_EQ(s["not_judged"].GetInt(), 1);
  EXPECT_EQ(s["skipped"].GetInt(), 1);
  EXPECT_EQ(s["errors"].GetInt(), 2);

  const auto& objects = doc["objects"];
  ASSERT_EQ(objects.Size(), 5u);
  const auto& miner = objects[0];
  EXPECT_STREQ(miner["file"].GetString(), "m.yaml");
  EXPECT_EQ(miner["document"].GetInt(), 0);
  EXPECT_TRUE(miner["item"].IsNull());
  EXPECT_EQ(miner["line"].GetInt(), 1);
  EXPECT_STREQ(miner["apiVersion"].GetString(), "apps/v1");
  EXPECT_STREQ(miner["kind"].GetString(), "Deployment");
  EXPECT_STREQ(miner["namespace"].GetString(), "mining");
  EXPECT_STREQ(miner["name"].GetString(), "miner");
  EXPECT_STREQ(miner["outcome"].GetString(), "denied");
  ASSERT_EQ(miner["findings"].Size(), 1u);
  const auto& f = miner["findings"][0];
  EXPECT_STREQ(f["rule"].GetString(), "fake-miner-image");
  EXPECT_STREQ(f["action"].GetString(), "deny");
  EXPECT_STREQ(f["container"].GetString(), "xmrig");
  EXPECT_STREQ(f["field"].GetString(), "image");
  EXPECT_STREQ(f["path"].GetString(), "spec.template.spec.containers[0].image");
  EXPECT_EQ(f["line"].GetInt(), 9);
  EXPECT_STREQ(f["evidence"].GetString(), "xmrig/xmrig");
  EXPECT_TRUE(miner["exempted"].IsArray());

  EXPECT_STREQ(objects[2]["outcome"].GetString(), "not_judged");
  EXPECT_STREQ(objects[3]["item"].GetString(), "items[0]");
  EXPECT_STREQ(objects[3]["outcome"].GetString(), "warned");
  EXPECT_STREQ(objects[4]["outcome"].GetString(), "skipped");
  EXPECT_STREQ(objects[4]["note"].GetString(), "no kind: not a Kubernetes object");

  const auto& errors = doc["errors"];
  ASSERT_EQ(errors.Size(), 2u);
  EXPECT_STREQ(errors[0]["file"].GetString(), "broken.yaml");
  EXPECT_EQ(errors[0]["line"].GetInt(), 4);
  EXPECT_EQ(errors[0]["column"].GetInt(), 7);
  EXPECT_STREQ(errors[1]["message"].GetString(), "No such file or directory");
}

TEST(ReportTest, JsonEscapesHostileStrings) {
  ReadResult read = Parse("kind: Pod\nmetadata: {name: \"a\\\"b\\n\\u0001\"}\nspec: {}\n");
  std::ostringstream out;
  WriteJson(Check(read, FakeVerdict), out);
  rapidjson::Document doc;
  doc.Parse(out.str().c_str());
  ASSERT_FALSE(doc.HasParseError()) << out.str();
  EXPECT_STREQ(doc["objects"][0]["name"].GetString(), "a\"b\n\x01");
}

TEST(ReportTest, SummaryLine) {
  Summary s;
  s.judged = 4;
  s.denied = 1;
  s.warned = 2;
  s.not_judged = 3;
  EXPECT_EQ(SummaryLine(s),
            "4 objects judged, 1 denied, 2 warned, 3 not judged, 0 skipped, 0 errors");
}

}  // namespace
}  // namespace stratum_guard::check
