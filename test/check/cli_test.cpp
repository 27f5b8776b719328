// The real binary as a process: exit codes, stdin, formats and error messages. The cases that
// judge with the default policy need the policy engine; the rest hold whatever the policy does.
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include "test/check/test_support.h"

namespace stratum_guard::check {
namespace {

using testing::RunBinary;
using testing::SourceDir;
using testing::TempDir;

std::string Example(const std::string& name) { return (SourceDir() / "examples" / name).string(); }

TEST(CliTest, HelpExitsZero) {
  auto r = RunBinary({"check", "--help"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("--policy"), std::string::npos);
  EXPECT_NE(r.out.find("-o,--output"), std::string::npos);
}

TEST(CliTest, NoPathIsAUsageError) {
  auto r = RunBinary({"check"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("PATH"), std::string::npos) << r.err;
}

TEST(CliTest, UnknownOutputFormatIsAUsageError) {
  auto r = RunBinary({"check", "-o", "xml", Example("benign-deployment.yaml")});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("xml"), std::string::npos) << r.err;
}

TEST(CliTest, MissingPolicyFileExitsTwo) {
  TempDir dir;
  auto r = RunBinary({"check", "--policy", (dir.path() / "nope.yaml").string(),
                      Example("benign-deployment.yaml")});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("nope.yaml"), std::string::npos) << r.err;
}

TEST(CliTest, InvalidPolicyPrintsThePolicyErrorAndExitsTwo) {
  TempDir dir;
  std::string policy = dir.Write("bad-policy.yaml", "rules:\n  - id: x\n    nonsense: [\n");
  auto r = RunBinary({"check", "--policy", policy, Example("miner-deployment.yaml")});
  EXPECT_EQ(r.exit_code, 2);
  // PolicyError::what() starts with the file it names.
  EXPECT_EQ(r.err.rfind(policy, 0), 0u) << r.err;
  EXPECT_TRUE(r.out.empty()) << r.out;
}

// From here on the default policy must compile: these need the policy engine.

TEST(CliTest, BenignManifestExitsZero) {
  auto r = RunBinary({"check", Example("benign-deployment.yaml")});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find(": allowed\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("summary: 1 file, "), std::string::npos) << r.out;
}

TEST(CliTest, MinerManifestExitsOneAndNamesTheFinding) {
  auto r = RunBinary({"check", Example("miner-deployment.yaml")});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE(r.out.find(": denied\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(" deny "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("spec.template.spec.containers[0]"), std::string::npos) << r.out;
}

TEST(CliTest, StdinIsReadFromDash) {
  auto r = RunBinary({"check", "-"},
                     "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n"
                     "  - name: c\n    image: busybox\n"
                     "    args: [\"-o\", \"stratum+tcp://pool.supportxmr.com:3333\"]\n");
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE(r.out.find("-:1: document 0: Pod p: denied"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("-:8: deny "), std::string::npos) << r.out;
}

TEST(CliTest, JsonOutputParsesAndCarriesTheExitCode) {
  auto r = RunBinary(
      {"check", "-o", "json", Example("miner-deployment.yaml"), Example("benign-deployment.yaml")});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  rapidjson::Document doc;
  doc.Parse(r.out.c_str());
  ASSERT_FALSE(doc.HasParseError()) << r.out;
  EXPECT_EQ(doc["exit_code"].GetInt(), 1);
  EXPECT_EQ(doc["summary"]["files"].GetInt(), 2);
  EXPECT_EQ(doc["summary"]["denied"].GetInt(), 1);
  EXPECT_STREQ(doc["objects"][0]["outcome"].GetString(), "denied");
  EXPECT_GT(doc["objects"][0]["findings"].Size(), 0u);
}

TEST(CliTest, ParseErrorExitsTwoWithFileAndLineAndStillReportsOtherFiles) {
  TempDir dir;
  std::string bad = dir.Write("bad.yaml", "kind: Pod\nmetadata:\n  name: [oops\n  x: y\n");
  std::string bad_json = dir.Write("bad.json", "{\n  \"kind\": \"Pod\",\n  oops\n}\n");
  auto r = RunBinary({"check", bad, bad_json, Example("miner-deployment.yaml")});
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_NE(r.err.find(bad + ":"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(bad_json + ":3:3: error: JSON: "), std::string::npos) << r.err;
  EXPECT_NE(r.out.find("miner-deployment.yaml:"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("2 errors"), std::string::npos) << r.out;
}

TEST(CliTest, DuplicateKeyWarnsAndJudgesTheLastValueWithAnUnchangedExitCode) {
  // As kubectl applies it: the last `image` is the one the API server stores.
  auto r = RunBinary({"check", "-"},
                     "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n"
                     "  - name: c\n    image: xmrig/xmrig\n    image: nginx:1.25\n");
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.err.find("-:8:5: warning: duplicate key \"image\" (first at line 7)"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.out.find("Pod p: allowed"), std::string::npos) << r.out;
  auto denied = RunBinary({"check", "-"},
                          "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n"
                          "  - name: c\n    image: nginx:1.25\n    image: xmrig/xmrig\n");
  EXPECT_EQ(denied.exit_code, 1) << denied.out << denied.err;
  EXPECT_NE(denied.err.find("warning: duplicate key \"image\""), std::string::npos) << denied.err;
  auto json = RunBinary({"check", "-o", "json", "-"},
                        "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n"
                        "  - name: c\n    image: xmrig/xmrig\n    image: nginx:1.25\n");
  EXPECT_EQ(json.exit_code, 0) << json.out << json.err;
  rapidjson::Document doc;
  doc.Parse(json.out.c_str());
  ASSERT_FALSE(doc.HasParseError()) << json.out;
  ASSERT_TRUE(doc["warnings"].IsArray()) << json.out;
  ASSERT_EQ(doc["warnings"].Size(), 1u) << json.out;
  EXPECT_EQ(doc["warnings"][0]["line"].GetInt(), 8);
  EXPECT_EQ(doc["errors"].Size(), 0u);
}

TEST(CliTest, MissingFileExitsTwo) {
  auto r = RunBinary({"check", "/nonexistent/manifests.yaml"});
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_NE(r.err.find("/nonexistent/manifests.yaml: error: "), std::string::npos) << r.err;
}

TEST(CliTest, NonPodKindsAreNotJudgedAndExitZero) {
  auto r = RunBinary({"check", "-"},
                     "apiVersion: v1\nkind: Service\nmetadata: {name: s}\n---\n"
                     "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n"
                     "data: {pool: \"stratum+tcp://pool.supportxmr.com:3333\"}\n");
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("0 objects judged, 0 denied, 0 warned, 2 not judged"), std::string::npos)
      << r.out;
}

TEST(CliTest, NamespaceFlagFillsMissingNamespaces) {
  auto r = RunBinary({"check", "-n", "ci", "-"}, "kind: Pod\nmetadata: {name: p}\nspec: {}\n");
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("Pod ci/p: allowed"), std::string::npos) << r.out;
}

TEST(CliTest, DirectoryOfExamplesDeniesAndExitsOne) {
  auto r = RunBinary({"check", "-q", (SourceDir() / "examples").string()});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_EQ(r.out.find(": allowed\n"), std::string::npos) << r.out;  // quiet
}

}  // namespace
}  // namespace stratum_guard::check
