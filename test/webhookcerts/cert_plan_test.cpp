#include "webhookcerts/cert_plan.h"

#include <gtest/gtest.h>

#include "certs/certificates.h"
#include "common/base64.h"
#include "common/clock.h"

namespace stratum_guard::webhookcerts {
namespace {

using std::chrono::hours;
using std::chrono::seconds;

const std::string kHost = "stratum-guard.sg.svc";

Lifetimes ShortLives() {
  Lifetimes l;
  l.ca_validity = hours(24 * 90);
  l.serving_validity = hours(24 * 9);
  l.overlap = hours(1);
  return l;
}

class CertPlanTest : public ::testing::Test {
 protected:
  Wall t0_ = common::SimulatedClock().WallNow();
  Lifetimes lives_ = ShortLives();
  std::vector<std::string> names_ = ServiceDnsNames("stratum-guard", "sg");
  CertBundle Fresh() { return Apply(Step::kRegenerate, {}, t0_, lives_, names_); }
};

TEST_F(CertPlanTest, ServiceNamesStartWithTheOneTheApiServerDials) {
  EXPECT_EQ(names_,
            (std::vector<std::string>{"stratum-guard.sg.svc", "stratum-guard", "stratum-guard.sg",
                                      "stratum-guard.sg.svc.cluster.local"}));
}

TEST_F(CertPlanTest, FreshBundleIsConsistentAndNeedsNothing) {
  CertBundle b = Fresh();
  ASSERT_EQ(SplitCertificates(b.ca_bundle_pem).size(), 1u);
  EXPECT_TRUE(certs::IsSignedBy(b.serving_cert_pem, b.ca_bundle_pem));
  EXPECT_TRUE(certs::KeyMatchesCertificate(b.ca_bundle_pem, b.ca_key_pem));
  EXPECT_TRUE(certs::KeyMatchesCertificate(b.serving_cert_pem, b.serving_key_pem));
  for (const std::string& name : names_) {
    EXPECT_TRUE(certs::CertificateCoversHost(b.serving_cert_pem, name)) << name;
  }
  EXPECT_FALSE(certs::CertificateCoversHost(b.serving_cert_pem, "other.sg.svc"));
  // Dated on the given clock, so rotations are decided on simulated time.
  EXPECT_EQ(certs::CertificateNotAfter(b.serving_cert_pem), t0_ + lives_.serving_validity);
  std::string why;
  EXPECT_EQ(NextStep(b, t0_, lives_, kHost, &why), Step::kNone) << why;
}

TEST_F(CertPlanTest, ServingRenewedAtTwoThirdsOfItsLifeBySameCa) {
  CertBundle b = Fresh();
  // Counted from the issue time, not from the backdated notBefore.
  EXPECT_EQ(certs::CertificateNotBefore(b.serving_cert_pem), t0_ - seconds(60));
  Wall due = t0_ + lives_.serving_validity * 2 / 3;
  EXPECT_EQ(NextStep(b, due - seconds(1), lives_, kHost), Step::kNone);
  ASSERT_EQ(NextStep(b, due + seconds(1), lives_, kHost), Step::kRenewServing);
  CertBundle next = Apply(Step::kRenewServing, b, due + seconds(1), lives_, names_);
  EXPECT_NE(next.serving_cert_pem, b.serving_cert_pem);
  EXPECT_EQ(next.ca_bundle_pem, b.ca_bundle_pem);
  EXPECT_EQ(next.ca_key_pem, b.ca_key_pem);
  EXPECT_TRUE(certs::IsSignedBy(next.serving_cert_pem, b.ca_bundle_pem));
  EXPECT_EQ(NextStep(next, due + seconds(1), lives_, kHost), Step::kNone);
}

TEST_F(CertPlanTest, ServingNeverOutlivesItsCa) {
  lives_.serving_validity = lives_.ca_validity * 2;
  CertBundle b = Fresh();
  EXPECT_EQ(certs::CertificateNotAfter(b.serving_cert_pem),
            certs::CertificateNotAfter(b.ca_bundle_pem));
}

TEST_F(CertPlanTest, CaRotationTrustsBothCasUntilTheNewCertificateIsEverywhere) {
  CertBundle b = Fresh();
  Wall t = t0_ + lives_.ca_validity * 2 / 3 + seconds(1);
  // Keep the serving certificate young so that only the CA is due.
  b = Apply(Step::kRenewServing, b, t - hours(1), lives_, names_);
  ASSERT_EQ(NextStep(b, t, lives_, kHost), Step::kStartCaRotation);
  CertBundle started = Apply(Step::kStartCaRotation, b, t, lives_, names_);
  std::vector<std::string> cas = SplitCertificates(started.ca_bundle_pem);
  ASSERT_EQ(cas.size(), 2u);
  EXPECT_EQ(cas[1], SplitCertificates(b.ca_bundle_pem).at(0));  // the old CA, second
  EXPECT_TRUE(certs::KeyMatchesCertificate(cas[0], started.ca_key_pem));
  EXPECT_EQ(started.serving_cert_pem, b.serving_cert_pem);  // nobody switches yet

  std::string why;
  EXPECT_EQ(NextStep(started, t + lives_.overlap - seconds(1), lives_, kHost, &why), Step::kNone)
      << why;
  Wall t2 = t + lives_.overlap;
  ASSERT_EQ(NextStep(started, t2, lives_, kHost), Step::kServeFromNewCa);
  CertBundle switched = Apply(Step::kServeFromNewCa, started, t2, lives_, names_);
  EXPECT_EQ(switched.ca_bundle_pem, started.ca_bundle_pem);
  EXPECT_TRUE(certs::IsSignedBy(switched.serving_cert_pem, cas[0]));
  // A replica still serving the old certificate is trusted by the same bundle.
  EXPECT_TRUE(certs::IsSignedBy(b.serving_cert_pem, cas[1]));

  EXPECT_EQ(NextStep(switched, t2 + lives_.overlap - seconds(1), lives_, kHost), Step::kNone);
  Wall t3 = t2 + lives_.overlap;
  ASSERT_EQ(NextStep(switched, t3, lives_, kHost), Step::kDropOldCa);
  CertBundle done = Apply(Step::kDropOldCa, switched, t3, lives_, names_);
  EXPECT_EQ(done.ca_bundle_pem, cas[0]);
  EXPECT_EQ(done.serving_cert_pem, switched.serving_cert_pem);
  EXPECT_EQ(NextStep(done, t3, lives_, kHost), Step::kNone);
}

TEST_F(CertPlanTest, BrokenOrExpiredBundlesAreRegenerated) {
  CertBundle good = Fresh();
  CertBundle other = Fresh();
  auto step = [&](const CertBundle& b, Wall at = {}) {
    std::string why;
    Step s = NextStep(b, at == Wall{} ? t0_ : at, lives_, kHost, &why);
    EXPECT_FALSE(why.empty());
    return s;
  };
  CertBundle b = good;
  b.ca_bundle_pem.clear();
  EXPECT_EQ(step(b), Step::kRegenerate);
  b = good;
  b.serving_cert_pem = "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n";
  EXPECT_EQ(step(b), Step::kRegenerate);
  b = good;
  b.serving_key_pem = good.ca_key_pem;  // swapped keys
  EXPECT_EQ(step(b), Step::kRegenerate);
  b = good;
  b.ca_key_pem = other.ca_key_pem;
  EXPECT_EQ(step(b), Step::kRegenerate);
  b = good;
  b.serving_cert_pem = other.serving_cert_pem;  // signed by a CA this bundle does not hold
  b.serving_key_pem = other.serving_key_pem;
  EXPECT_EQ(step(b), Step::kRegenerate);
  EXPECT_EQ(step(good, t0_ + lives_.serving_validity + seconds(1)), Step::kRegenerate);
}

TEST_F(CertPlanTest, CertificateForAnotherServiceIsRenewed) {
  CertBundle b = Fresh();
  EXPECT_EQ(NextStep(b, t0_, lives_, "renamed.sg.svc"), Step::kRenewServing);
}

TEST(SplitCertificatesTest, KeepsWholeCertificatesOnly) {
  certs::PemPair a = certs::DevelopmentCertificate();
  certs::PemPair b = certs::DevelopmentCertificate();
  std::vector<std::string> split = SplitCertificates(
      a.certificate_pem + "junk\n" + b.certificate_pem + "-----BEGIN CERTIFICATE-----\ntruncated");
  ASSERT_EQ(split.size(), 2u);
  EXPECT_EQ(split[0], a.certificate_pem);
  EXPECT_EQ(split[1], b.certificate_pem);
  EXPECT_TRUE(SplitCertificates("").empty());
}

TEST(SecretJsonTest, RoundTripsThroughTheSecretShape) {
  CertBundle b{"cert", "key", "ca", "cakey"};
  std::string json = SecretJson("sg", "tls", b, "42");
  rapidjson::Document doc;
  doc.Parse(json.c_str());
  ASSERT_FALSE(doc.HasParseError());
  EXPECT_STREQ(doc["type"].GetString(), "kubernetes.io/tls");
  EXPECT_STREQ(doc["metadata"]["resourceVersion"].GetString(), "42");
  EXPECT_STREQ(doc["metadata"]["namespace"].GetString(), "sg");
  EXPECT_STREQ(doc["data"]["tls.crt"].GetString(), common::EncodeBase64("cert").c_str());
  std::string error;
  auto back = BundleFromSecret(doc, &error);
  ASSERT_TRUE(back) << error;
  EXPECT_EQ(*back, b);
  doc.Parse(SecretJson("sg", "tls", b, "").c_str());
  EXPECT_FALSE(doc["metadata"].HasMember("resourceVersion"));
}

TEST(SecretJsonTest, MalformedDataIsNamed) {
  struct Case {
    const char* json;
    const char* error;
  } cases[] = {
      {R"({"metadata":{}})", "the Secret has no data"},
      {R"({"data":[]})", "the Secret has no data"},
      {R"({"data":{"tls.crt":"YQ==","tls.key":"YQ==","ca.crt":"YQ=="}})",
       "the Secret has no data.ca.key"},
      {R"({"data":{"tls.crt":"YQ==","tls.key":"","ca.crt":"YQ==","ca.key":"YQ=="}})",
       "the Secret has no data.tls.key"},
      {R"({"data":{"tls.crt":7,"tls.key":"YQ==","ca.crt":"YQ==","ca.key":"YQ=="}})",
       "the Secret has no data.tls.crt"},
      {R"({"data":{"tls.crt":"YQ==","tls.key":"YQ==","ca.crt":"*not*","ca.key":"YQ=="}})",
       "data.ca.crt is not base64"},
  };
  for (const Case& c : cases) {
    rapidjson::Document doc;
    doc.Parse(c.json);
    std::string error;
    EXPECT_FALSE(BundleFromSecret(doc, &error)) << c.json;
    EXPECT_EQ(error, c.error) << c.json;
  }
}

TEST(CaBundlePatchTest, PatchesOnlyWebhooksThatDiffer) {
  std::string ca = "-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n";
  std::string encoded = common::EncodeBase64(ca);
  rapidjson::Document config;
  config.Parse((R"({"metadata":{"name":"sg","resourceVersion":"7"},"webhooks":[)"
                R"({"name":"a.sg.io","clientConfig":{"caBundle":")" +
                encoded + R"("}},{"name":"b.sg.io","clientConfig":{"service":{"name":"s"}}}]})")
                   .c_str());
  std::string error;
  std::string patch = CaBundlePatch(config, ca, &error);
  EXPECT_EQ(error, "");
  EXPECT_EQ(patch, R"([{"op":"test","path":"/metadata/resourceVersion","value":"7"},)"
                   R"({"op":"test","path":"/webhooks/1/name","value":"b.sg.io"},)"
                   R"({"op":"add","path":"/webhooks/1/clientConfig/caBundle","value":")" +
                       encoded + R"("}])");
  config["webhooks"][1]["clientConfig"].AddMember(
      "caBundle", rapidjson::Value(encoded.c_str(), config.GetAllocator()), config.GetAllocator());
  EXPECT_EQ(CaBundlePatch(config, ca, &error), "");
  EXPECT_EQ(error, "");
}

TEST(CaBundlePatchTest, ConfigurationWithoutWebhooksIsAnError) {
  rapidjson::Document config;
  config.Parse(R"({"metadata":{"name":"sg"},"webhooks":{}})");
  std::string error;
  EXPECT_EQ(CaBundlePatch(config, "ca", &error), "");
  EXPECT_EQ(error, "the webhook configuration has no webhooks");
}

}  // namespace
}  // namespace stratum_guard::webhookcerts
