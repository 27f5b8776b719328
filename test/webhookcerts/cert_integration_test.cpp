// Self-managed certificates over HTTPS: the real KubeClient against the fake API server (REST
// paths, the JSON patch's media type, Status errors), and `serve --manage-certs` as a process.
#include <gtest/gtest.h>

#include <boost/beast/http.hpp>
#include <csignal>

#include "common/base64.h"
#include "kube/kube_client.h"
#include "kube/kube_config.h"
#include "test/fake_apiserver/fake_apiserver.h"
#include "test/testing/child_process.h"
#include "test/testing/eventually.h"
#include "test/testing/temp_dir.h"
#include "test/testing/tls_client.h"
#include "webhookcerts/cert_controller.h"

namespace stratum_guard::webhookcerts {
namespace {

using fake_apiserver::FakeApiServer;
using std::chrono::seconds;

constexpr char kNs[] = "sg";
constexpr char kSecret[] = "stratum-guard-tls";

const char kWebhookConfig[] = R"({"apiVersion":"admissionregistration.k8s.io/v1",
  "kind":"ValidatingWebhookConfiguration","metadata":{"name":"stratum-guard"},
  "webhooks":[{"name":"validate.stratum-guard.io",
               "clientConfig":{"service":{"name":"stratum-guard","namespace":"sg"}}}]})";

// A fault answering every matching call (`times`) with `status`.
FakeApiServer::Fault Refuse(const std::string& method, const std::string& path, int status,
                            const std::string& reason, int times = 1) {
  FakeApiServer::Fault fault;
  fault.method = method;
  fault.path_contains = path;
  fault.status = status;
  fault.reason = reason;
  fault.times = times;
  return fault;
}

CertBundle Stored(const FakeApiServer& server) {
  auto json = server.secret_json(kNs, kSecret);
  if (!json) return {};
  rapidjson::Document doc;
  doc.Parse(json->c_str());
  std::string error;
  return BundleFromSecret(doc, &error).value_or(CertBundle{});
}

std::string CaBundle(const FakeApiServer& server) {
  auto json = server.webhook_configuration_json("stratum-guard");
  if (!json) return {};
  rapidjson::Document doc;
  doc.Parse(json->c_str());
  const auto& client = doc["webhooks"][0]["clientConfig"];
  if (!client.HasMember("caBundle")) return {};
  return common::DecodeBase64(client["caBundle"].GetString()).value_or("?");
}

class CertIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_.Start();
    server_.PutWebhookConfiguration(kWebhookConfig);
  }
  std::unique_ptr<kube::KubeClient> Client() {
    return std::make_unique<kube::KubeClient>(kube::ResolveClusterConfig(
        fake_apiserver::WriteKubeconfig(server_, dir_.path()), kube::ProcessEnv()));
  }
  CertController Controller(kube::KubeApi& api) {
    Options o;
    o.namespace_ = kNs;
    return CertController(
        o, api, [this](const std::string& cert, const std::string&) { served_.push_back(cert); });
  }
  FakeApiServer server_;
  testing::TempDir dir_;
  std::vector<std::string> served_;
};

TEST_F(CertIntegrationTest, CreatesPatchesAndServesOverHttps) {
  auto client = Client();
  CertController controller = Controller(*client);
  CertController::Result r = controller.Sync();
  ASSERT_TRUE(r.ok()) << r.ToString();
  EXPECT_EQ(r.step, Step::kRegenerate);
  CertBundle stored = Stored(server_);
  EXPECT_FALSE(stored.ca_bundle_pem.empty());
  EXPECT_EQ(CaBundle(server_), stored.ca_bundle_pem);
  EXPECT_EQ(served_, std::vector<std::string>{stored.serving_cert_pem});
  EXPECT_EQ(server_.requests("PATCH"), 1u);

  // A second replica (its own client) creates nothing and serves the same certificate.
  auto other_client = Client();
  std::vector<std::string> before = served_;
  CertController other = Controller(*other_client);
  r = other.Sync();
  ASSERT_TRUE(r.ok()) << r.ToString();
  EXPECT_EQ(r.step, Step::kNone);
  EXPECT_EQ(served_.back(), stored.serving_cert_pem);
  EXPECT_EQ(server_.requests("POST"), 1u);
  EXPECT_EQ(server_.requests("PATCH"), 1u);  // the caBundle already matched
}

TEST_F(CertIntegrationTest, ForbiddenSecretIsReportedWithTheApiStatus) {
  server_.InjectFault(Refuse("GET", "/secrets/", 403, "Forbidden"));
  auto client = Client();
  CertController controller = Controller(*client);
  CertController::Result r = controller.Sync();
  EXPECT_EQ(r.error.code, 403);
  EXPECT_EQ(r.error.reason, "Forbidden");
  EXPECT_TRUE(served_.empty());
  EXPECT_FALSE(server_.secret_json(kNs, kSecret).has_value());
}

TEST_F(CertIntegrationTest, ConflictOnUpdateIsReadAgain) {
  auto client = Client();
  CertController controller = Controller(*client);
  ASSERT_TRUE(controller.Sync().ok());
  // Malformed data makes the next pass update the Secret; the first update meets a 409.
  server_.PutSecret(kNs, R"({"apiVersion":"v1","kind":"Secret","type":"kubernetes.io/tls",
      "metadata":{"name":"stratum-guard-tls"},
      "data":{"tls.crt":"bm90IGEgY2VydA==","tls.key":"YQ==","ca.crt":"YQ==","ca.key":"YQ=="}})");
  server_.InjectFault(Refuse("PUT", "/secrets/stratum-guard-tls", 409, "Conflict"));
  CertController::Result r = controller.Sync();
  ASSERT_TRUE(r.ok()) << r.ToString();
  EXPECT_EQ(r.step, Step::kRegenerate);
  EXPECT_EQ(server_.requests("PUT"), 2u);
  CertBundle stored = Stored(server_);
  EXPECT_EQ(served_.back(), stored.serving_cert_pem);
  EXPECT_EQ(CaBundle(server_), stored.ca_bundle_pem);
}

TEST_F(CertIntegrationTest, MissingWebhookConfigurationIsA404) {
  FakeApiServer bare;
  bare.Start();
  auto client = std::make_unique<kube::KubeClient>(kube::ResolveClusterConfig(
      fake_apiserver::WriteKubeconfig(bare, dir_.path()), kube::ProcessEnv()));
  CertController controller = Controller(*client);
  CertController::Result r = controller.Sync();
  EXPECT_TRUE(r.error.IsNotFound()) << r.ToString();
  EXPECT_NE(r.error.message.find("validatingwebhookconfigurations"), std::string::npos)
      << r.error.message;
  EXPECT_EQ(served_.size(), 1u);
}

// ---- serve --manage-certs, the real binary ----

class ManageCertsCommandTest : public CertIntegrationTest {
 protected:
  std::unique_ptr<testing::ChildProcess> Serve(std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {
        "serve",
        "--listen=127.0.0.1:0",
        "--metrics-listen=127.0.0.1:0",
        "--manage-certs",
        "--cert-namespace=sg",
        "--cert-check-interval=1s",
        "--cert-overlap=2s",
        "--kubeconfig=" + fake_apiserver::WriteKubeconfig(server_, dir_.path())};
    args.insert(args.end(), extra.begin(), extra.end());
    return std::make_unique<testing::ChildProcess>(STRATUM_GUARD_BINARY, args);
  }
  static int ReadyzStatus(unsigned short port, const testing::ClientTls& tls) {
    try {
      auto client = testing::HttpClient::Tls("127.0.0.1", port, tls);
      return static_cast<int>(client->Get("/readyz").result_int());
    } catch (const std::exception&) {
      return -1;  // a handshake the CA does not verify
    }
  }
};

TEST_F(ManageCertsCommandTest, ReadyOnlyOnceItServesTheSecretsCertificate) {
  server_.InjectFault(Refuse("GET", "/secrets/", 403, "Forbidden", 1'000'000));
  auto serve = Serve();
  unsigned short port = serve->WaitForListening("webhook");
  ASSERT_NE(port, 0);
  ASSERT_TRUE(serve->WaitForLog("self-managed certificates: a step failed", {}, seconds(20)));
  // Listening with a placeholder, and not ready: no Service would send it a review.
  testing::ClientTls unverified;
  unverified.ca_pem = "";
  EXPECT_EQ(ReadyzStatus(port, unverified), 503);

  server_.ClearFaults();
  ASSERT_TRUE(serve->WaitForLog("serving the certificate from the Secret", {}, seconds(30)));
  CertBundle stored = Stored(server_);
  testing::ClientTls trusting;
  trusting.ca_pem = stored.ca_bundle_pem;  // only the Secret's CA, as the API server
  trusting.server_name = "stratum-guard.sg.svc";
  EXPECT_TRUE(testing::Eventually([&] { return ReadyzStatus(port, trusting) == 200; }));
  EXPECT_EQ(CaBundle(server_), stored.ca_bundle_pem);

  serve->Signal(SIGTERM);
  EXPECT_EQ(serve->WaitExit(seconds(30)), 0);
}

TEST_F(ManageCertsCommandTest, RotationReachesTheRunningServer) {
  auto serve = Serve({"--cert-validity=6s", "--ca-validity=1h"});
  unsigned short port = serve->WaitForListening("webhook");
  ASSERT_NE(port, 0);
  ASSERT_TRUE(serve->WaitForLog("serving the certificate from the Secret", {}, seconds(30)));
  const std::string first = Stored(server_).serving_cert_pem;
  // Renewed after 4 s (two thirds of 6 s), read back within the 1 s check interval.
  ASSERT_TRUE(
      serve->WaitForLog("certificate Secret updated", {{"step", "renew-serving"}}, seconds(30)));
  testing::ClientTls trusting;
  trusting.ca_pem = Stored(server_).ca_bundle_pem;
  trusting.server_name = "stratum-guard.sg.svc";
  EXPECT_NE(Stored(server_).serving_cert_pem, first);
  EXPECT_EQ(ReadyzStatus(port, trusting), 200);
  EXPECT_TRUE(testing::Eventually(
      [&] { return serve->LogsWithMsg("serving the certificate from the Secret").size() >= 2; }));
  serve->Signal(SIGTERM);
  EXPECT_EQ(serve->WaitExit(seconds(30)), 0);
}

TEST_F(ManageCertsCommandTest, ConflictingOrIncompleteFlagsExit2) {
  struct Case {
    std::vector<std::string> args;
    std::string message;
  } cases[] = {
      {{"serve", "--manage-certs", "--cert-namespace=sg", "--tls-cert=a.pem", "--tls-key=b.pem"},
       "--manage-certs and --tls-cert are two sources of one certificate"},
      {{"serve", "--manage-certs", "--cert-namespace=sg", "--cert-validity=1h",
        "--ca-validity=30m"},
       "--ca-validity must be longer than --cert-validity"},
      {{"serve", "--manage-certs", "--cert-namespace=sg", "--cert-overlap=1s",
        "--cert-check-interval=1m"},
       "--cert-overlap must be at least --cert-check-interval"},
      {{"serve", "--manage-certs", "--cert-namespace=sg", "--cert-renew-fraction=1.5"},
       "--cert-renew-fraction"},
  };
  for (const Case& c : cases) {
    testing::ChildProcess p(STRATUM_GUARD_BINARY, c.args);
    EXPECT_EQ(p.WaitExit(seconds(30)), 2) << c.message;
    std::string out;
    for (const std::string& line : p.Lines()) out += line + "\n";
    EXPECT_NE(out.find(c.message), std::string::npos) << out;
  }
}

}  // namespace
}  // namespace stratum_guard::webhookcerts
