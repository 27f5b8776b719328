// Policy::Compile: every error the loader can report, each with the bad YAML that triggers it,
// checked for file, line, rule id and problem; and the valid forms of every key.

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "policy/policy.h"
#include "test/policy/test_util.h"

namespace stratum_guard::policy {
namespace {

using testing::TestContainer;

// `yaml` with the end line every policy needs, so that the tests below reach their own error.
std::string Complete(const std::string& yaml) { return yaml + std::string(kPolicyEndLine) + "\n"; }

// Compiles `yaml` as it is and returns the error, or nullopt when it compiled.
std::optional<PolicyError> RawErrorOf(const std::string& yaml) {
  try {
    Policy::Compile(yaml, "team.yaml");
  } catch (const PolicyError& e) {
    return e;
  }
  return std::nullopt;
}

// Compiles Complete(yaml) and returns the error, or nullopt when it compiled.
std::optional<PolicyError> ErrorOf(const std::string& yaml) {
  try {
    Policy::Compile(Complete(yaml), "team.yaml");
  } catch (const PolicyError& e) {
    return e;
  }
  return std::nullopt;
}

// A valid rule to build bad policies around.
constexpr char kHeader[] = "version: 1\nrules:\n";
constexpr char kGoodRule[] =
    "  - id: ok\n"
    "    description: fine\n"
    "    action: deny\n"
    "    match:\n"
    "      patterns: ['xyz']\n";

// Expects Complete(yaml) to be refused at `line` of team.yaml, for `rule_id` ("" for none), with
// a problem containing `problem_part`. ExpectRawError: `yaml` as it is, without the end line.
void ExpectErrorIn(const std::optional<PolicyError>& error, const std::string& yaml, int line,
                   const std::string& rule_id, const std::string& problem_part);
void ExpectError(const std::string& yaml, int line, const std::string& rule_id,
                 const std::string& problem_part) {
  ExpectErrorIn(ErrorOf(yaml), yaml, line, rule_id, problem_part);
}
void ExpectRawError(const std::string& yaml, int line, const std::string& rule_id,
                    const std::string& problem_part) {
  ExpectErrorIn(RawErrorOf(yaml), yaml, line, rule_id, problem_part);
}

void ExpectErrorIn(const std::optional<PolicyError>& error, const std::string& yaml, int line,
                   const std::string& rule_id, const std::string& problem_part) {
  ASSERT_TRUE(error.has_value()) << "compiled, expected an error:\n" << yaml;
  EXPECT_EQ(error->source(), "team.yaml");
  EXPECT_EQ(error->line(), line) << error->what();
  EXPECT_EQ(error->rule_id(), rule_id) << error->what();
  EXPECT_NE(error->problem().find(problem_part), std::string::npos)
      << "problem: " << error->problem() << "\nexpected to contain: " << problem_part;
  std::string what = error->what();
  EXPECT_EQ(what.rfind("team.yaml:" + std::to_string(line) + ": ", 0), 0u) << what;
  if (!rule_id.empty()) {
    EXPECT_NE(what.find("rule " + rule_id + ": "), std::string::npos) << what;
  }
}

// A one-rule policy whose rule body (after the id) is `body`; the rule's id is on line 3.
std::string Rule(const std::string& body) { return std::string(kHeader) + "  - id: r1\n" + body; }

TEST(LoaderTest, DefaultPolicyCompiles) {
  auto policy = Policy::Default();
  ASSERT_NE(policy, nullptr);
  std::vector<std::string> ids;
  for (const RuleInfo& r : policy->rules()) ids.push_back(r.id);
  EXPECT_EQ(ids,
            (std::vector<std::string>{"stratum-url", "miner-image", "mining-image-word",
                                      "miner-binary", "pool-domain", "miner-flag", "wallet-address",
                                      "pool-port", "pool-host", "download-exec", "dropper"}));
  EXPECT_EQ(Policy::Default(), Policy::Default()) << "compiled once and shared";
  EXPECT_NE(Policy::DefaultText().find("id: stratum-url"), std::string_view::npos);
}

TEST(LoaderTest, MinimalPolicyCompiles) {
  auto policy = Policy::Compile(Complete(std::string(kHeader) + kGoodRule), "team.yaml");
  ASSERT_EQ(policy->rule_count(), 1u);
  EXPECT_EQ(policy->rules()[0].id, "ok");
  EXPECT_EQ(policy->rules()[0].description, "fine");
  EXPECT_EQ(policy->rules()[0].action, Action::kDeny);
}

TEST(LoaderTest, EveryKeyCompiles) {
  const std::string yaml = R"(version: 1
exemptions:
  namespaces: [kube-system, ci-runners]
  images:
    exact: ["ghcr.io/acme/scanner:1.2", "nginx@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"]
    prefixes: ["ghcr.io/acme/security/", "acme"]
rules:
  - id: a
    description: all matchers
    action: warn
    finding: something odd
    fields: [command, args, env]
    match:
      patterns: ['(?i)evil']
      wallets: [monero, dero, bitcoin, ethereum]
      images: [evilminer, evil/miner]
      binaries: [evilminer]
      domains: [pool.evil.example]
      flags: [--evil, {flag: --mode, values: [evil, "ev*"]}]
      ports: [1234]
    combine:
      with: [b]
      action: deny
    exempt:
      namespaces: [lab]
      images:
        prefixes: [ghcr.io/acme/lab]
  - id: b
    description: audit only
    action: audit
    match:
      patterns: ['other']
)";
  auto policy = Policy::Compile(Complete(yaml), "team.yaml");
  EXPECT_EQ(policy->rule_count(), 2u);
  EXPECT_EQ(policy->rules()[0].action, Action::kWarn);
  EXPECT_EQ(policy->rules()[1].action, Action::kAudit);
}

TEST(LoaderTest, EnforcementIsOptionalAndParsed) {
  EXPECT_EQ(Policy::Compile(Complete(std::string(kHeader) + kGoodRule), "team.yaml")->enforcement(),
            std::nullopt);
  EXPECT_EQ(Policy::Default()->enforcement(), std::nullopt);
  const std::pair<const char*, Enforcement> cases[] = {{"enforce", Enforcement::kEnforce},
                                                       {"warn", Enforcement::kWarn},
                                                       {"audit", Enforcement::kAudit}};
  for (const auto& [name, expected] : cases) {
    auto policy = Policy::Compile(
        Complete(std::string("enforcement: ") + name + "\n" + kHeader + kGoodRule), "team.yaml");
    EXPECT_EQ(policy->enforcement(), expected) << name;
  }
}

// ---- the end line: a file cut anywhere is refused ---------------------------------------------

// Every byte-prefix of the default policy, as a reload would read a copy still being written.
// Only the whole file is a policy, and the prefix that lacks nothing but its final newline
// (the same YAML); every other prefix is refused, naming the end line.
TEST(EndLineTest, EveryPrefixOfTheDefaultPolicyIsRefused) {
  const std::string_view text = Policy::DefaultText();
  ASSERT_TRUE(text.ends_with(std::string(kPolicyEndLine) + "\n"));
  const std::size_t rules = Policy::Default()->rule_count();
  std::vector<std::size_t> accepted;
  for (std::size_t n = 0; n <= text.size(); ++n) {
    std::optional<PolicyError> error;
    std::size_t compiled_rules = 0;
    try {
      compiled_rules = Policy::Compile(text.substr(0, n), "policy.yaml")->rule_count();
    } catch (const PolicyError& e) {
      error = e;
    }
    if (!error) {
      accepted.push_back(n);
      EXPECT_EQ(compiled_rules, rules) << "prefix of " << n << " bytes";
      continue;
    }
    // Fails (and stops) at the first prefix whose error does not say why: 10,000 lines of
    // output would bury it.
    ASSERT_NE(error->problem().find("does not end with \"end: stratum-guard-policy\""),
              std::string::npos)
        << "prefix of " << n << " bytes: " << error->what();
  }
  EXPECT_EQ(accepted, (std::vector<std::size_t>{text.size() - 1, text.size()}));
}

// The issue's example: the first 2043 bytes held 2 whole rules and loaded as a valid policy.
TEST(EndLineTest, AHalfWrittenPolicyIsRefusedAtItsLastLine) {
  const std::string half(Policy::DefaultText().substr(0, 2043));
  // Cut inside line 39 ("finding: known mine"), the last line with text.
  ExpectRawError(half, 39, "",
                 "the policy does not end with \"end: stratum-guard-policy\": the file is "
                 "incomplete");
}

TEST(EndLineTest, MissingOrMisspelledEndLine) {
  ExpectRawError(std::string(kHeader) + kGoodRule, 7, "", "does not end with");
  ExpectRawError(std::string(kHeader) + kGoodRule + "end: stratum-guard-polic\n", 8, "",
                 "does not end with");
  ExpectRawError(std::string(kHeader) + kGoodRule + "end: 'stratum-guard-policy'\n", 8, "",
                 "does not end with");
  ExpectRawError("", 0, "", "does not end with");
}

TEST(EndLineTest, MustBeTheLastLine) {
  ExpectRawError(std::string(kHeader) + "end: stratum-guard-policy\n" + kGoodRule, 8, "",
                 "does not end with");
}

// The line is there but is not the policy's own `end:` key: inside a rule, in a second YAML
// document, or after an `end:` of another value.
TEST(EndLineTest, MustBeTheTopLevelKeyOfTheFirstDocument) {
  ExpectRawError(std::string(kHeader) + kGoodRule + "    end: stratum-guard-policy\n", 1, "",
                 "the policy mapping has no \"end: stratum-guard-policy\"");
  ExpectRawError(std::string(kHeader) + kGoodRule + "---\nend: stratum-guard-policy\n", 1, "",
                 "the policy mapping has no \"end: stratum-guard-policy\"");
  ExpectRawError(
      std::string(kHeader) + kGoodRule + "end: stratum\n---\nend: stratum-guard-policy\n", 8, "",
      "the policy mapping has no \"end: stratum-guard-policy\"");
  ExpectError(std::string(kHeader) + kGoodRule + "end: stratum-guard-policy\n", 9, "",
              "duplicate key \"end\"");
}

TEST(EndLineTest, CommentsBlankLinesAndCarriageReturnsMayFollow) {
  const std::string body = std::string(kHeader) + kGoodRule;
  EXPECT_EQ(
      Policy::Compile(body + "end: stratum-guard-policy\n\n# the end\n  \n", "a")->rule_count(),
      1u);
  EXPECT_EQ(Policy::Compile(body + "end: stratum-guard-policy  \r\n", "b")->rule_count(), 1u);
  EXPECT_EQ(Policy::Compile(body + "end: stratum-guard-policy", "c")->rule_count(), 1u);
}

TEST(LoaderErrorTest, UnknownEnforcement) {
  ExpectError(std::string("version: 1\nenforcement: dryrun\nrules:\n") + kGoodRule, 2, "",
              "unknown enforcement \"dryrun\" (expected enforce, warn or audit)");
  ExpectError(std::string("version: 1\nenforcement: Enforce\nrules:\n") + kGoodRule, 2, "",
              "unknown enforcement \"Enforce\"");
}

TEST(LoaderErrorTest, EnforcementWrongType) {
  ExpectError(std::string("version: 1\nenforcement: [warn]\nrules:\n") + kGoodRule, 2, "",
              "enforcement must be a string");
}

TEST(LoaderErrorTest, YamlSyntaxError) {
  ExpectError("version: 1\nrules:\n  - id: [unclosed\n", 4, "", "YAML syntax error");
}

// The end line in a second document reaches the check of the first one's shape.
TEST(LoaderErrorTest, NotAMapping) {
  ExpectError("- just\n- a list\n---\n", 1, "", "must be a mapping");
}

// The empty first document ends at the second `---`, line 2.
TEST(LoaderErrorTest, EmptyDocument) { ExpectError("---\n---\n", 2, "", "must be a mapping"); }

TEST(LoaderErrorTest, UnknownTopLevelKey) {
  ExpectError(std::string(kHeader) + kGoodRule + "exemption:\n  namespaces: [a]\n", 8, "",
              "unknown key \"exemption\"");
}

TEST(LoaderErrorTest, DuplicateKey) {
  ExpectError(std::string(kHeader) + kGoodRule + "version: 1\n", 8, "",
              "duplicate key \"version\"");
}

TEST(LoaderErrorTest, MissingVersion) {
  ExpectError(std::string("rules:\n") + kGoodRule, 1, "", "no \"version\"");
}

TEST(LoaderErrorTest, UnsupportedVersion) {
  ExpectError(std::string("version: 2\nrules:\n") + kGoodRule, 1, "", "unsupported version \"2\"");
}

TEST(LoaderErrorTest, MissingRules) { ExpectError("version: 1\n", 1, "", "no \"rules\""); }

TEST(LoaderErrorTest, RulesNotAList) {
  ExpectError("version: 1\nrules:\n  id: x\n", 3, "", "rules must be a list");
}

TEST(LoaderErrorTest, EmptyRules) {
  ExpectError("version: 1\nrules: []\n", 2, "", "rules must not be empty");
}

TEST(LoaderErrorTest, RuleNotAMapping) {
  ExpectError("version: 1\nrules:\n  - just-a-string\n", 3, "", "rule must be a mapping");
}

TEST(LoaderErrorTest, UnknownRuleKey) {
  ExpectError(Rule("    description: d\n    action: deny\n    severity: high\n    match:\n"
                   "      patterns: [x]\n"),
              6, "r1", "unknown key \"severity\"");
}

TEST(LoaderErrorTest, MissingId) {
  ExpectError(
      "version: 1\nrules:\n  - description: d\n    action: deny\n    match:\n"
      "      patterns: [x]\n",
      3, "", "no \"id\"");
}

TEST(LoaderErrorTest, BadId) {
  ExpectError(
      "version: 1\nrules:\n  - id: Stratum URL\n    description: d\n    action: deny\n"
      "    match:\n      patterns: [x]\n",
      3, "Stratum URL", "must be lower-case letters");
}

TEST(LoaderErrorTest, DuplicateRuleId) {
  ExpectError(std::string(kHeader) + kGoodRule + kGoodRule, 8, "ok", "duplicate rule id \"ok\"");
}

TEST(LoaderErrorTest, MissingDescription) {
  ExpectError(Rule("    action: deny\n    match:\n      patterns: [x]\n"), 3, "r1",
              "no \"description\"");
}

TEST(LoaderErrorTest, DescriptionWrongType) {
  ExpectError(Rule("    description: [a, b]\n    action: deny\n    match:\n      patterns: [x]\n"),
              4, "r1", "description must be a string");
}

TEST(LoaderErrorTest, MissingAction) {
  ExpectError(Rule("    description: d\n    match:\n      patterns: [x]\n"), 3, "r1",
              "no \"action\"");
}

TEST(LoaderErrorTest, UnknownAction) {
  ExpectError(Rule("    description: d\n    action: block\n    match:\n      patterns: [x]\n"), 5,
              "r1", "unknown action \"block\"");
}

TEST(LoaderErrorTest, ActionWrongType) {
  ExpectError(Rule("    description: d\n    action: [deny]\n    match:\n      patterns: [x]\n"), 5,
              "r1", "action must be a string");
}

TEST(LoaderErrorTest, MissingMatch) {
  ExpectError(Rule("    description: d\n    action: deny\n"), 3, "r1", "no \"match\"");
}

TEST(LoaderErrorTest, MatchNotAMapping) {
  ExpectError(Rule("    description: d\n    action: deny\n    match: [x]\n"), 6, "r1",
              "match must be a mapping");
}

TEST(LoaderErrorTest, EmptyMatch) {
  ExpectError(Rule("    description: d\n    action: deny\n    match: {}\n"), 6, "r1",
              "at least one matcher");
}

TEST(LoaderErrorTest, UnknownMatcher) {
  ExpectError(Rule("    description: d\n    action: deny\n    match:\n      regex: [x]\n"), 7, "r1",
              "unknown key \"regex\"");
}

TEST(LoaderErrorTest, EmptyMatcherList) {
  ExpectError(Rule("    description: d\n    action: deny\n    match:\n      patterns: []\n"), 7,
              "r1", "match.patterns must not be empty");
}

TEST(LoaderErrorTest, MatcherNotAList) {
  ExpectError(Rule("    description: d\n    action: deny\n    match:\n      images: xmrig\n"), 7,
              "r1", "match.images must be a list");
}

TEST(LoaderErrorTest, MatcherItemNotAString) {
  ExpectError(Rule("    description: d\n    action: deny\n    match:\n      binaries:\n"
                   "        - {name: xmrig}\n"),
              8, "r1", "every item must be a non-empty string");
}

TEST(LoaderErrorTest, BadRegexCarriesRe2Error) {
  ExpectError(Rule("    description: d\n    action: deny\n    match:\n      patterns:\n"
                   "        - 'ok'\n        - 'stratum+(tcp'\n"),
              9, "r1", "invalid regex \"stratum+(tcp\": missing ): ");
}

TEST(LoaderErrorTest, UnknownWalletFormat) {
  ExpectError(
      Rule("    description: d\n    action: deny\n    match:\n      wallets: [monero, doge]\n"), 7,
      "r1", "unknown wallet format \"doge\"");
}

TEST(LoaderErrorTest, ImageWithTag) {
  ExpectError(
      Rule("    description: d\n    action: deny\n    match:\n      images: ['xmrig:latest']\n"), 7,
      "r1", "without registry, tag or digest");
}

TEST(LoaderErrorTest, BinaryWithPath) {
  ExpectError(
      Rule("    description: d\n    action: deny\n    match:\n      binaries: [/usr/bin/xmrig]\n"),
      7, "r1", "without a path");
}

TEST(LoaderErrorTest, BadDomain) {
  ExpectError(
      Rule("    description: d\n    action: deny\n    match:\n      domains: [localhost]\n"), 7,
      "r1", "\"localhost\" is not a domain name");
  ExpectError(
      Rule("    description: d\n    action: deny\n    match:\n      domains: ['*.pool.example']\n"),
      7, "r1", "is not a domain name");
}

TEST(LoaderErrorTest, BadFlag) {
  ExpectError(
      Rule("    description: d\n    action: deny\n    match:\n      flags: [donate-level]\n"), 7,
      "r1", "must start with '-'");
  ExpectError(Rule("    description: d\n    action: deny\n    match:\n      flags:\n        - "
                   "{values: [x]}\n"),
              8, "r1", "missing \"flag\"");
  ExpectError(Rule("    description: d\n    action: deny\n    match:\n      flags:\n"
                   "        - {flag: -a, value: [x]}\n"),
              8, "r1", "unknown key \"value\"");
}

TEST(LoaderErrorTest, BadPort) {
  ExpectError(
      Rule("    description: d\n    action: deny\n    match:\n      ports: [3333, 70000]\n"), 7,
      "r1", "\"70000\" is not a port number");
  ExpectError(Rule("    description: d\n    action: deny\n    match:\n      ports: [http]\n"), 7,
              "r1", "\"http\" is not a port number");
}

TEST(LoaderErrorTest, UnknownField) {
  ExpectError(Rule("    description: d\n    action: deny\n    fields: [args, image]\n    match:\n"
                   "      patterns: [x]\n"),
              6, "r1", "unknown field \"image\"");
}

TEST(LoaderErrorTest, CombineWithUnknownRule) {
  ExpectError(Rule("    description: d\n    action: warn\n    match:\n      patterns: [x]\n"
                   "    combine:\n      with: [nope]\n      action: deny\n"),
              9, "r1", "unknown rule \"nope\"");
}

TEST(LoaderTest, CombineWithItselfEscalatesOnTwoDifferentHits) {
  auto policy = Policy::Compile(
      Rule("    description: d\n    action: warn\n    match:\n      patterns: [alpha, beta]\n"
           "    combine:\n      with: [r1]\n      action: deny\n") +
          "end: stratum-guard-policy\n",
      "team.yaml");
  TestContainer one;
  one.args = {"alpha", "alpha"};
  EXPECT_FALSE(testing::Evaluate(*policy, {one}).Denied()) << "the same evidence twice";
  TestContainer two;
  two.args = {"alpha", "beta"};
  EXPECT_TRUE(testing::Evaluate(*policy, {two}).Denied());
  TestContainer same_field;
  same_field.command = {"sh", "-c", "run alpha; run beta"};
  EXPECT_TRUE(testing::Evaluate(*policy, {same_field}).Denied()) << "two hits in one script";
}

TEST(LoaderErrorTest, ImageWordsMustBeAMappingWithAny) {
  ExpectError(Rule("    description: d\n    action: deny\n    match:\n      image_words: [x]\n"), 7,
              "r1", "match.image_words must be a mapping");
  ExpectError(
      Rule("    description: d\n    action: deny\n    match:\n      image_words: {unless: [x]}\n"),
      7, "r1", "match.image_words has no \"any\"");
  ExpectError(
      Rule("    description: d\n    action: deny\n    match:\n      image_words: {al: [x]}\n"), 7,
      "r1", "unknown key \"al\"");
}

TEST(LoaderErrorTest, ImageWordsBadEntries) {
  auto rule = [](const std::string& entry) {
    return Rule(
        "    description: d\n    action: deny\n    match:\n      image_words:\n"
        "        any: ['" +
        entry + "']\n");
  };
  ExpectError(rule("*xmrig*"), 8, "r1", "may have a * at one end only");
  ExpectError(rule("miner+miner"), 8, "r1", "names one word twice");
  ExpectError(rule("a/b"), 8, "r1", "must be letters, digits and - _ .");
  ExpectError(rule("x+"), 8, "r1", "must be letters, digits and - _ .");
  ExpectError(rule("-x"), 8, "r1", "must be letters, digits and - _ .");
  ExpectError(rule("a+b+c"), 8, "r1", "must be letters, digits and - _ .");
}

TEST(LoaderErrorTest, CombineNotStronger) {
  ExpectError(std::string(kHeader) + kGoodRule +
                  "  - id: r2\n    description: d\n    action: warn\n    match:\n"
                  "      patterns: [x]\n    combine:\n      with: [ok]\n      action: warn\n",
              15, "r2", "must be stronger");
}

TEST(LoaderErrorTest, CombineMissingWith) {
  ExpectError(Rule("    description: d\n    action: warn\n    match:\n      patterns: [x]\n"
                   "    combine:\n      action: deny\n"),
              9, "r1", "combine has no \"with\"");
}

TEST(LoaderErrorTest, ExemptionNamespaceInvalid) {
  ExpectError(
      std::string("version: 1\nexemptions:\n  namespaces: [Kube_System]\nrules:\n") + kGoodRule, 3,
      "", "\"Kube_System\" is not a valid namespace name");
}

TEST(LoaderErrorTest, ExemptionUnknownKey) {
  ExpectError(std::string("version: 1\nexemptions:\n  labels: [trusted]\nrules:\n") + kGoodRule, 3,
              "", "unknown key \"labels\"");
}

TEST(LoaderErrorTest, ExemptionExactImageWithoutTag) {
  ExpectError(std::string("version: 1\nexemptions:\n  images:\n    exact: [ghcr.io/acme/x]\n"
                          "rules:\n") +
                  kGoodRule,
              4, "", "has no tag or digest");
}

TEST(LoaderErrorTest, ExemptionPrefixWithTag) {
  ExpectError(std::string("version: 1\nexemptions:\n  images:\n    prefixes: [ghcr.io/acme/x:1]\n"
                          "rules:\n") +
                  kGoodRule,
              4, "", "without tag or digest");
}

TEST(LoaderErrorTest, ExemptionImagesEmptyMapping) {
  ExpectError(std::string("version: 1\nexemptions:\n  images: {}\nrules:\n") + kGoodRule, 3, "",
              "must have \"exact\" or \"prefixes\"");
}

TEST(LoaderErrorTest, RuleExemptionUnknownKey) {
  ExpectError(Rule("    description: d\n    action: deny\n    match:\n      patterns: [x]\n"
                   "    exempt:\n      annotations: [x]\n"),
              9, "r1", "exempt: unknown key \"annotations\"");
}

}  // namespace
}  // namespace stratum_guard::policy
