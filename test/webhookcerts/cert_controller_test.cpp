// The controller against the in-process fake API: every API call's failure, and replicas that
// race each other on one Secret, on a simulated clock.
#include "webhookcerts/cert_controller.h"

#include <gtest/gtest.h>

#include <stdexcept>

#include "certs/certificates.h"
#include "common/base64.h"
#include "test/testing/fake_kube_api.h"

namespace stratum_guard::webhookcerts {
namespace {

using kube::testing::FakeKubeApi;
using kube::testing::StatusError;
using std::chrono::hours;

constexpr char kNs[] = "sg";
constexpr char kSecret[] = "stratum-guard-tls";
constexpr char kConfig[] = "stratum-guard";

const char kWebhookConfig[] = R"({"apiVersion":"admissionregistration.k8s.io/v1",
  "kind":"ValidatingWebhookConfiguration","metadata":{"name":"stratum-guard"},
  "webhooks":[{"name":"validate.stratum-guard.io","clientConfig":{"service":{"name":"x"}}},
              {"name":"validate-ephemeral.stratum-guard.io","clientConfig":{"caBundle":"b2xk"}}]})";

Options Opts() {
  Options o;
  o.namespace_ = kNs;
  o.lifetimes.ca_validity = hours(24 * 90);
  o.lifetimes.serving_validity = hours(24 * 9);
  o.lifetimes.overlap = hours(1);
  return o;
}

// What a replica's server was handed.
struct Served {
  std::vector<std::string> certs;
  bool fail = false;
  ServeCallback Callback() {
    return [this](const std::string& cert, const std::string& key) {
      if (fail) throw std::runtime_error("private key does not match the certificate");
      if (!certs::KeyMatchesCertificate(cert, key)) throw std::runtime_error("bad pair");
      certs.push_back(cert);
    };
  }
};

CertBundle StoredBundle(const FakeKubeApi& api) {
  rapidjson::Document doc;
  doc.Parse(api.secret(kNs, kSecret).c_str());
  std::string error;
  auto bundle = BundleFromSecret(doc, &error);
  EXPECT_TRUE(bundle) << error;
  return bundle.value_or(CertBundle{});
}

std::vector<std::string> CaBundles(const FakeKubeApi& api) {
  rapidjson::Document doc;
  doc.Parse(api.webhook_configuration(kConfig).c_str());
  std::vector<std::string> out;
  for (const auto& webhook : doc["webhooks"].GetArray()) {
    const auto& client = webhook["clientConfig"];
    out.push_back(client.HasMember("caBundle")
                      ? common::DecodeBase64(client["caBundle"].GetString()).value_or("?")
                      : "");
  }
  return out;
}

class CertControllerTest : public ::testing::Test {
 protected:
  void SetUp() override { api_.PutWebhookConfiguration(kWebhookConfig); }
  FakeKubeApi api_;
  common::SimulatedClock clock_;
  Served served_;
};

TEST_F(CertControllerTest, CreatesTheSecretPatchesEveryWebhookAndServes) {
  CertController controller(Opts(), api_, served_.Callback(), clock_);
  CertController::Result r = controller.Sync();
  ASSERT_TRUE(r.ok()) << r.ToString();
  EXPECT_EQ(r.step, Step::kRegenerate);
  EXPECT_TRUE(r.served);
  rapidjson::Document secret;
  secret.Parse(api_.secret(kNs, kSecret).c_str());
  EXPECT_STREQ(secret["type"].GetString(), "kubernetes.io/tls");
  CertBundle stored = StoredBundle(api_);
  EXPECT_EQ(CaBundles(api_),
            (std::vector<std::string>{stored.ca_bundle_pem, stored.ca_bundle_pem}));
  EXPECT_EQ(served_.certs, std::vector<std::string>{stored.serving_cert_pem});
  EXPECT_TRUE(certs::CertificateCoversHost(stored.serving_cert_pem, "stratum-guard.sg.svc"));

  // Nothing to do the next time: no write, no patch, no reload.
  r = controller.Sync();
  ASSERT_TRUE(r.ok()) << r.ToString();
  EXPECT_EQ(r.step, Step::kNone);
  EXPECT_FALSE(r.served);
  EXPECT_EQ(api_.calls("update_secret"), 0);
  EXPECT_EQ(api_.calls("patch_webhook"), 1);
  EXPECT_EQ(served_.certs.size(), 1u);
}

TEST_F(CertControllerTest, EveryReplicaServesTheSecretOfTheFirst) {
  Served other;
  CertController a(Opts(), api_, served_.Callback(), clock_);
  CertController b(Opts(), api_, other.Callback(), clock_);
  ASSERT_TRUE(a.Sync().ok());
  CertController::Result r = b.Sync();
  ASSERT_TRUE(r.ok()) << r.ToString();
  EXPECT_EQ(r.step, Step::kNone);
  EXPECT_EQ(other.certs, served_.certs);
  EXPECT_EQ(api_.calls("create_secret"), 1);
}

TEST_F(CertControllerTest, LosingTheCreateRaceReadsTheWinnersSecret) {
  // The winner's Secret is stored, but this replica's first read missed it (it read before).
  Served winner;
  CertController a(Opts(), api_, winner.Callback(), clock_);
  ASSERT_TRUE(a.Sync().ok());
  api_.FailNext("get_secret", StatusError(404));
  CertController b(Opts(), api_, served_.Callback(), clock_);
  CertController::Result r = b.Sync();
  ASSERT_TRUE(r.ok()) << r.ToString();
  EXPECT_EQ(r.step, Step::kNone);             // it wrote nothing
  EXPECT_EQ(api_.calls("create_secret"), 2);  // its create got 409 AlreadyExists
  EXPECT_EQ(served_.certs, winner.certs);
}

// A fake API where another replica writes the Secret between this one's read and update.
class RacingApi : public FakeKubeApi {
 public:
  std::function<void()> before_first_update;
  kube::KubeError UpdateSecret(const std::string& ns, const std::string& name,
                               const std::string& json, const kube::PodVisitor& visit) override {
    if (before_first_update) {
      auto race = std::move(before_first_update);
      before_first_update = nullptr;
      race();
    }
    return FakeKubeApi::UpdateSecret(ns, name, json, visit);
  }
};

TEST(CertControllerRaceTest, ConflictOnRotationServesTheOtherReplicasCertificate) {
  RacingApi api;
  api.PutWebhookConfiguration(kWebhookConfig);
  common::SimulatedClock clock;
  Served a_served, b_served;
  CertController a(Opts(), api, a_served.Callback(), clock);
  CertController b(Opts(), api, b_served.Callback(), clock);
  ASSERT_TRUE(a.Sync().ok());
  ASSERT_TRUE(b.Sync().ok());
  clock.Advance(hours(24 * 7));  // past two thirds of the serving certificate's 9 days
  api.before_first_update = [&] {
    CertController::Result r = a.Sync();
    EXPECT_EQ(r.step, Step::kRenewServing);
  };
  CertController::Result r = b.Sync();
  ASSERT_TRUE(r.ok()) << r.ToString();
  EXPECT_EQ(r.step, Step::kNone);  // its update got 409 Conflict; it re-read a's rotation
  EXPECT_EQ(api.calls("update_secret"), 2);
  ASSERT_EQ(b_served.certs.size(), 2u);
  EXPECT_EQ(b_served.certs.back(), a_served.certs.back());
  EXPECT_EQ(b_served.certs.back(), StoredBundle(api).serving_cert_pem);
}

TEST_F(CertControllerTest, RotationReachesEveryReplica) {
  Served other;
  CertController a(Opts(), api_, served_.Callback(), clock_);
  CertController b(Opts(), api_, other.Callback(), clock_);
  ASSERT_TRUE(a.Sync().ok());
  ASSERT_TRUE(b.Sync().ok());
  CertBundle before = StoredBundle(api_);
  clock_.Advance(hours(24 * 5));
  EXPECT_EQ(a.Sync().step, Step::kNone);  // not yet two thirds
  clock_.Advance(hours(24 * 1));
  CertController::Result r = a.Sync();
  ASSERT_TRUE(r.ok()) << r.ToString();
  EXPECT_EQ(r.step, Step::kRenewServing);
  CertBundle after = StoredBundle(api_);
  EXPECT_NE(after.serving_cert_pem, before.serving_cert_pem);
  EXPECT_EQ(after.ca_bundle_pem, before.ca_bundle_pem);  // same CA: the caBundle stays
  EXPECT_EQ(api_.calls("patch_webhook"), 1);
  r = b.Sync();
  ASSERT_TRUE(r.ok()) << r.ToString();
  EXPECT_TRUE(r.served);
  EXPECT_EQ(other.certs.back(), after.serving_cert_pem);
  EXPECT_EQ(served_.certs.back(), after.serving_cert_pem);
}

TEST_F(CertControllerTest, CaRotationWaitsForTheCaBundleBeforeServingFromTheNewCa) {
  Options o = Opts();
  o.lifetimes.serving_validity = hours(24 * 70);  // outlives the CA's two thirds
  CertController a(o, api_, served_.Callback(), clock_);
  ASSERT_TRUE(a.Sync().ok());
  clock_.Advance(hours(24 * 61));  // past two thirds of the CA's 90 days
  CertController::Result r = a.Sync();
  ASSERT_TRUE(r.ok()) << r.ToString();
  ASSERT_EQ(r.step, Step::kStartCaRotation);
  CertBundle started = StoredBundle(api_);
  std::vector<std::string> cas = SplitCertificates(started.ca_bundle_pem);
  ASSERT_EQ(cas.size(), 2u);
  EXPECT_EQ(CaBundles(api_)[0], started.ca_bundle_pem);  // both CAs trusted at once
  EXPECT_FALSE(r.served);                                // the old CA's certificate stays
  std::string serving = served_.certs.back();

  // The API server refuses the caBundle patch: the overlap passes, nobody switches.
  api_.PutWebhookConfiguration(kWebhookConfig);
  api_.FailNext("patch_webhook", StatusError(403, "Forbidden"));
  clock_.Advance(hours(2));
  r = a.Sync();
  EXPECT_EQ(r.error.code, 403);
  EXPECT_EQ(r.step, Step::kNone);
  EXPECT_EQ(served_.certs.back(), serving);

  r = a.Sync();  // the patch goes through; only then the switch
  ASSERT_TRUE(r.ok()) << r.ToString();
  ASSERT_EQ(r.step, Step::kServeFromNewCa);
  EXPECT_TRUE(r.served);
  EXPECT_TRUE(certs::IsSignedBy(served_.certs.back(), cas[0]));
  EXPECT_EQ(CaBundles(api_)[0], started.ca_bundle_pem);
  clock_.Advance(hours(2));
  r = a.Sync();
  ASSERT_TRUE(r.ok()) << r.ToString();
  EXPECT_EQ(r.step, Step::kDropOldCa);
  EXPECT_EQ(CaBundles(api_)[0], cas[0]);
}

TEST_F(CertControllerTest, ForbiddenSecretIsAnErrorAndNothingIsServed) {
  CertController controller(Opts(), api_, served_.Callback(), clock_);
  api_.FailNext("get_secret", StatusError(403, "Forbidden"));
  CertController::Result r = controller.Sync();
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.error.code, 403);
  EXPECT_TRUE(served_.certs.empty());

  api_.FailNext("create_secret", StatusError(403, "Forbidden"));
  r = controller.Sync();
  EXPECT_EQ(r.error.code, 403);
  EXPECT_TRUE(served_.certs.empty());
  EXPECT_EQ(api_.secret(kNs, kSecret), "");

  r = controller.Sync();  // allowed again
  ASSERT_TRUE(r.ok()) << r.ToString();
  EXPECT_EQ(served_.certs.size(), 1u);
}

TEST_F(CertControllerTest, ForbiddenUpdateKeepsServingTheOldCertificate) {
  CertController controller(Opts(), api_, served_.Callback(), clock_);
  ASSERT_TRUE(controller.Sync().ok());
  clock_.Advance(hours(24 * 7));
  api_.FailNext("update_secret", StatusError(403, "Forbidden"));
  CertController::Result r = controller.Sync();
  EXPECT_EQ(r.error.code, 403);
  EXPECT_EQ(served_.certs.size(), 1u);
}

TEST_F(CertControllerTest, MalformedSecretDataIsReplaced) {
  const char* bad[] = {
      R"({"apiVersion":"v1","kind":"Secret","metadata":{"name":"stratum-guard-tls"},
          "data":{"tls.crt":"%%%","tls.key":"YQ==","ca.crt":"YQ==","ca.key":"YQ=="}})",
      R"({"apiVersion":"v1","kind":"Secret","metadata":{"name":"stratum-guard-tls"},
          "data":{"tls.crt":"YQ==","tls.key":"YQ==","ca.crt":"YQ==","ca.key":"YQ=="}})",
      R"({"apiVersion":"v1","kind":"Secret","metadata":{"name":"stratum-guard-tls"}})",
  };
  for (const char* json : bad) {
    FakeKubeApi api;
    api.PutWebhookConfiguration(kWebhookConfig);
    api.PutSecret(kNs, json);
    Served served;
    CertController controller(Opts(), api, served.Callback(), clock_);
    CertController::Result r = controller.Sync();
    ASSERT_TRUE(r.ok()) << r.ToString();
    EXPECT_EQ(r.step, Step::kRegenerate) << json;
    EXPECT_EQ(api.calls("update_secret"), 1);
    ASSERT_EQ(served.certs.size(), 1u);
    EXPECT_EQ(served.certs[0], StoredBundle(api).serving_cert_pem);
  }
}

TEST_F(CertControllerTest, MissingWebhookConfigurationIsAnErrorButTheCertificateIsServed) {
  FakeKubeApi api;  // no configuration stored
  CertController controller(Opts(), api, served_.Callback(), clock_);
  CertController::Result r = controller.Sync();
  EXPECT_FALSE(r.ok());
  EXPECT_TRUE(r.error.IsNotFound()) << r.ToString();
  EXPECT_EQ(served_.certs.size(), 1u);  // ready: the patch is retried, the webhook works
  EXPECT_NE(api.secret(kNs, kSecret), "");

  api.PutWebhookConfiguration(kWebhookConfig);
  r = controller.Sync();
  ASSERT_TRUE(r.ok()) << r.ToString();
  EXPECT_EQ(CaBundles(api)[0], StoredBundle(api).ca_bundle_pem);
}

TEST_F(CertControllerTest, ConfigurationWithoutWebhooksIsNamed) {
  api_.PutWebhookConfiguration(R"({"metadata":{"name":"stratum-guard"}})");
  CertController controller(Opts(), api_, served_.Callback(), clock_);
  CertController::Result r = controller.Sync();
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.ToString(),
            "validatingwebhookconfiguration stratum-guard: the webhook configuration has no "
            "webhooks");
}

TEST_F(CertControllerTest, PatchConflictIsRetriedOnTheNextPass) {
  CertController controller(Opts(), api_, served_.Callback(), clock_);
  api_.FailNext("patch_webhook", StatusError(409, "Conflict"));
  CertController::Result r = controller.Sync();
  EXPECT_TRUE(r.error.IsConflict()) << r.ToString();
  EXPECT_EQ(CaBundles(api_)[0], "");
  r = controller.Sync();
  ASSERT_TRUE(r.ok()) << r.ToString();
  EXPECT_EQ(CaBundles(api_)[0], StoredBundle(api_).ca_bundle_pem);
}

TEST_F(CertControllerTest, StaleTestOperationIsRefusedNotMisapplied) {
  // Another writer reordered the webhooks after this replica read them: the patch's tests fail.
  class ReorderingApi : public FakeKubeApi {
   public:
    kube::KubeError PatchValidatingWebhookConfiguration(const std::string& name,
                                                        const std::string& patch,
                                                        const kube::PodVisitor& visit) override {
      if (!reordered_) {
        reordered_ = true;
        PutWebhookConfiguration(R"({"metadata":{"name":"stratum-guard"},"webhooks":[
          {"name":"validate-ephemeral.stratum-guard.io","clientConfig":{}}]})");
      }
      return FakeKubeApi::PatchValidatingWebhookConfiguration(name, patch, visit);
    }
    bool reordered_ = false;
  } api;
  api.PutWebhookConfiguration(kWebhookConfig);
  CertController controller(Opts(), api, served_.Callback(), clock_);
  CertController::Result r = controller.Sync();
  EXPECT_EQ(r.error.code, 422) << r.ToString();
  r = controller.Sync();
  ASSERT_TRUE(r.ok()) << r.ToString();
}

TEST_F(CertControllerTest, ServerRefusingTheCertificateIsRetried) {
  CertController controller(Opts(), api_, served_.Callback(), clock_);
  served_.fail = true;
  CertController::Result r = controller.Sync();
  EXPECT_EQ(r.ToString(),
            "cannot serve the Secret's certificate: private key does not match the certificate");
  served_.fail = false;
  r = controller.Sync();
  ASSERT_TRUE(r.ok()) << r.ToString();
  EXPECT_TRUE(r.served);
}

TEST_F(CertControllerTest, RunRetriesSoonerAfterAFailureAndStops) {
  Options o = Opts();
  o.check_interval = std::chrono::minutes(5);
  o.retry_interval = std::chrono::seconds(5);
  common::StopSignal stop;
  api_.FailNext("get_secret", StatusError(503), 2);
  CertController controller(
      o, api_, [&](const std::string&, const std::string&) { stop.Stop(); }, clock_);
  controller.Run(stop);
  EXPECT_EQ(controller.syncs_failed(), 2u);
  EXPECT_EQ(clock_.slept(), std::chrono::seconds(10));  // two retries, then served and stopped
}

}  // namespace
}  // namespace stratum_guard::webhookcerts
