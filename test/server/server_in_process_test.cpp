// The server in this process, over real TLS, with policies a test swaps in: an engine fault
// (Policy::FailingForTesting) must be answered 500 so the API server's failurePolicy decides,
// never with a verdict of its own; exempted findings must be counted.
#include <gtest/gtest.h>

#include <memory>

#include "certs/certificates.h"
#include "policy/policy.h"
#include "policy/policy_store.h"
#include "server/server.h"
#include "test/server/review_fixtures.h"
#include "test/testing/prometheus_text.h"
#include "test/testing/tls_client.h"

namespace stratum_guard::server {
namespace {

namespace http = boost::beast::http;

class InProcessServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    certs::PemPair pair = certs::DevelopmentCertificate();
    tls_.ca_pem = pair.certificate_pem;
    ServerOptions options;
    options.listen = "127.0.0.1:0";
    options.metrics_listen = "127.0.0.1:0";
    options.tls_material.certificate_pem = pair.certificate_pem;
    options.tls_material.private_key_pem = pair.private_key_pem;
    options.workers = 1;
    server_ = std::make_unique<Server>(options, policies_, registry_);
    server_->Start();
  }
  void TearDown() override {
    server_->Stop();
    server_->Wait();
  }

  testing::Response Post(const std::string& body) {
    return testing::TlsRequest(server_->webhook_endpoint().port(), tls_, http::verb::post,
                               "/validate", body);
  }
  testing::Exposition Scrape() {
    testing::Response r = testing::PlainGet(server_->metrics_endpoint().port(), "/metrics");
    std::string error;
    auto parsed = testing::ParsePrometheusText(r.body(), &error);
    EXPECT_TRUE(parsed) << error;
    return parsed.value_or(testing::Exposition{});
  }

  policy::PolicyStore policies_{policy::Policy::FailingForTesting("injected")};
  prometheus::Registry registry_;
  testing::ClientTls tls_;
  std::unique_ptr<Server> server_;
};

TEST_F(InProcessServerTest, AnswersInternalErrorAndCountsIt) {
  testing::Response r = Post(fixtures::DeploymentReview("xmrig/xmrig", fixtures::kStratumArgs));
  EXPECT_EQ(r.result_int(), 500u);
  EXPECT_EQ(r.body(), "{\"error\":\"policy evaluation failed\"}\n");
  testing::Exposition metrics = Scrape();
  EXPECT_EQ(metrics.Value("stratum_guard_admission_requests_total",
                          {{"kind", "Deployment"}, {"decision", "error"}}),
            1);
  EXPECT_EQ(metrics.Value("stratum_guard_admission_requests_total", {{"decision", "denied"}}), 0);
  EXPECT_EQ(metrics.Value("stratum_guard_http_responses_total",
                          {{"listener", "webhook"}, {"code", "500"}}),
            1);
  EXPECT_EQ(metrics.Value("stratum_guard_findings_total"), 0) << "no made-up finding";
}

TEST_F(InProcessServerTest, ARequestWithNothingToJudgeIsStillAnswered) {
  // A DELETE is never evaluated, so a broken engine does not block it.
  fixtures::ReviewSpec spec;
  spec.operation = "DELETE";
  testing::Response r = Post(fixtures::Review(spec));
  EXPECT_EQ(r.result_int(), 200u);
}

TEST_F(InProcessServerTest, AWorkingPolicySwappedInJudgesAgain) {
  policies_.Set(policy::Policy::Default());
  testing::Response r = Post(fixtures::DeploymentReview("xmrig/xmrig", fixtures::kStratumArgs));
  EXPECT_EQ(r.result_int(), 200u);
  EXPECT_NE(r.body().find("\"allowed\":false"), std::string::npos) << r.body();
}

TEST_F(InProcessServerTest, ExemptedFindingsAreCountedByRule) {
  policies_.Set(policy::Policy::Compile(
      "exemptions: {namespaces: [miner-lab]}\n" + std::string(policy::Policy::DefaultText()),
      "exempt.yaml"));
  fixtures::ReviewSpec spec;
  spec.namespace_ = "miner-lab";
  spec.object =
      fixtures::Object("Deployment", fixtures::Containers("xmrig/xmrig"), "bench", "miner-lab");
  testing::Response r = Post(fixtures::Review(spec));
  ASSERT_EQ(r.result_int(), 200u);
  EXPECT_NE(r.body().find("\"allowed\":true"), std::string::npos) << r.body();
  testing::Exposition metrics = Scrape();
  EXPECT_EQ(metrics.Value("stratum_guard_exemptions_total",
                          {{"rule", "miner-image"}, {"source", "admission"}}),
            1);
  EXPECT_EQ(metrics.Value("stratum_guard_findings_total"), 0);
}

}  // namespace
}  // namespace stratum_guard::server
