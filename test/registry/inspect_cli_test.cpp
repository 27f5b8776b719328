// `stratum-guard check --inspect-images`, the real binary against a real registry: a miner baked
// into an image is denied though its pod spec is innocent, and nothing a registry does wrong
// becomes a denial.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/base64.h"
#include "test/registry/registry_fixture.h"

namespace stratum_guard::registry {
namespace {

using test::Config;
using test::kTester;
using test::OciLayout;
using test::Registry;
using testing::ChildProcess;
using testing::Pki;
using testing::TempDir;

struct CheckRun {
  int exit_code = -1;
  std::string output;  // stdout and stderr, line by line
};

CheckRun Check(const std::vector<std::string>& args) {
  std::vector<std::string> all = {"check"};
  all.insert(all.end(), args.begin(), args.end());
  ChildProcess process(STRATUM_GUARD_BINARY, all);
  CheckRun run;
  run.exit_code = process.WaitExit(std::chrono::seconds(60)).value_or(-1);
  for (const std::string& line : process.Lines()) run.output += line + "\n";
  return run;
}

std::string Deployment(const std::string& image, const std::string& command = "") {
  std::string yaml =
      "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: app, namespace: team}\n"
      "spec:\n  selector: {matchLabels: {app: x}}\n  template:\n    metadata: {labels: {app: x}}\n"
      "    spec:\n      containers:\n      - name: app\n        image: " +
      image + "\n";
  if (!command.empty()) yaml += "        command: " + command + "\n";
  return yaml;
}

class InspectCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ca_ = dir_.Write("ca.pem", Pki().ca_pem);
    test::PushMinerAndWeb(registry_, dir_, "team/miner");
  }

  TempDir dir_;
  Registry registry_{false};
  std::string ca_;
};

TEST_F(InspectCliTest, AMinerBakedIntoTheImageIsDeniedOnlyWhenInspected) {
  std::string manifest = dir_.Write("miner.yaml", Deployment(registry_.host() + "/team/miner:v1"));
  CheckRun plain = Check({manifest});
  EXPECT_EQ(plain.exit_code, 0) << plain.output;
  CheckRun inspected = Check({"--inspect-images", "--registry-ca", ca_, manifest});
  EXPECT_EQ(inspected.exit_code, 1) << inspected.output;
  EXPECT_NE(inspected.output.find("image config Cmd[1]"), std::string::npos) << inspected.output;
  EXPECT_NE(inspected.output.find("stratum+tcp://pool.example:3333"), std::string::npos)
      << inspected.output;
}

TEST_F(InspectCliTest, ACommandOverridingTheMinerEntrypointAndABenignImageAreAllowed) {
  std::string overridden = dir_.Write(
      "overridden.yaml", Deployment(registry_.host() + "/team/miner:v1", R"(["/bin/sleep", "1"])"));
  CheckRun run = Check({"--inspect-images", "--registry-ca", ca_, overridden});
  EXPECT_EQ(run.exit_code, 0) << run.output;
  std::string web = dir_.Write("web.yaml", Deployment(registry_.host() + "/team/web:v1"));
  run = Check({"--inspect-images", "--registry-ca", ca_, web});
  EXPECT_EQ(run.exit_code, 0) << run.output;
  EXPECT_EQ(run.output.find("warning"), std::string::npos) << run.output;
}

TEST_F(InspectCliTest, AnImageThatCannotBeReadIsAWarningNeverADenial) {
  std::string manifest =
      dir_.Write("unreadable.yaml", Deployment("127.0.0.1:1/gone/app:v1") + "---\n" +
                                        Deployment(registry_.host() + "/team/no-such-image:v1") +
                                        "---\n" + Deployment(registry_.host() + "/team/miner:v1"));
  // Without --registry-ca the test registry's certificate is not trusted either.
  CheckRun run = Check({"--inspect-images", manifest});
  EXPECT_EQ(run.exit_code, 0) << run.output;
  EXPECT_NE(run.output.find("warning: image \"127.0.0.1:1/gone/app:v1\" of Deployment app not "
                            "inspected"),
            std::string::npos)
      << run.output;
  EXPECT_NE(run.output.find("no-such-image:v1\" of Deployment app not inspected"),
            std::string::npos)
      << run.output;
  EXPECT_NE(run.output.find("team/miner:v1\" of Deployment app not inspected"), std::string::npos)
      << run.output;
}

TEST_F(InspectCliTest, CredentialsComeFromTheDockerConfig) {
  Registry private_registry(true);
  test::PushPrivateMiner(private_registry, dir_, "private/miner");
  std::string manifest =
      dir_.Write("private.yaml", Deployment(private_registry.host() + "/private/miner:v1"));
  std::string config =
      dir_.Write("config.json",
                 R"({"auths": {")" + private_registry.host() + R"(": {"auth": ")" +
                     common::EncodeBase64(kTester.username + ":" + kTester.password) + R"("}}})");

  CheckRun anonymous = Check({"--inspect-images", "--registry-ca", ca_, "--docker-config",
                              dir_.Write("empty.json", R"({"auths": {}})"), manifest});
  EXPECT_EQ(anonymous.exit_code, 0) << anonymous.output;
  EXPECT_NE(anonymous.output.find("asks for credentials"), std::string::npos) << anonymous.output;
  CheckRun run =
      Check({"--inspect-images", "--registry-ca", ca_, "--docker-config", config, manifest});
  EXPECT_EQ(run.exit_code, 1) << run.output;
}

TEST(InspectCliFlagsTest, BadRegistryFlagsAreUsageErrors) {
  TempDir dir;
  std::string manifest = dir.Write("m.yaml", Deployment("nginx:1.25"));
  CheckRun run = Check({"--inspect-images", "--registry-mirror", "docker.io", manifest});
  EXPECT_EQ(run.exit_code, 2) << run.output;
  EXPECT_NE(run.output.find("expected REGISTRY=HOST[:PORT]"), std::string::npos) << run.output;
  run = Check({"--inspect-images", "--registry-ca", dir.File("missing.pem"), manifest});
  EXPECT_EQ(run.exit_code, 2) << run.output;
  EXPECT_NE(run.output.find("--registry-ca"), std::string::npos) << run.output;
  run = Check({"--inspect-images", "--docker-config", dir.Write("bad.json", "[]"), manifest});
  EXPECT_EQ(run.exit_code, 2) << run.output;
  EXPECT_NE(run.output.find("not a docker config"), std::string::npos) << run.output;
  run = Check({"--registry-timeout", "0s", manifest});
  EXPECT_EQ(run.exit_code, 2) << run.output;
  run = Check({"--image-cache-bytes", "0", manifest});
  EXPECT_EQ(run.exit_code, 2) << run.output;
  EXPECT_NE(run.output.find("--image-cache-bytes"), std::string::npos) << run.output;
}

}  // namespace
}  // namespace stratum_guard::registry
