// The image's own configuration, judged as the kubelet would run it (issue 17): ApplyImageConfig's
// rules, and findings that name the image config's field.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "policy/policy.h"
#include "policy/workload.h"
#include "test/policy/test_util.h"

namespace stratum_guard::policy {
namespace {

using testing::Describe;
using testing::FindingOf;
using testing::TestContainer;

const std::vector<std::string> kEntrypoint = {"/usr/local/bin/xmrig"};
const std::vector<std::string> kCmd = {"-o", "stratum+tcp://pool.example:3333"};
const std::vector<std::string> kEnv = {"PATH=/usr/bin", "POOL=stratum+tcp://pool.example:3333",
                                       "NOVALUE"};

std::vector<std::string> Strings(const std::vector<std::string_view>& views) {
  return {views.begin(), views.end()};
}

Verdict EvaluateWithImage(const TestContainer& container,
                          const std::vector<std::string>& entrypoint,
                          const std::vector<std::string>& cmd,
                          const std::vector<std::string>& env) {
  auto parsed = testing::Parse(testing::PodJson({container}));
  ApplyImageConfig(parsed->workload.containers[0], entrypoint, cmd, env);
  return Policy::Default()->Evaluate(parsed->workload);
}

TEST(ImageConfigTest, WithoutCommandOrArgsTheImageRunsItsEntrypointAndCmd) {
  Container c;
  ApplyImageConfig(c, kEntrypoint, kCmd, {});
  EXPECT_EQ(Strings(c.command), kEntrypoint);
  EXPECT_EQ(Strings(c.args), kCmd);
  EXPECT_TRUE(c.command_from_image);
  EXPECT_TRUE(c.args_from_image);
}

TEST(ImageConfigTest, ACommandReplacesTheEntrypointAndDropsTheCmd) {
  Container c;
  c.command = {"/bin/app"};
  ApplyImageConfig(c, kEntrypoint, kCmd, {});
  EXPECT_EQ(Strings(c.command), std::vector<std::string>{"/bin/app"});
  EXPECT_TRUE(c.args.empty());
  EXPECT_FALSE(c.command_from_image);
  EXPECT_FALSE(c.args_from_image);
}

TEST(ImageConfigTest, ArgsReplaceTheCmdAndKeepTheEntrypoint) {
  Container c;
  c.args = {"--help"};
  ApplyImageConfig(c, kEntrypoint, kCmd, {});
  EXPECT_EQ(Strings(c.command), kEntrypoint);
  EXPECT_EQ(Strings(c.args), std::vector<std::string>{"--help"});
  EXPECT_TRUE(c.command_from_image);
  EXPECT_FALSE(c.args_from_image);
}

TEST(ImageConfigTest, TheImagesEnvComesFirstAndTheContainersOwnWins) {
  Container c;
  c.env = {{"POOL", "none", true, false}};
  ApplyImageConfig(c, {}, {}, kEnv);
  ASSERT_EQ(c.env.size(), 3u);
  EXPECT_EQ(c.env[0].name, "PATH");
  EXPECT_TRUE(c.env[0].from_image);
  EXPECT_EQ(c.env[1].name, "NOVALUE");  // "NAME" without '=' is set and empty
  EXPECT_EQ(c.env[1].value, "");
  EXPECT_EQ(c.env[2].name, "POOL");
  EXPECT_EQ(c.env[2].value, "none");
  EXPECT_FALSE(c.env[2].from_image);
}

TEST(ImageConfigTest, AMinerBakedIntoTheImageIsDeniedAndNamedByItsImageField) {
  Verdict v = EvaluateWithImage(TestContainer{}, kEntrypoint, kCmd, kEnv);
  EXPECT_TRUE(v.Denied()) << Describe(v);
  const Finding* url = FindingOf(v, "stratum-url");
  ASSERT_NE(url, nullptr) << Describe(v);
  bool named_cmd = false, named_env = false, named_entrypoint = false;
  for (const Finding& f : v.findings) {
    named_cmd |= f.field == "image config Cmd[1]";
    named_env |= f.field == "image config Env[POOL]";
    named_entrypoint |= f.field == "image config Entrypoint[0]";
    if (f.field.starts_with("image config")) {
      EXPECT_EQ(f.path, "spec.containers[0].image") << f.message;
      EXPECT_NE(f.message.find("image config"), std::string::npos) << f.message;
    }
  }
  EXPECT_TRUE(named_cmd) << Describe(v);
  EXPECT_TRUE(named_env) << Describe(v);
  EXPECT_TRUE(named_entrypoint) << Describe(v);
}

TEST(ImageConfigTest, ACommandOverridingAMinerEntrypointIsAllowed) {
  TestContainer app;
  app.command = {"/bin/sleep", "3600"};
  Verdict v = EvaluateWithImage(app, kEntrypoint, kCmd, {"PATH=/usr/bin"});
  EXPECT_FALSE(v.Denied()) << Describe(v);
  EXPECT_TRUE(v.findings.empty()) << Describe(v);
}

TEST(ImageConfigTest, ABenignImageConfigAddsNothing) {
  Verdict v =
      EvaluateWithImage(TestContainer{}, {"/docker-entrypoint.sh"}, {"nginx", "-g", "daemon off;"},
                        {"PATH=/usr/local/sbin:/usr/bin", "NGINX_VERSION=1.25.3"});
  EXPECT_TRUE(v.findings.empty()) << Describe(v);
}

}  // namespace
}  // namespace stratum_guard::policy
