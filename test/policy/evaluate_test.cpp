// Evaluate as a whole: the order and shape of findings, every kind of exemption, variable
// expansion (kubelet and shell), decoding of obfuscated scripts with its bounds, and rules of
// custom policies.

#include <gtest/gtest.h>

#include <string>

#include "common/base64.h"
#include "policy/policy.h"
#include "test/policy/test_util.h"

namespace stratum_guard::policy {
namespace {

using testing::Describe;
using testing::EvaluateDefault;
using testing::FindingOf;
using testing::TestContainer;

std::string Hex(std::string_view in) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : in) {
    out += kDigits[c >> 4];
    out += kDigits[c & 15];
  }
  return out;
}

// ---- order and shape -------------------------------------------------------------------------

TEST(EvaluateTest, FindingsAreOrderedByContainerFieldAndRule) {
  TestContainer first;
  first.name = "first";
  first.image = "xmrig/xmrig:6";
  first.command = {"xmrig"};
  first.args = {"-o", "stratum+tcp://pool.supportxmr.com:3333"};
  first.env = {{"POOL", "stratum+ssl://gulf.moneroocean.stream:10128"}};
  TestContainer second;
  second.name = "second";
  second.image = "cpuminer:2";
  Verdict v = EvaluateDefault(std::vector<TestContainer>{first, second});
  std::vector<std::string> order;
  for (const Finding& f : v.findings)
    order.push_back(f.container + " " + f.field + " " + f.rule_id);
  EXPECT_EQ(order, (std::vector<std::string>{
                       "first image miner-image",
                       "first command[0] miner-binary",
                       "first args[1] pool-domain",
                       "first args[1] pool-port",
                       "first args[1] stratum-url",
                       "first env[POOL] pool-domain",
                       "first env[POOL] pool-port",
                       "first env[POOL] stratum-url",
                       "second image miner-image",
                   }))
      << Describe(v);
  for (const Finding& f : v.findings) {
    EXPECT_EQ(f.message.find("rule"), std::string::npos) << "no rule id in messages: " << f.message;
    EXPECT_EQ(f.message.find('\n'), std::string::npos);
  }
}

TEST(EvaluateTest, HostTokensAreFoundWhateverTheirOffsetAndLength) {
  // A host token of any length ends exactly where its first non-host byte is, and only whole
  // labels match.
  const std::string kHostBytes = "aZ9-.q0Mx";
  for (std::size_t length = 0; length <= 20; ++length) {
    std::string prefix;
    for (std::size_t k = 0; k < length; ++k) prefix += kHostBytes[k % kHostBytes.size()];
    // Host bytes before the domain join its token; leading '-' and '.' are trimmed.
    std::string joined = prefix + "pool.supportxmr.com";
    std::string token = joined.substr(joined.find_first_not_of("-."));
    TestContainer c;
    c.env = {{"POOL", "x " + joined + ":3333/tail"}};
    Verdict v = EvaluateDefault(c);
    const Finding* f = FindingOf(v, "pool-domain");
    ASSERT_NE(f, nullptr) << joined << "\n" << Describe(v);
    EXPECT_EQ(f->evidence, token + ":3333");
    // Any other byte ends the token, wherever it falls.
    for (char stop : {'_', '/', '@', '[', '`', '{', '~', ':', '\x80', '\xff', ' '}) {
      TestContainer d;
      d.env = {{"POOL", prefix + stop + "pool.supportxmr.com:3333"}};
      Verdict w = EvaluateDefault(d);
      const Finding* g = FindingOf(w, "pool-domain");
      ASSERT_NE(g, nullptr) << prefix << stop << "\n" << Describe(w);
      EXPECT_EQ(g->evidence, "pool.supportxmr.com:3333") << prefix << int{stop};
    }
    // Label boundaries still hold in long tokens.
    TestContainer e;
    e.env = {{"POOL", prefix + "evil-supportxmr.com:8080"}};
    EXPECT_EQ(FindingOf(EvaluateDefault(e), "pool-domain"), nullptr) << prefix;
  }
}

TEST(EvaluateTest, EvaluationIsDeterministic) {
  TestContainer c;
  c.command = {"sh", "-c", "./xmrig -o pool.supportxmr.com:3333 --donate-level 1"};
  Verdict a = EvaluateDefault(c);
  Verdict b = EvaluateDefault(c);
  ASSERT_EQ(a.findings.size(), b.findings.size());
  for (std::size_t i = 0; i < a.findings.size(); ++i) {
    EXPECT_EQ(a.findings[i].message, b.findings[i].message);
  }
}

TEST(EvaluateTest, CleanPodHasNoFindings) {
  TestContainer c;
  c.image = "ghcr.io/acme/web:2.14.1";
  c.command = {"/app/server"};
  c.args = {"--listen=0.0.0.0:8080", "--db", "postgres://web@postgres:5432/shop"};
  c.env = {{"REDIS_HOST", "redis.shop.svc.cluster.local"}, {"TZ", "Europe/Paris"}};
  Verdict v = EvaluateDefault(c);
  EXPECT_TRUE(v.Empty()) << Describe(v);
  EXPECT_FALSE(v.Denied());
  EXPECT_FALSE(v.Warned());
}

TEST(EvaluateTest, ControlCharactersInEvidenceStayOnOneLine) {
  TestContainer c;
  c.command = {"sh", "-c", "echo hi\nxmrig\t-o\rstratum+tcp://a.b:1"};
  Verdict v = EvaluateDefault(c);
  ASSERT_TRUE(v.Denied()) << Describe(v);
  for (const Finding& f : v.findings) {
    EXPECT_EQ(f.message.find_first_of("\n\r\t"), std::string::npos) << f.message;
  }
}

// ---- exemptions ------------------------------------------------------------------------------

const char kExemptingPolicy[] = R"(version: 1
exemptions:
  namespaces: [miner-lab]
  images:
    exact: ["ghcr.io/acme/xmrig:6.21.0"]
    prefixes: ["ghcr.io/acme/security", "research"]
rules:
  - id: stratum-url
    description: d
    action: deny
    finding: Stratum pool URL
    match:
      patterns: ['(?i)\bstratum\+tcp://\S+']
  - id: miner-image
    description: d
    action: deny
    finding: known miner image
    match:
      images: [xmrig]
    exempt:
      namespaces: [benchmarks]
      images:
        prefixes: [ghcr.io/acme/bench]
end: stratum-guard-policy
)";

Verdict EvaluateWith(const std::string& image, const std::string& ns,
                     std::vector<std::string> args = {"-o", "stratum+tcp://p.example:1"}) {
  auto policy = Policy::Compile(kExemptingPolicy, "exempt.yaml");
  TestContainer c;
  c.image = image;
  c.args = std::move(args);
  return testing::Evaluate(*policy, {c}, ns);
}

TEST(ExemptionTest, NamespaceExemptsEverythingButKeepsTheRecord) {
  Verdict v = EvaluateWith("xmrig/xmrig:6", "miner-lab");
  EXPECT_TRUE(v.findings.empty()) << Describe(v);
  EXPECT_FALSE(v.Denied());
  EXPECT_EQ(v.exempted.size(), 2u) << Describe(v);
  for (const Finding& f : v.exempted) EXPECT_EQ(f.exempted_by, ExemptedBy::kNamespace);
  EXPECT_TRUE(EvaluateWith("xmrig/xmrig:6", "miner-lab2").Denied()) << "exact namespace names";
}

TEST(ExemptionTest, RecordsWhichExemptionMatched) {
  // Both the namespace and the image are exempt: the namespace is named.
  Verdict both = EvaluateWith("ghcr.io/acme/xmrig:6.21.0", "miner-lab");
  ASSERT_FALSE(both.exempted.empty());
  for (const Finding& f : both.exempted) EXPECT_EQ(f.exempted_by, ExemptedBy::kNamespace);

  Verdict image = EvaluateWith("ghcr.io/acme/xmrig:6.21.0", "default");
  ASSERT_EQ(image.exempted.size(), 2u) << Describe(image);
  for (const Finding& f : image.exempted) EXPECT_EQ(f.exempted_by, ExemptedBy::kImage);

  // Findings that decide something carry no exemption.
  for (const Finding& f : EvaluateWith("xmrig/xmrig:6", "default").findings) {
    EXPECT_EQ(f.exempted_by, ExemptedBy::kNone);
  }
}

TEST(ExemptionTest, ExactImage) {
  EXPECT_FALSE(EvaluateWith("ghcr.io/acme/xmrig:6.21.0", "default").Denied());
  EXPECT_TRUE(EvaluateWith("ghcr.io/acme/xmrig:6.21.1", "default").Denied()) << "other tag";
  EXPECT_TRUE(EvaluateWith("ghcr.io/acme/xmrig", "default").Denied()) << "no tag";
}

TEST(ExemptionTest, RepositoryPrefixAtPathBoundary) {
  EXPECT_FALSE(EvaluateWith("ghcr.io/acme/security/scanner:1", "default").Denied());
  EXPECT_FALSE(EvaluateWith("ghcr.io/acme/security:1", "default").Denied());
  EXPECT_TRUE(EvaluateWith("ghcr.io/acme/security-evil/x:1", "default").Denied());
  EXPECT_TRUE(EvaluateWith("docker.io/acme/security/scanner:1", "default").Denied());
  // A one-component prefix is a Docker Hub namespace, however the image is spelled.
  EXPECT_FALSE(EvaluateWith("research/miner-sim:2", "default").Denied());
  EXPECT_FALSE(EvaluateWith("docker.io/research/miner-sim:2", "default").Denied());
  EXPECT_TRUE(EvaluateWith("research:2", "default").Denied()) << "library/research is not ours";
}

TEST(ExemptionTest, PerRuleNamespaceAndImage) {
  // miner-image is exempt in "benchmarks", stratum-url still applies there.
  Verdict v = EvaluateWith("xmrig/xmrig:6", "benchmarks");
  EXPECT_EQ(FindingOf(v, "miner-image"), nullptr) << Describe(v);
  EXPECT_NE(FindingOf(v, "stratum-url"), nullptr) << Describe(v);
  ASSERT_EQ(v.exempted.size(), 1u);
  EXPECT_EQ(v.exempted[0].rule_id, "miner-image");
  EXPECT_EQ(v.exempted[0].exempted_by, ExemptedBy::kNamespace);

  Verdict image_only = EvaluateWith("ghcr.io/acme/bench/xmrig:6", "default", {});
  EXPECT_FALSE(image_only.Denied()) << Describe(image_only);
  ASSERT_EQ(image_only.exempted.size(), 1u);
  EXPECT_EQ(image_only.exempted[0].exempted_by, ExemptedBy::kImage);
}

TEST(ExemptionTest, LabelsAndAnnotationsCannotExempt) {
  // The pod's author controls its labels: no label, however named, changes a verdict.
  auto parsed = testing::Parse(R"({"kind": "Pod", "metadata": {"name": "m", "namespace": "d",
    "labels": {"stratum-guard.io/exempt": "true"},
    "annotations": {"stratum-guard.io/exempt": "true"}},
    "spec": {"containers": [{"name": "m", "image": "xmrig/xmrig:6"}]}})");
  EXPECT_TRUE(Policy::Default()->Evaluate(parsed->workload).Denied());
}

// Attackers with cluster-admin credentials hide miners in kube-system; the sweeper must see them.
TEST(ExemptionTest, DefaultPolicyExemptsNoNamespace) {
  TestContainer c;
  c.image = "xmrig/xmrig:6";
  for (const char* ns : {"kube-system", "stratum-guard", "default"}) {
    Verdict v = EvaluateDefault({c}, ns);
    EXPECT_TRUE(v.Denied()) << ns;
    EXPECT_TRUE(v.exempted.empty()) << ns;
  }
}

TEST(ExemptionTest, ExemptSignalDoesNotEscalateOthers) {
  auto policy = Policy::Compile(R"(version: 1
rules:
  - id: flag
    description: d
    action: warn
    finding: miner option
    match:
      flags: [--donate-level]
    combine: {with: [wallet], action: deny}
  - id: wallet
    description: d
    action: warn
    finding: wallet
    match:
      patterns: ['WALLET-[0-9]+']
    exempt:
      namespaces: [donations]
end: stratum-guard-policy
)",
                                "c.yaml");
  TestContainer c;
  c.args = {"--donate-level", "1", "WALLET-42"};
  EXPECT_TRUE(testing::Evaluate(*policy, {c}, "default").Denied());
  Verdict v = testing::Evaluate(*policy, {c}, "donations");
  EXPECT_FALSE(v.Denied()) << Describe(v);
  EXPECT_TRUE(v.Warned());
}

// ---- expansion -------------------------------------------------------------------------------

TEST(ExpansionTest, KubeletDollarParenFromLiteralEnv) {
  TestContainer c;
  c.command = {"/app/run"};
  c.args = {"-o", "$(POOL)"};
  c.env = {{"POOL", "stratum+tcp://p.example:3333"}};
  Verdict v = EvaluateDefault(c);
  const Finding* f = nullptr;
  for (const Finding& x : v.findings) {
    if (x.rule_id == "stratum-url" && x.field == "args[1]") f = &x;
  }
  ASSERT_NE(f, nullptr) << Describe(v);
  EXPECT_EQ(f->evidence, "stratum+tcp://p.example:3333");
  EXPECT_NE(f->message.find("after expanding $(VAR) from env"), std::string::npos) << f->message;
}

TEST(ExpansionTest, KubeletExpandsEnvFromEarlierEnv) {
  TestContainer c;
  c.env = {{"SCHEME", "stratum+tcp"}, {"URL", "$(SCHEME)://p.example:3333"}};
  Verdict v = EvaluateDefault(c);
  const Finding* f = FindingOf(v, "stratum-url");
  ASSERT_NE(f, nullptr) << Describe(v);
  EXPECT_EQ(f->field, "env[URL]");
}

TEST(ExpansionTest, EscapedAndUndefinedStayLiteral) {
  TestContainer escaped;
  escaped.args = {"$$(POOL)"};
  escaped.env = {{"POOL", "stratum+tcp://p.example:3333"}};
  Verdict v = EvaluateDefault(escaped);
  for (const Finding& f : v.findings) EXPECT_NE(f.field, "args[0]") << Describe(v);
  TestContainer undefined;
  undefined.args = {"-o", "$(NOT_SET)"};
  EXPECT_TRUE(EvaluateDefault(undefined).Empty());
}

TEST(ExpansionTest, ShellVariablesFromEnvAndScript) {
  TestContainer from_env;
  from_env.command = {"sh", "-c", "exec /opt/app -o ${P}"};
  from_env.env = {{"P", "stratum+ssl://p.example:443"}};
  Verdict v = EvaluateDefault(from_env);
  bool in_command = false;
  for (const Finding& f : v.findings) in_command |= f.field == "command[2]";
  EXPECT_TRUE(in_command) << Describe(v);

  TestContainer from_script;
  from_script.command = {"bash", "-c", "S=stratum; T=tcp; /opt/app -o $S+$T://p.example:3333"};
  Verdict w = EvaluateDefault(from_script);
  const Finding* f = FindingOf(w, "stratum-url");
  ASSERT_NE(f, nullptr) << Describe(w);
  EXPECT_NE(f->message.find("after shell variable expansion"), std::string::npos);

  TestContainer binary;
  binary.command = {"sh", "-c", "B=xmr; ${B}ig --version"};
  EXPECT_NE(FindingOf(EvaluateDefault(binary), "miner-binary"), nullptr);
}

// ---- obfuscation -----------------------------------------------------------------------------

TEST(ObfuscationTest, Base64InShellIsDecodedAndScanned) {
  std::string payload = "./xmrig -o stratum+tcp://pool.supportxmr.com:3333 -u x";
  TestContainer c;
  c.command = {"sh", "-c", "echo " + common::EncodeBase64(payload) + " | base64 -d | sh"};
  Verdict v = EvaluateDefault(c);
  EXPECT_TRUE(v.Denied()) << Describe(v);
  const Finding* f = FindingOf(v, "stratum-url");
  ASSERT_NE(f, nullptr) << Describe(v);
  EXPECT_EQ(f->field, "command[2]");
  EXPECT_NE(f->message.find("(decoded from base64)"), std::string::npos) << f->message;
  EXPECT_NE(FindingOf(v, "miner-binary"), nullptr) << Describe(v);
}

TEST(ObfuscationTest, Base64InInterpreterCode) {
  std::string payload = "import os; os.system('xmrig -o pool.minexmr.com:4444')";
  TestContainer c;
  c.command = {"python3", "-c",
               "import base64;exec(base64.b64decode('" + common::EncodeBase64(payload) + "'))"};
  EXPECT_TRUE(EvaluateDefault(c).Denied()) << Describe(EvaluateDefault(c));
}

TEST(ObfuscationTest, HexAndEscapedHex) {
  TestContainer plain;
  plain.command = {"sh", "-c", "echo " + Hex("stratum+tcp://p.example:3333") + " | xxd -r -p"};
  EXPECT_NE(FindingOf(EvaluateDefault(plain), "stratum-url"), nullptr)
      << Describe(EvaluateDefault(plain));
  std::string escaped;
  for (char ch : std::string("xmrig -o x")) {
    escaped += "\\x" + Hex(std::string(1, ch));
  }
  TestContainer printf_hex;
  printf_hex.command = {"sh", "-c", "$(printf '" + escaped + "')"};
  EXPECT_NE(FindingOf(EvaluateDefault(printf_hex), "miner-binary"), nullptr)
      << Describe(EvaluateDefault(printf_hex));
}

TEST(ObfuscationTest, TwoLevelsDecodedThirdIsNot) {
  std::string inner = "stratum+tcp://p.example:3333 and some padding";
  TestContainer two;
  two.command = {"sh", "-c",
                 "echo " +
                     common::EncodeBase64("echo " + common::EncodeBase64(inner) + " | base64 -d") +
                     " | base64 -d | sh"};
  EXPECT_NE(FindingOf(EvaluateDefault(two), "stratum-url"), nullptr)
      << Describe(EvaluateDefault(two));
  TestContainer three;
  three.command = {
      "sh", "-c",
      "echo " +
          common::EncodeBase64(
              "echo " +
              common::EncodeBase64("echo " + common::EncodeBase64(inner) + " | base64 -d") +
              " | base64 -d") +
          " | base64 -d | sh"};
  EXPECT_EQ(FindingOf(EvaluateDefault(three), "stratum-url"), nullptr)
      << "depth is bounded at 2: " << Describe(EvaluateDefault(three));
}

TEST(ObfuscationTest, DecodingIsBoundedInSize) {
  // 100 KiB of harmless text, then the payload: past the 64 KiB budget, not decoded.
  std::string filler(100 * 1024, 'a');
  TestContainer c;
  c.command = {
      "sh", "-c",
      "echo " + common::EncodeBase64(filler + " stratum+tcp://p.example:3333") + " | base64 -d"};
  EXPECT_EQ(FindingOf(EvaluateDefault(c), "stratum-url"), nullptr);
}

TEST(ObfuscationTest, OrdinaryLongWordsAreNotDecodedIntoFindings) {
  TestContainer c;
  c.command = {"sh", "-c",
               "cd /usr/local/lib/python3.11/site-packages && exec gunicorn "
               "--workers=4 ApplicationConfigurationModule:app"};
  EXPECT_TRUE(EvaluateDefault(c).Empty()) << Describe(EvaluateDefault(c));
  TestContainer outside_shell;
  outside_shell.args = {"--token", common::EncodeBase64("stratum+tcp://p.example:3333")};
  EXPECT_TRUE(EvaluateDefault(outside_shell).Empty()) << "blobs are decoded only in scripts";
}

TEST(ShellTest, ScriptDetection) {
  // Flags before -c, a wrapper before the shell, busybox.
  for (std::vector<std::string> command :
       std::vector<std::vector<std::string>>{{"/bin/bash", "-x", "-c", "./xmrig"},
                                             {"/bin/sh", "-ec", "./xmrig"},
                                             {"nohup", "sh", "-c", "./xmrig"},
                                             {"busybox", "sh", "-c", "./xmrig"}}) {
    SCOPED_TRACE(command[0] + " " + command[1]);
    TestContainer c;
    c.command = command;
    EXPECT_NE(FindingOf(EvaluateDefault(c), "miner-binary"), nullptr);
  }
  // args carry the script when command is the shell.
  TestContainer split;
  split.command = {"/bin/sh", "-c"};
  split.args = {"while true; do ./kinsing; sleep 60; done"};
  const Verdict split_verdict = EvaluateDefault(split);  // f points into it
  const Finding* f = FindingOf(split_verdict, "miner-binary");
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->field, "args[0]");
  // A script file is not inline code.
  TestContainer file;
  file.command = {"sh", "/scripts/xmrig-cleanup.sh"};
  EXPECT_TRUE(EvaluateDefault(file).Empty()) << Describe(EvaluateDefault(file));
}

// ---- custom policies -------------------------------------------------------------------------

TEST(CustomPolicyTest, FieldsRestrictWhereARuleLooks) {
  auto policy = Policy::Compile(R"(version: 1
rules:
  - id: env-only
    description: d
    action: deny
    fields: [env]
    match:
      patterns: ['secret-miner']
      domains: [pool.example]
end: stratum-guard-policy
)",
                                "f.yaml");
  TestContainer in_args;
  in_args.args = {"secret-miner", "pool.example:1"};
  EXPECT_TRUE(testing::Evaluate(*policy, {in_args}).Empty());
  TestContainer in_env;
  in_env.env = {{"X", "secret-miner"}};
  EXPECT_TRUE(testing::Evaluate(*policy, {in_env}).Denied());
}

TEST(CustomPolicyTest, PatternsAnchorPerString) {
  auto policy = Policy::Compile(R"(version: 1
rules:
  - id: anchored
    description: d
    action: deny
    match:
      patterns: ['^evil$']
end: stratum-guard-policy
)",
                                "a.yaml");
  TestContainer c;
  c.args = {"good", "evil", "more"};
  Verdict v = testing::Evaluate(*policy, {c});
  const Finding* f = FindingOf(v, "anchored");
  ASSERT_NE(f, nullptr) << Describe(v);
  EXPECT_EQ(f->field, "args[1]");
  TestContainer not_whole;
  not_whole.args = {"evil-twin"};
  EXPECT_TRUE(testing::Evaluate(*policy, {not_whole}).Empty());
}

TEST(CustomPolicyTest, FlagValuePrefixAndDefaultFinding) {
  auto policy = Policy::Compile(R"(version: 1
rules:
  - id: mode
    description: d
    action: audit
    match:
      flags: [{flag: --mode, values: ["turbo*"]}]
end: stratum-guard-policy
)",
                                "m.yaml");
  TestContainer c;
  c.args = {"--mode=TurboMax"};
  Verdict v = testing::Evaluate(*policy, {c});
  const Finding* f = FindingOf(v, "mode");
  ASSERT_NE(f, nullptr) << Describe(v);
  EXPECT_EQ(f->action, Action::kAudit);
  EXPECT_EQ(f->message, "container \"app\" args[0] has a suspicious value \"--mode=TurboMax\"");
  TestContainer other;
  other.args = {"--mode", "eco"};
  EXPECT_TRUE(testing::Evaluate(*policy, {other}).Empty());
}

// ---- a fault is an error, never a verdict -------------------------------------------------------

TEST(EvaluationFailureTest, IsAnErrorWithoutFindings) {
  auto policy = Policy::FailingForTesting("boom");
  TestContainer miner;
  miner.image = "xmrig/xmrig:6";
  Verdict v = testing::Evaluate(*policy, {miner});
  EXPECT_TRUE(v.Failed());
  EXPECT_EQ(v.error, "policy evaluation failed: boom");
  EXPECT_TRUE(v.findings.empty()) << "no made-up deny: " << Describe(v);
  EXPECT_TRUE(v.exempted.empty());
  EXPECT_FALSE(v.Denied());
  EXPECT_FALSE(v.Warned());
  EXPECT_FALSE(v.Empty()) << "a failed evaluation must not read as \"nothing found\"";
}

TEST(EvaluationFailureTest, AGoodEvaluationIsNotFailed) {
  TestContainer miner;
  miner.image = "xmrig/xmrig:6";
  Verdict v = EvaluateDefault(miner);
  EXPECT_FALSE(v.Failed());
  EXPECT_TRUE(v.error.empty());
  EXPECT_TRUE(v.Denied());
}

}  // namespace
}  // namespace stratum_guard::policy
