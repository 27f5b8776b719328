// examples/ is what the README and `make run` show people: the manifests must judge as their
// names say, and the AdmissionReview bodies must be well-formed reviews that carry a pod template.
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <filesystem>
#include <sstream>

#include "check/check.h"
#include "check/manifest_reader.h"
#include "common/files.h"
#include "policy/workload.h"
#include "test/check/test_support.h"

namespace stratum_guard::check {
namespace {

std::string Example(const std::string& name) {
  return (testing::SourceDir() / "examples" / name).string();
}

Report JudgeExample(const std::string& name) {
  std::istringstream no_stdin;
  ReadResult read = ReadManifests({Example(name)}, no_stdin);
  EXPECT_TRUE(read.errors.empty()) << name;
  EXPECT_EQ(read.objects.size(), 1u) << name;
  return Check(read, EvaluatorFor(policy::Policy::Default()));
}

TEST(ExamplesTest, MinerDeploymentIsDenied) {
  Report r = JudgeExample("miner-deployment.yaml");
  EXPECT_EQ(r.judgements[0].kind, "Deployment");
  EXPECT_EQ(r.judgements[0].outcome, Outcome::kDenied);
}

TEST(ExamplesTest, ObfuscatedMinerCronJobIsDenied) {
  Report r = JudgeExample("miner-cronjob-obfuscated.yaml");
  EXPECT_EQ(r.judgements[0].kind, "CronJob");
  EXPECT_EQ(r.judgements[0].outcome, Outcome::kDenied);
}

TEST(ExamplesTest, BenignDeploymentIsAllowed) {
  Report r = JudgeExample("benign-deployment.yaml");
  EXPECT_EQ(r.judgements[0].kind, "Deployment");
  EXPECT_EQ(r.judgements[0].outcome, Outcome::kAllowed);
}

struct ReviewCase {
  const char* file;
  const char* api_version;
  const char* kind;
  bool miner;
};

void PrintTo(const ReviewCase& c, std::ostream* os) { *os << c.file; }

class ReviewExampleTest : public ::testing::TestWithParam<ReviewCase> {};

TEST_P(ReviewExampleTest, IsAnAdmissionReviewCarryingAPodTemplate) {
  const ReviewCase& c = GetParam();
  std::string error;
  auto text = common::ReadFile(Example(c.file), &error);
  ASSERT_TRUE(text) << error;
  rapidjson::Document doc;
  doc.Parse(text->c_str());
  ASSERT_FALSE(doc.HasParseError()) << c.file;
  EXPECT_STREQ(doc["apiVersion"].GetString(), c.api_version);
  EXPECT_STREQ(doc["kind"].GetString(), "AdmissionReview");
  const rapidjson::Value& req = doc["request"];
  for (const char* member :
       {"uid", "kind", "resource", "requestKind", "namespace", "operation", "userInfo", "object"}) {
    EXPECT_TRUE(req.HasMember(member)) << c.file << " lacks request." << member;
  }
  EXPECT_STREQ(req["operation"].GetString(), "CREATE");
  EXPECT_STREQ(req["kind"]["kind"].GetString(), c.kind);
  EXPECT_STREQ(req["object"]["kind"].GetString(), c.kind);
  EXPECT_TRUE(req["oldObject"].IsNull());
  std::optional<policy::Workload> w =
      policy::ExtractWorkload(req["kind"]["kind"].GetString(), req["object"]);
  ASSERT_TRUE(w.has_value());
  EXPECT_FALSE(w->containers.empty());
  policy::Verdict v = policy::Policy::Default()->Evaluate(*w);
  EXPECT_EQ(v.Denied(), c.miner) << c.file;
}

INSTANTIATE_TEST_SUITE_P(
    Reviews, ReviewExampleTest,
    ::testing::Values(
        ReviewCase{"review-miner-deployment.json", "admission.k8s.io/v1", "Deployment", true},
        ReviewCase{"review-benign-pod.json", "admission.k8s.io/v1", "Pod", false},
        ReviewCase{"review-miner-pod-v1beta1.json", "admission.k8s.io/v1beta1", "Pod", true}),
    [](const auto& info) {
      std::string name = info.param.file;
      std::replace_if(
          name.begin(), name.end(), [](char ch) { return !std::isalnum(ch); }, '_');
      return name;
    });

}  // namespace
}  // namespace stratum_guard::check
