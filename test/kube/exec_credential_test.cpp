// Exec credential plugins: fake plugins are shell scripts written into a temporary directory;
// expiry runs on a simulated clock.
#include "kube/exec_credential.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "common/files.h"
#include "kube/kube_api.h"
#include "test/fake_apiserver/fake_apiserver.h"
#include "test/testing/temp_dir.h"

namespace stratum_guard::kube {
namespace {

using fake_apiserver::WriteScript;

constexpr char kV1[] = "client.authentication.k8s.io/v1";

std::string Credential(const std::string& status, const std::string& version = kV1) {
  return R"({"apiVersion":")" + version + R"(","kind":"ExecCredential","status":)" + status + "}";
}

TEST(ParseExecCredentialTest, TokenCertificateAndExpiry) {
  std::string error;
  auto token = ParseExecCredential(Credential(R"({"token":"t1"})"), kV1, error);
  ASSERT_TRUE(token) << error;
  EXPECT_EQ(token->credentials.bearer_token, "t1");
  EXPECT_FALSE(token->expiry);
  auto cert = ParseExecCredential(Credential(R"({"clientCertificateData":"C","clientKeyData":"K",)"
                                             R"("expirationTimestamp":"2027-01-15T08:00:00Z"})"),
                                  kV1, error);
  ASSERT_TRUE(cert) << error;
  EXPECT_EQ(cert->credentials.client_cert_pem, "C");
  EXPECT_EQ(cert->credentials.client_key_pem, "K");
  EXPECT_EQ(cert->expiry, common::Clock::Wall(std::chrono::seconds(1'800'000'000)));
}

TEST(ParseExecCredentialTest, RefusesWhatIsNotAUsableCredential) {
  const std::pair<std::string, std::string> cases[] = {
      {"garbage", "its output is not a JSON object"},
      {"[1]", "its output is not a JSON object"},
      {Credential(R"({"token":"t"})", "client.authentication.k8s.io/v1beta1"),
       "not an ExecCredential of \"client.authentication.k8s.io/v1\""},
      {R"({"apiVersion":"client.authentication.k8s.io/v1","kind":"Secret"})",
       "its output is a Secret of apiVersion"},
      {Credential("{}"), "neither status.token nor status.clientCertificateData"},
      {R"({"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential"})",
       "neither status.token nor status.clientCertificateData"},
      {Credential(R"({"clientCertificateData":"C"})"), "without clientKeyData"},
      {Credential(R"({"token":"t","expirationTimestamp":"tomorrow"})"),
       "expirationTimestamp \"tomorrow\" is not RFC 3339"},
  };
  for (const auto& [json, expected] : cases) {
    std::string error;
    EXPECT_FALSE(ParseExecCredential(json, kV1, error)) << json;
    EXPECT_NE(error.find(expected), std::string::npos) << json << " -> " << error;
  }
}

class ExecPluginTest : public ::testing::Test {
 protected:
  // A plugin that counts its runs in a file and prints `status`.
  ExecConfig Counting(const std::string& status) {
    std::string script = "n=$(cat " + dir_.File("runs") + " 2>/dev/null || echo 0)\n" +
                         "echo $((n + 1)) > " + dir_.File("runs") + "\n" + "echo '" +
                         Credential(status) + "'\n";
    return Config(WriteScript(dir_.path(), "plugin", script));
  }
  ExecConfig Config(const std::string& command) {
    ExecConfig config;
    config.api_version = kV1;
    config.command = command;
    config.base_dir = dir_.path();
    return config;
  }
  int Runs() {
    std::string error;
    auto text = common::ReadFile(dir_.File("runs"), &error);
    return text ? std::stoi(*text) : 0;
  }
  // Get() with its error as the failure message.
  ::testing::AssertionResult Get(ExecCredentialPlugin& plugin, std::string* token = nullptr) {
    https::Credentials out;
    std::string error;
    if (!plugin.Get(nullptr, out, error)) return ::testing::AssertionFailure() << error;
    if (token != nullptr) *token = out.bearer_token;
    return ::testing::AssertionSuccess();
  }
  std::string ErrorOf(const ExecConfig& config) {
    ExecCredentialPlugin plugin(config, clock_);
    https::Credentials out;
    std::string error;
    EXPECT_FALSE(plugin.Get(nullptr, out, error));
    return error;
  }

  testing::TempDir dir_;
  common::SimulatedClock clock_;
};

TEST_F(ExecPluginTest, RunsWithArgsEnvAndTheExecInfo) {
  std::string script =
      "printf '%s' \"$KUBERNETES_EXEC_INFO\" > " + dir_.File("info") +
      "\necho '{\"apiVersion\":\"client.authentication.k8s.io/v1\"," +
      "\"kind\":\"ExecCredential\",\"status\":{\"token\":\"'$1-$PLUGIN_VAR'\"}}'\n";
  ExecConfig config = Config(WriteScript(dir_.path(), "plugin", script));
  config.args = {"from-arg"};
  config.env = {{"PLUGIN_VAR", "from-env"}};
  ExecCredentialPlugin plugin(config, clock_);
  std::string token;
  ASSERT_TRUE(Get(plugin, &token));
  EXPECT_EQ(token, "from-arg-from-env");
  std::string error;
  EXPECT_EQ(common::ReadFile(dir_.File("info"), &error),
            R"({"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential",)"
            R"("spec":{"interactive":false}})");
}

TEST_F(ExecPluginTest, ACredentialIsReusedUntilItExpires) {
  // Expires a minute after the simulated clock's start, 2027-01-15T08:00:00Z.
  ExecCredentialPlugin plugin(
      Counting(R"({"token":"t","expirationTimestamp":"2027-01-15T08:01:00Z"})"), clock_);
  ASSERT_TRUE(Get(plugin));
  ASSERT_TRUE(Get(plugin));
  EXPECT_EQ(Runs(), 1);
  clock_.Advance(std::chrono::seconds(59));
  ASSERT_TRUE(Get(plugin));
  EXPECT_EQ(Runs(), 1);
  clock_.Advance(std::chrono::seconds(1));
  ASSERT_TRUE(Get(plugin));
  EXPECT_EQ(Runs(), 2);
}

TEST_F(ExecPluginTest, WithoutExpiryItIsKeptUntilInvalidated) {
  ExecCredentialPlugin plugin(Counting(R"({"token":"t"})"), clock_);
  ASSERT_TRUE(Get(plugin));
  clock_.Advance(std::chrono::hours(24 * 365));
  ASSERT_TRUE(Get(plugin));
  EXPECT_EQ(Runs(), 1);
  plugin.Invalidate();  // what a 401 does
  ASSERT_TRUE(Get(plugin));
  EXPECT_EQ(Runs(), 2);
}

TEST_F(ExecPluginTest, ARelativeCommandIsFoundBesideTheKubeconfig) {
  std::filesystem::create_directories(dir_.File("bin"));
  WriteScript(dir_.File("bin"), "plugin", "echo '" + Credential(R"({"token":"rel"})") + "'\n");
  ExecCredentialPlugin plugin(Config("bin/plugin"), clock_);
  std::string token;
  ASSERT_TRUE(Get(plugin, &token));
  EXPECT_EQ(token, "rel");
}

TEST_F(ExecPluginTest, ACommandIsLookedUpInPath) {
  // sh is in every PATH: it runs, prints nothing, and that is the error we expect.
  EXPECT_EQ(ErrorOf(Config("sh")), "exec plugin \"sh\": its output is not a JSON object");
}

TEST_F(ExecPluginTest, NotFoundShowsTheInstallHint) {
  ExecConfig config = Config("sg-no-such-plugin");
  config.install_hint = "install it with: brew install sg-plugin";
  EXPECT_EQ(ErrorOf(config),
            "exec plugin \"sg-no-such-plugin\": not found in PATH: install it with: brew "
            "install sg-plugin");
  EXPECT_EQ(ErrorOf(Config("./missing")), "exec plugin \"./missing\": not found");
}

TEST_F(ExecPluginTest, AFailingPluginReportsItsExitStatusAndStderr) {
  std::string path =
      WriteScript(dir_.path(), "plugin", "echo 'token expired, log in' >&2\nexit 3\n");
  EXPECT_EQ(ErrorOf(Config(path)),
            "exec plugin \"" + path + "\" failed: exit status 3: stderr: token expired, log in");
}

TEST_F(ExecPluginTest, ALongStderrIsTruncated) {
  std::string path =
      WriteScript(dir_.path(), "plugin", "head -c 5000 /dev/zero | tr '\\0' e >&2\nexit 1\n");
  std::string error = ErrorOf(Config(path));
  EXPECT_NE(error.find("exit status 1: stderr: eeee"), std::string::npos) << error;
  EXPECT_LT(error.size(), 1200u);
  EXPECT_EQ(error.substr(error.size() - 3), "...");
}

TEST_F(ExecPluginTest, GarbageOnStdoutIsAnError) {
  std::string path = WriteScript(dir_.path(), "plugin", "echo 'Please log in'\necho oops >&2\n");
  EXPECT_EQ(ErrorOf(Config(path)),
            "exec plugin \"" + path + "\": its output is not a JSON object: stderr: oops");
}

TEST_F(ExecPluginTest, AWrongApiVersionIsAnError) {
  std::string path = WriteScript(
      dir_.path(), "plugin",
      "echo '" + Credential(R"({"token":"t"})", "client.authentication.k8s.io/v1beta1") + "'\n");
  EXPECT_NE(ErrorOf(Config(path)).find("not an ExecCredential of \"" + std::string(kV1)),
            std::string::npos);
}

TEST_F(ExecPluginTest, ACancelledRunKillsThePlugin) {
  // The shell's child would hold the pipe open if only the shell were killed.
  std::string path = WriteScript(dir_.path(), "plugin", "sleep 600\n");
  ExecCredentialPlugin plugin(Config(path), clock_);
  https::Credentials out;
  std::string error;
  auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(plugin.Get([] { return true; }, out, error));
  EXPECT_EQ(error, "exec plugin \"" + path + "\": cancelled");
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(30));
}

}  // namespace
}  // namespace stratum_guard::kube
