#include "server/admission_review.h"

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <algorithm>
#include <string>

#include "policy/policy.h"
#include "server/json.h"
#include "test/server/review_fixtures.h"

namespace stratum_guard::server {
namespace {

using fixtures::Containers;
using fixtures::Object;
using fixtures::Review;
using fixtures::ReviewSpec;

// Parses and decodes review text, keeping the buffers alive for the views.
struct Decoded {
  explicit Decoded(std::string text) : body(std::move(text)) {
    parse_error = ParseJsonInPlace(body, document);
    if (parse_error.empty()) decode_error = DecodeAdmissionReview(document, &request);
  }
  std::string body;
  rapidjson::Document document;
  AdmissionRequest request;
  std::string parse_error;
  std::string decode_error;
};

const policy::Policy& DefaultPolicy() {
  static const std::shared_ptr<const policy::Policy> policy = policy::Policy::Default();
  return *policy;
}

JudgeOptions Options() {
  JudgeOptions options;
  options.docs_url = "https://docs.example/POLICY.md";
  return options;
}

rapidjson::Document ParseResponse(const std::string& text) {
  rapidjson::Document doc;
  doc.Parse(text.c_str());
  EXPECT_FALSE(doc.HasParseError()) << text;
  return doc;
}

policy::Finding MakeFinding(std::string rule, policy::Action action, std::string message) {
  policy::Finding f;
  f.rule_id = std::move(rule);
  f.action = action;
  f.message = std::move(message);
  return f;
}

TEST(DecodeAdmissionReviewTest, DecodesV1AndV1beta1) {
  for (std::string_view version : {fixtures::kV1, fixtures::kV1beta1}) {
    ReviewSpec spec;
    spec.api_version = version;
    spec.object = Object("Deployment", Containers("nginx"));
    spec.dry_run = true;
    Decoded d(Review(spec));
    ASSERT_EQ(d.decode_error, "") << version;
    EXPECT_EQ(d.request.api_version, version);
    EXPECT_EQ(d.request.uid, "705ab4f5-6393-11e8-b7cc-42010a800002");
    EXPECT_EQ(d.request.kind.kind, "Deployment");
    EXPECT_EQ(d.request.kind.group, "apps");
    EXPECT_EQ(d.request.operation, "CREATE");
    EXPECT_EQ(d.request.namespace_, "default");
    EXPECT_TRUE(d.request.dry_run);
    EXPECT_EQ(d.request.user, "dev");
    EXPECT_NE(d.request.object, nullptr);
  }
}

TEST(DecodeAdmissionReviewTest, UserInfoIsOptional) {
  for (std::string_view user_info : {"", R"(,"userInfo":null)", R"(,"userInfo":{})"}) {
    Decoded d(
        R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"a","operation":"DELETE")" +
        std::string(user_info) + "}}");
    EXPECT_EQ(d.decode_error, "") << user_info;
    EXPECT_EQ(d.request.user, "") << user_info;
  }
}

TEST(DecodeAdmissionReviewTest, RefusesWhatIsNotAnAdmissionReview) {
  struct Case {
    std::string body;
    std::string expected_error_part;
  };
  const Case cases[] = {
      {"[]", "not a JSON object"},
      {R"({"kind":"AdmissionReview","request":{"uid":"a"}})", "apiVersion"},
      {R"({"apiVersion":"admission.k8s.io/v2","kind":"AdmissionReview","request":{"uid":"a"}})",
       "apiVersion"},
      {R"({"apiVersion":"admission.k8s.io/v1","kind":"Pod","request":{"uid":"a"}})", "kind"},
      {R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"})", "request"},
      {R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":[]})", "request"},
      {R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{}})", "uid"},
      {R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":7}})",
       "uid"},
      {R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"a"}})",
       "operation"},
      {R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"a","operation":"CREATE","kind":"Pod"}})",
       "request.kind"},
      {R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"a","operation":"CREATE","namespace":3}})",
       "namespace"},
      {R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"a","operation":"CREATE","dryRun":"yes"}})",
       "dryRun"},
      {R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"a","operation":"CREATE","object":"x"}})",
       "object"},
      {R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"a","operation":"DELETE","userInfo":"dev"}})",
       "request.userInfo must be an object"},
      {R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"a","operation":"DELETE","userInfo":{"username":7}}})",
       "request.userInfo.username must be a string"},
      {R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"a","operation":"CREATE"}})",
       "object is missing"},
  };
  for (const Case& c : cases) {
    Decoded d(c.body);
    ASSERT_EQ(d.parse_error, "") << c.body;
    EXPECT_NE(d.decode_error.find(c.expected_error_part), std::string::npos)
        << c.body << " -> " << d.decode_error;
  }
}

TEST(EncodeAdmissionResponseTest, AllowedEchoesVersionAndUid) {
  for (std::string_view version : {fixtures::kV1, fixtures::kV1beta1}) {
    ReviewSpec spec;
    spec.api_version = version;
    spec.uid = "uid-42";
    spec.object = Object("Deployment", Containers("nginx"));
    Decoded d(Review(spec));
    Judgement j = Judge(d.request, DefaultPolicy(), Options());
    EXPECT_EQ(j.decision, Decision::kAllowed);
    rapidjson::Document out = ParseResponse(EncodeAdmissionResponse(d.request, j));
    EXPECT_EQ(std::string(out["apiVersion"].GetString()), version);
    EXPECT_STREQ(out["kind"].GetString(), "AdmissionReview");
    EXPECT_STREQ(out["response"]["uid"].GetString(), "uid-42");
    EXPECT_TRUE(out["response"]["allowed"].GetBool());
    EXPECT_FALSE(out["response"].HasMember("status"));
    EXPECT_FALSE(out["response"].HasMember("warnings"));
  }
}

// The answer is written byte by byte rather than through a JSON library: every string the
// review or the policy chose is escaped, and the whole is exactly what the API server reads.
TEST(EncodeAdmissionResponseTest, WritesExactBytesAndEscapesEveryString) {
  AdmissionRequest request;
  request.api_version = "admission.k8s.io/v1";
  request.uid = "u\"1\\";
  Judgement allowed;
  EXPECT_EQ(EncodeAdmissionResponse(request, allowed),
            R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":)"
            R"({"uid":"u\"1\\","allowed":true}})");
  Judgement denied;
  denied.decision = Decision::kDenied;
  denied.message = "a \"quoted\" line\nand a tab\t, a bell\a, caf\xc3\xa9";
  denied.warnings = {"w1", "w\"2"};
  const std::string out = EncodeAdmissionResponse(request, denied);
  EXPECT_EQ(out, R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":)"
                 R"({"uid":"u\"1\\","allowed":false,"status":{"status":"Failure","code":403,)"
                 R"("reason":"Forbidden","message":"a \"quoted\" line\nand a tab\t, a bell\u0007, )"
                 "caf\xc3\xa9\"},\"warnings\":[\"w1\",\"w\\\"2\"]}}");
  rapidjson::Document parsed = ParseResponse(out);
  EXPECT_EQ(std::string(parsed["response"]["status"]["message"].GetString()), denied.message);
  EXPECT_EQ(std::string(parsed["response"]["warnings"][1].GetString()), "w\"2");
}

TEST(JudgeTest, DeniesStratumUrlWithAMessageForTheDeveloper) {
  Decoded d(fixtures::DeploymentReview("busybox", fixtures::kStratumArgs));
  Judgement j = Judge(d.request, DefaultPolicy(), Options());
  ASSERT_EQ(j.decision, Decision::kDenied);
  EXPECT_EQ(j.judged_kind, "Deployment");
  EXPECT_EQ(j.message.rfind("stratum-guard denied Deployment default/web: container \"app\"", 0),
            0u)
      << j.message;
  EXPECT_NE(j.message.find("stratum+tcp://pool.example:3333"), std::string::npos) << j.message;
  EXPECT_NE(j.message.find("(rule stratum-url)"), std::string::npos) << j.message;
  EXPECT_NE(j.message.find("See https://docs.example/POLICY.md#stratum-url"), std::string::npos)
      << j.message;
  rapidjson::Document out = ParseResponse(EncodeAdmissionResponse(d.request, j));
  EXPECT_FALSE(out["response"]["allowed"].GetBool());
  EXPECT_EQ(out["response"]["status"]["code"].GetInt(), 403);
  EXPECT_STREQ(out["response"]["status"]["reason"].GetString(), "Forbidden");
  EXPECT_EQ(std::string(out["response"]["status"]["message"].GetString()), j.message);
}

TEST(JudgeTest, WarnFindingsBecomeWarnings) {
  Decoded d(fixtures::DeploymentReview("busybox", fixtures::kMinerFlagArgs));
  Judgement j = Judge(d.request, DefaultPolicy(), Options());
  ASSERT_EQ(j.decision, Decision::kWarned);
  ASSERT_EQ(j.warnings.size(), 1u);
  EXPECT_NE(j.warnings[0].find("(rule miner-flag)"), std::string::npos) << j.warnings[0];
  EXPECT_LE(j.warnings[0].size(), kWarningTargetLength);
  rapidjson::Document out = ParseResponse(EncodeAdmissionResponse(d.request, j));
  EXPECT_TRUE(out["response"]["allowed"].GetBool());
  ASSERT_TRUE(out["response"]["warnings"].IsArray());
  EXPECT_EQ(std::string(out["response"]["warnings"][0].GetString()), j.warnings[0]);
}

TEST(JudgeTest, AuditFindingsOnlyReachLogsAndMetrics) {
  // A pool port alone is audited by the default policy.
  Decoded d(fixtures::DeploymentReview("redis", R"(["--replicaof","10.0.0.1:3333"])"));
  Judgement j = Judge(d.request, DefaultPolicy(), Options());
  EXPECT_EQ(j.decision, Decision::kAllowed);
  EXPECT_TRUE(j.warnings.empty());
  ASSERT_FALSE(j.findings.empty());
  EXPECT_EQ(j.findings[0].action, policy::Action::kAudit);
}

TEST(JudgeTest, AFailedEvaluationIsAnErrorNotADenial) {
  Decoded d(fixtures::DeploymentReview("xmrig/xmrig", fixtures::kStratumArgs));
  Judgement j = Judge(d.request, *policy::Policy::FailingForTesting("boom"), Options());
  EXPECT_EQ(j.decision, Decision::kError);
  EXPECT_EQ(j.error, "policy evaluation failed: boom");
  EXPECT_TRUE(j.findings.empty());
  EXPECT_TRUE(j.message.empty());
  EXPECT_TRUE(j.warnings.empty());
  EXPECT_EQ(j.name, "web") << "still named, for the error log";
}

// A policy that denies a Stratum URL and warns on a miner flag, in the given mode.
std::shared_ptr<const policy::Policy> PolicyIn(std::string_view enforcement) {
  std::string text(policy::Policy::DefaultText());
  if (!enforcement.empty()) text = "enforcement: " + std::string(enforcement) + "\n" + text;
  return policy::Policy::Compile(text, "test.yaml");
}

// Container args with several findings, stratum-url and miner-flag among them.
constexpr std::string_view kDenyAndWarnArgs =
    R"(["--donate-level","1","stratum+tcp://pool.example:3333"])";

// How many of the judgement's findings have `action`.
std::size_t CountAction(const Judgement& j, policy::Action action) {
  return std::count_if(j.findings.begin(), j.findings.end(),
                       [action](const policy::Finding& f) { return f.action == action; });
}

TEST(JudgeEnforcementTest, WarnTurnsEveryDenyIntoAWarning) {
  Decoded d(fixtures::DeploymentReview("busybox", kDenyAndWarnArgs));
  const Judgement enforced = Judge(d.request, *PolicyIn("enforce"), Options());
  const std::size_t denies = CountAction(enforced, policy::Action::kDeny);
  const std::size_t warns = CountAction(enforced, policy::Action::kWarn);
  ASSERT_GE(denies, 1u);

  Judgement j = Judge(d.request, *PolicyIn("warn"), Options());
  EXPECT_EQ(j.decision, Decision::kWarned);
  EXPECT_EQ(j.enforcement, policy::Enforcement::kWarn);
  EXPECT_TRUE(j.message.empty());
  ASSERT_EQ(j.warnings.size(), denies + warns);
  auto warned_about = [&j](std::string_view rule) {
    return std::any_of(j.warnings.begin(), j.warnings.end(), [rule](const std::string& w) {
      return w.find("(rule " + std::string(rule) + ")") != std::string::npos;
    });
  };
  EXPECT_TRUE(warned_about("stratum-url"));
  EXPECT_TRUE(warned_about("miner-flag"));
  EXPECT_EQ(j.findings.size(), enforced.findings.size())
      << "logs and metrics still see what would be denied";
  rapidjson::Document out = ParseResponse(EncodeAdmissionResponse(d.request, j));
  EXPECT_TRUE(out["response"]["allowed"].GetBool());
  EXPECT_FALSE(out["response"].HasMember("status"));
  EXPECT_EQ(out["response"]["warnings"].Size(), denies + warns);
}

TEST(JudgeEnforcementTest, AuditAllowsWithoutWarnings) {
  Decoded d(fixtures::DeploymentReview("busybox", kDenyAndWarnArgs));
  const Judgement enforced = Judge(d.request, *PolicyIn("enforce"), Options());
  Judgement j = Judge(d.request, *PolicyIn("audit"), Options());
  EXPECT_EQ(j.decision, Decision::kAllowed);
  EXPECT_EQ(j.enforcement, policy::Enforcement::kAudit);
  EXPECT_TRUE(j.warnings.empty());
  EXPECT_EQ(j.findings.size(), enforced.findings.size())
      << "logs and metrics still see every finding";
  rapidjson::Document out = ParseResponse(EncodeAdmissionResponse(d.request, j));
  EXPECT_TRUE(out["response"]["allowed"].GetBool());
  EXPECT_FALSE(out["response"].HasMember("warnings"));
}

TEST(JudgeEnforcementTest, PolicySaysEnforceOrNothingDenies) {
  Decoded d(fixtures::DeploymentReview("busybox", kDenyAndWarnArgs));
  for (std::string_view mode : {"", "enforce"}) {
    Judgement j = Judge(d.request, *PolicyIn(mode), Options());
    EXPECT_EQ(j.decision, Decision::kDenied) << mode;
    EXPECT_EQ(j.enforcement, policy::Enforcement::kEnforce) << mode;
  }
}

TEST(JudgeEnforcementTest, TheFlagWinsOverThePolicy) {
  Decoded d(fixtures::DeploymentReview("busybox", kDenyAndWarnArgs));
  JudgeOptions enforce = Options();
  enforce.enforcement = policy::Enforcement::kEnforce;
  EXPECT_EQ(Judge(d.request, *PolicyIn("audit"), enforce).decision, Decision::kDenied);
  JudgeOptions audit = Options();
  audit.enforcement = policy::Enforcement::kAudit;
  Judgement j = Judge(d.request, *PolicyIn("enforce"), audit);
  EXPECT_EQ(j.decision, Decision::kAllowed);
  EXPECT_TRUE(j.warnings.empty());
}

TEST(JudgeTest, ExemptedFindingsAreKeptForTheLog) {
  auto policy = policy::Policy::Compile(
      "exemptions: {namespaces: [miner-lab]}\n" + std::string(policy::Policy::DefaultText()),
      "test.yaml");
  ReviewSpec spec;
  spec.namespace_ = "miner-lab";
  spec.object = Object("Deployment", Containers("xmrig/xmrig"), "web", "miner-lab");
  Decoded d(Review(spec));
  Judgement j = Judge(d.request, *policy, Options());
  EXPECT_EQ(j.decision, Decision::kAllowed);
  EXPECT_TRUE(j.findings.empty());
  ASSERT_EQ(j.exempted.size(), 1u);
  EXPECT_EQ(j.exempted[0].rule_id, "miner-image");
  EXPECT_EQ(j.exempted[0].exempted_by, policy::ExemptedBy::kNamespace);
}

TEST(JudgeTest, DeleteAndConnectAreAllowedWithoutJudging) {
  for (std::string_view operation : {"DELETE", "CONNECT"}) {
    ReviewSpec spec;
    spec.operation = operation;
    // Even with a miner in the object (a DELETE carries oldObject, a CONNECT options).
    spec.object = Object("Deployment", Containers("xmrig/xmrig"));
    Decoded d(Review(spec));
    ASSERT_EQ(d.decode_error, "");
    Judgement j = Judge(d.request, DefaultPolicy(), Options());
    EXPECT_EQ(j.decision, Decision::kAllowed) << operation;
    EXPECT_TRUE(j.judged_kind.empty());
  }
}

TEST(JudgeTest, DryRunIsJudgedLikeAnyOther) {
  ReviewSpec spec;
  spec.dry_run = true;
  spec.object = Object("Deployment", Containers("xmrig/xmrig"));
  Decoded d(Review(spec));
  EXPECT_EQ(Judge(d.request, DefaultPolicy(), Options()).decision, Decision::kDenied);
}

TEST(JudgeTest, EphemeralContainersSubresourceIsJudged) {
  ReviewSpec spec;
  spec.kind = "Pod";
  spec.operation = "UPDATE";
  spec.sub_resource = "ephemeralcontainers";
  spec.object =
      R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"web","namespace":"default"},)"
      R"("spec":{"containers":[{"name":"app","image":"nginx"}],)"
      R"("ephemeralContainers":[{"name":"debug","image":"xmrig/xmrig"}]}})";
  Decoded d(Review(spec));
  Judgement j = Judge(d.request, DefaultPolicy(), Options());
  EXPECT_EQ(j.decision, Decision::kDenied);
  EXPECT_NE(j.message.find("\"debug\""), std::string::npos) << j.message;
}

TEST(JudgeTest, OtherSubresourcesAreAllowed) {
  ReviewSpec spec;
  spec.kind = "Pod";
  spec.operation = "UPDATE";
  spec.sub_resource = "status";
  spec.object = Object("Pod", Containers("xmrig/xmrig"));
  Decoded d(Review(spec));
  EXPECT_EQ(Judge(d.request, DefaultPolicy(), Options()).decision, Decision::kAllowed);
}

TEST(JudgeTest, KindsWithoutAPodTemplateAreAllowed) {
  ReviewSpec spec;
  spec.kind = "Service";
  spec.object = Object("Service", "");
  Decoded d(Review(spec));
  Judgement j = Judge(d.request, DefaultPolicy(), Options());
  EXPECT_EQ(j.decision, Decision::kAllowed);
  EXPECT_TRUE(j.judged_kind.empty());
}

TEST(JudgeTest, EveryPodTemplateKindIsJudged) {
  for (std::string_view kind : policy::PodTemplateKinds()) {
    ReviewSpec spec;
    spec.kind = kind;
    spec.object = Object(kind, Containers("busybox", fixtures::kStratumArgs));
    Decoded d(Review(spec));
    ASSERT_EQ(d.decode_error, "") << kind;
    Judgement j = Judge(d.request, DefaultPolicy(), Options());
    EXPECT_EQ(j.decision, Decision::kDenied) << kind;
    EXPECT_EQ(j.judged_kind, kind);
    EXPECT_NE(j.message.find("denied " + std::string(kind) + " default/web"), std::string::npos)
        << j.message;
  }
}

TEST(JudgeTest, RequestKindCoversEquivalentVersions) {
  // matchPolicy: Equivalent: the user sent an extensions/v1beta1 Deployment; `kind` names the
  // version the webhook registered for. Here `kind` is something unknown and requestKind
  // carries the workload kind: the object is still judged.
  ReviewSpec spec;
  spec.kind = "DeploymentV9";
  spec.request_kind = R"({"group":"extensions","version":"v1beta1","kind":"Deployment"})";
  spec.object = Object("Deployment", Containers("xmrig/xmrig"));
  Decoded d(Review(spec));
  Judgement j = Judge(d.request, DefaultPolicy(), Options());
  EXPECT_EQ(j.decision, Decision::kDenied);
  EXPECT_EQ(j.judged_kind, "Deployment");
}

TEST(JudgeTest, NamespaceAndNameFallBackAsTheApiServerFillsThem) {
  // metadata.namespace is empty on CREATE through most clients: request.namespace applies.
  // The name comes from request.name, then metadata.name, then generateName.
  ReviewSpec spec;
  spec.kind = "Pod";
  spec.name = "";
  spec.namespace_ = "team-a";
  spec.object = R"({"apiVersion":"v1","kind":"Pod","metadata":{"generateName":"web-"},)"
                R"("spec":{"containers":[{"name":"app","image":"xmrig/xmrig"}]}})";
  Decoded d(Review(spec));
  Judgement j = Judge(d.request, DefaultPolicy(), Options());
  EXPECT_EQ(j.namespace_, "team-a");
  EXPECT_EQ(j.name, "web-");
  EXPECT_NE(j.message.find("denied Pod team-a/web-:"), std::string::npos) << j.message;
}

TEST(DenyMessageTest, SeveralFindingsNameTheFirstAndCountTheRest) {
  std::vector<policy::Finding> findings = {
      MakeFinding("stratum-url", policy::Action::kDeny, "container \"app\" args[1] has X"),
      MakeFinding("miner-image", policy::Action::kDeny, "container \"app\" image is Y"),
      MakeFinding("pool-domain", policy::Action::kDeny, "container \"app\" env has Z")};
  std::string m = DenyMessage("Deployment", "default", "web", findings, "https://d/P.md");
  EXPECT_EQ(m,
            "stratum-guard denied Deployment default/web: container \"app\" args[1] has X "
            "(rule stratum-url), and 2 more (rules miner-image, pool-domain). See "
            "https://d/P.md#stratum-url");
}

TEST(DenyMessageTest, ClusterScopedObjectsHaveNoNamespace) {
  std::vector<policy::Finding> findings = {
      MakeFinding("miner-image", policy::Action::kDeny, "container \"a\" image is Y")};
  std::string m = DenyMessage("PodTemplate", "", "t", findings, "u");
  EXPECT_NE(m.find("denied PodTemplate t: "), std::string::npos) << m;
}

TEST(DenyMessageTest, StaysUnderOneKibibyteWhateverTheInput) {
  std::vector<policy::Finding> findings;
  for (int i = 0; i < 200; ++i) {
    findings.push_back(MakeFinding("rule-" + std::to_string(i) + std::string(50, 'r'),
                                   policy::Action::kDeny, std::string(5000, 'x')));
  }
  std::string m = DenyMessage(std::string(500, 'K'), std::string(300, 'n'), std::string(300, 'w'),
                              findings, "https://docs.example/" + std::string(1000, 'd'));
  EXPECT_LE(m.size(), kDenyMessageMaxLength);
  EXPECT_NE(m.find("and 199 more"), std::string::npos);
}

TEST(WarningMessagesTest, EachShortAndAllBounded) {
  std::vector<policy::Finding> findings;
  for (int i = 0; i < 100; ++i) {
    findings.push_back(MakeFinding("miner-flag", policy::Action::kWarn,
                                   "container \"app\" args[" + std::to_string(i) +
                                       "] has miner option \"" + std::string(300, 'v') + "\""));
  }
  std::vector<std::string> w = WarningMessages(findings);
  ASSERT_GT(w.size(), 2u);
  ASSERT_LT(w.size(), findings.size());
  std::size_t total = 0;
  for (const std::string& line : w) {
    EXPECT_LE(line.size(), kWarningTargetLength) << line;
    total += line.size();
  }
  EXPECT_LE(total, kWarningsTotalLength);
  EXPECT_NE(w.back().find("and " + std::to_string(findings.size() - (w.size() - 1)) + " more"),
            std::string::npos)
      << w.back();
  EXPECT_NE(w.front().find("(rule miner-flag)"), std::string::npos) << w.front();
}

TEST(WarningMessagesTest, FewShortWarningsAreKeptWhole) {
  std::vector<policy::Finding> findings = {
      MakeFinding("miner-flag", policy::Action::kWarn, "container \"app\" args[0] has x"),
      MakeFinding("wallet-address", policy::Action::kWarn, "container \"app\" env[W] has y")};
  std::vector<std::string> w = WarningMessages(findings);
  ASSERT_EQ(w.size(), 2u);
  EXPECT_EQ(w[0], "stratum-guard: container \"app\" args[0] has x (rule miner-flag)");
  EXPECT_EQ(w[1], "stratum-guard: container \"app\" env[W] has y (rule wallet-address)");
}

}  // namespace
}  // namespace stratum_guard::server
