// The server in this process, over real TLS, with policies a test swaps in: an engine fault
// (Policy::FailingForTesting) must be answered 500 so the API server's failurePolicy decides,
// never with a verdict of its own; exempted findings must be counted. And the server's time on
// a simulated clock: reloads and the shutdown grace move only when the test advances it.
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "certs/certificates.h"
#include "common/clock.h"
#include "common/log.h"
#include "policy/policy.h"
#include "policy/policy_store.h"
#include "server/metrics_server.h"
#include "server/server.h"
#include "test/server/review_fixtures.h"
#include "test/testing/eventually.h"
#include "test/testing/prometheus_text.h"
#include "test/testing/temp_dir.h"
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
    options.tls_material.certificate_pem = pair.certificate_pem;
    options.tls_material.private_key_pem = pair.private_key_pem;
    options.workers = 1;
    server_ = std::make_unique<Server>(options, policies_, registry_);
    server_->Start();
    MetricsServerOptions metrics_options;
    metrics_options.listen = "127.0.0.1:0";
    metrics_ = std::make_unique<MetricsServer>(metrics_options, registry_);
    metrics_->Start();
  }
  void TearDown() override {
    server_->Stop();
    server_->Wait();
    metrics_->Stop();
  }

  testing::Response Post(const std::string& body) {
    return testing::TlsRequest(server_->webhook_endpoint().port(), tls_, http::verb::post,
                               "/validate", body);
  }
  testing::Exposition Scrape() {
    testing::Response r = testing::PlainGet(metrics_->endpoint().port(), "/metrics");
    std::string error;
    auto parsed = testing::ParsePrometheusText(r.body(), &error);
    EXPECT_TRUE(parsed) << error;
    return parsed.value_or(testing::Exposition{});
  }

  policy::PolicyStore policies_{policy::Policy::FailingForTesting("injected")};
  prometheus::Registry registry_;
  testing::ClientTls tls_;
  std::unique_ptr<Server> server_;
  std::unique_ptr<MetricsServer> metrics_;
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

// --- Time on a simulated clock ------------------------------------------------------------

// Log lines, collected from any thread.
class LogCapture {
 public:
  LogCapture() {
    common::SetLogSink([this](std::string_view line) {
      std::lock_guard lock(mu_);
      lines_.emplace_back(line);
    });
  }
  ~LogCapture() { common::SetLogSink(nullptr); }
  bool Has(std::string_view text) const {
    std::lock_guard lock(mu_);
    for (const std::string& line : lines_) {
      if (line.find(text) != std::string::npos) return true;
    }
    return false;
  }

 private:
  mutable std::mutex mu_;
  std::vector<std::string> lines_;
};

class SimulatedTimeTest : public ::testing::Test {
 protected:
  void Start(ServerOptions options) {
    certs::PemPair pair = certs::DevelopmentCertificate();
    tls_.ca_pem = pair.certificate_pem;
    options.listen = "127.0.0.1:0";
    options.tls_material.certificate_pem = pair.certificate_pem;
    options.tls_material.private_key_pem = pair.private_key_pem;
    options.workers = 1;
    server_ = std::make_unique<Server>(options, policies_, registry_, clock_);
    server_->Start();
  }
  void TearDown() override {
    if (server_ == nullptr) return;
    server_->Stop();
    clock_.Advance(std::chrono::hours(1));  // past any grace left
    server_->Wait();
  }
  std::unique_ptr<testing::HttpClient> Connect() {
    return testing::HttpClient::Tls("127.0.0.1", server_->webhook_endpoint().port(), tls_);
  }
  double Metric(const std::string& name, const std::map<std::string, std::string>& labels = {}) {
    std::string error;
    auto parsed = testing::ParsePrometheusText(MetricsHandlerText(), &error);
    EXPECT_TRUE(parsed) << error;
    return parsed ? parsed->Value(name, labels) : -1;
  }
  std::string MetricsHandlerText() {
    MetricsHandler handler({&registry_});
    HttpRequest request{boost::beast::http::verb::get, "/metrics", 11};
    return handler.Handle(request).body();
  }

  LogCapture logs_;
  common::SimulatedClock clock_{common::SimulatedClock::Sleep::kWaitsForAdvance};
  policy::PolicyStore policies_{policy::Policy::Default()};
  prometheus::Registry registry_;
  testing::ClientTls tls_;
  std::unique_ptr<Server> server_;
};

// A request in flight when the stop comes is answered however long it takes in real time: only
// the clock ends the grace.
TEST_F(SimulatedTimeTest, TheGraceDoesNotRunOutWhileTheClockStands) {
  ServerOptions options;
  options.shutdown_grace = std::chrono::seconds(1);
  Start(options);
  std::string body = fixtures::DeploymentReview("nginx:1.25", "[]");
  auto client = Connect();
  // The 100 Continue proves the server has read the headers: the request is in flight.
  client->WriteRaw(
      "POST /validate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
      "Expect: 100-continue\r\nContent-Length: " +
      std::to_string(body.size()) + "\r\n\r\n");
  ASSERT_EQ(client->ReadResponse().result_int(), 100u);
  client->WriteRaw(body.substr(0, 10));
  server_->Stop();
  ASSERT_TRUE(testing::Eventually([&] { return logs_.Has("shutting down"); }));
  client->WriteRaw(body.substr(10));
  testing::Response r = client->ReadResponse();
  EXPECT_EQ(r.result_int(), 200u);
  EXPECT_FALSE(r.keep_alive()) << "a draining server closes after answering";
  server_->Wait();
  EXPECT_TRUE(logs_.Has("\"stopped\""));
  EXPECT_FALSE(logs_.Has("shutdown grace expired"));
}

// A client that never finishes its request is cut when the simulated grace has passed.
TEST_F(SimulatedTimeTest, TheGraceEndsWhenTheClockPassesIt) {
  ServerOptions options;
  options.shutdown_grace = std::chrono::seconds(15);
  options.limits.header_timeout = std::chrono::hours(1);  // only the grace may end it
  Start(options);
  auto stuck = Connect();
  stuck->WriteRaw(
      "POST /validate HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 50\r\n\r\n");
  ASSERT_EQ(stuck->ReadResponse().result_int(), 100u);
  stuck->WriteRaw("{");
  server_->Stop();
  ASSERT_TRUE(testing::Eventually([&] { return logs_.Has("shutting down"); }));
  clock_.Advance(std::chrono::seconds(15));
  server_->Wait();
  EXPECT_TRUE(logs_.Has("shutdown grace expired, closing connections"));
  server_.reset();
}

// The policy file is read again each time the clock passes the reload interval, and a new
// policy's rules get their metric series at zero before any request names them.
TEST_F(SimulatedTimeTest, PolicyReloadsFollowTheClockAndAddTheNewRulesSeries) {
  testing::TempDir dir;
  std::string path = dir.Write("policy.yaml", policy::Policy::DefaultText());
  ServerOptions options;
  options.policy_file = path;
  options.reload_interval = std::chrono::minutes(5);
  policies_.Set(policy::Policy::Compile(policy::Policy::DefaultText(), path));
  Start(options);
  EXPECT_EQ(Metric("stratum_guard_findings_total", {{"rule", "miner-image"}, {"action", "deny"}}),
            0);
  EXPECT_EQ(Metric("stratum_guard_findings_total", {{"rule", "lab-only"}}), 0);
  const double rules = Metric("stratum_guard_policy_rules");

  // The new rule goes before the policy's end line, which must stay last.
  std::string text(policy::Policy::DefaultText());
  text.insert(text.find("\nend: stratum-guard-policy") + 1,
              "  - id: lab-only\n    description: a rule the reload adds\n    action: warn\n"
              "    finding: lab tool\n    match: {images: [\"lab-tool\"]}\n");
  dir.Write("policy.yaml", text);
  // The reload thread may not be asleep yet when the clock first moves: advance until it ran.
  ASSERT_TRUE(testing::Eventually([&] {
    clock_.Advance(std::chrono::minutes(5));
    return Metric("stratum_guard_policy_reloads_total", {{"result", "success"}}) == 1;
  }));
  EXPECT_EQ(Metric("stratum_guard_policy_rules"), rules + 1);
  EXPECT_EQ(Metric("stratum_guard_findings_total", {{"rule", "lab-only"}, {"action", "warn"}}), 0);
  EXPECT_TRUE(MetricsHandlerText().find("rule=\"lab-only\",source=\"admission\"") !=
              std::string::npos);
}

// Every family the webhook exports is there before the first request, with its # TYPE line:
// prometheus-cpp writes nothing for a family without series, and an alert cannot tell a
// missing series from a quiet one.
TEST_F(SimulatedTimeTest, EveryWebhookFamilyIsExportedBeforeTheFirstRequest) {
  Start(ServerOptions{});
  std::string text = MetricsHandlerText();
  for (const char* family :
       {"stratum_guard_admission_requests_total", "stratum_guard_admission_duration_seconds",
        "stratum_guard_findings_total", "stratum_guard_exemptions_total",
        "stratum_guard_policy_reloads_total", "stratum_guard_policy_rules",
        "stratum_guard_tls_reloads_total", "stratum_guard_tls_certificate_expiry_timestamp_seconds",
        "stratum_guard_http_responses_total", "stratum_guard_tls_handshake_failures_total",
        "stratum_guard_connections_rejected_total", "stratum_guard_open_connections",
        "stratum_guard_slow_bodies_total", "stratum_guard_build_info"}) {
    EXPECT_NE(text.find("# TYPE " + std::string(family) + " "), std::string::npos) << family;
  }
  EXPECT_EQ(Metric("stratum_guard_admission_requests_total",
                   {{"kind", "Pod"}, {"operation", "CREATE"}, {"decision", "denied"}}),
            0);
  EXPECT_EQ(Metric("stratum_guard_connections_rejected_total", {{"listener", "webhook"}}), 0);
  EXPECT_EQ(
      Metric("stratum_guard_http_responses_total", {{"listener", "webhook"}, {"code", "500"}}), 0);
}

// --- The metrics listener alone -------------------------------------------------------------

TEST(MetricsServerTest, ServesTheRegistryWithoutAWebhook) {
  prometheus::Registry registry;
  PolicyMetrics policy_metrics(registry);
  policy_metrics.SetPolicyRules(7);
  MetricsServerOptions options;
  options.listen = "127.0.0.1:0";
  MetricsServer metrics(options, registry);
  metrics.Start();
  testing::Response r = testing::PlainGet(metrics.endpoint().port(), "/metrics");
  ASSERT_EQ(r.result_int(), 200u);
  std::string error;
  auto parsed = testing::ParsePrometheusText(r.body(), &error);
  ASSERT_TRUE(parsed) << error;
  EXPECT_EQ(parsed->Value("stratum_guard_policy_rules"), 7);
  EXPECT_GT(parsed->Value("process_resident_memory_bytes"), 0);
  EXPECT_EQ(parsed->types.count("stratum_guard_admission_requests_total"), 0u)
      << "no webhook, no webhook series";
  EXPECT_EQ(testing::PlainGet(metrics.endpoint().port(), "/healthz").result_int(), 200u);
  EXPECT_THROW(metrics.Start(), std::logic_error) << "one listener per MetricsServer";
  metrics.Stop();
  metrics.Stop();  // idempotent
}

TEST(MetricsServerTest, ABadAddressIsAStartError) {
  prometheus::Registry registry;
  MetricsServerOptions options;
  options.listen = "not-an-address";
  MetricsServer metrics(options, registry);
  EXPECT_THROW(metrics.Start(), std::runtime_error);
}

// Certificates kept in memory (serve --manage-certs): with await_tls the server listens but is
// not ready until SetTls; a bad pair is refused and counted, and the one in force stays.
TEST(SetTlsTest, ReadyOnlyAfterTheFirstCertificateAndABadOneIsRefused) {
  certs::PemPair placeholder = certs::DevelopmentCertificate();
  certs::PemPair real = certs::DevelopmentCertificate();
  policy::PolicyStore policies{policy::Policy::Default()};
  prometheus::Registry registry;
  ServerOptions options;
  options.listen = "127.0.0.1:0";
  options.workers = 1;
  options.await_tls = true;
  options.tls_material.certificate_pem = placeholder.certificate_pem;
  options.tls_material.private_key_pem = placeholder.private_key_pem;
  Server server(options, policies, registry);
  server.Start();
  const unsigned short port = server.webhook_endpoint().port();
  testing::ClientTls trusts_placeholder;
  trusts_placeholder.ca_pem = placeholder.certificate_pem;
  testing::ClientTls trusts_real;
  trusts_real.ca_pem = real.certificate_pem;
  auto readyz = [&](const testing::ClientTls& tls) {
    return testing::TlsRequest(port, tls, http::verb::get, "/readyz", "").result_int();
  };
  EXPECT_EQ(readyz(trusts_placeholder), 503u);

  server.SetTls({real.certificate_pem, real.private_key_pem, ""});
  EXPECT_EQ(readyz(trusts_real), 200u);
  EXPECT_THROW(readyz(trusts_placeholder), std::exception);  // new connections get the new one

  EXPECT_THROW(server.SetTls({placeholder.certificate_pem, real.private_key_pem, ""}),
               std::runtime_error);
  EXPECT_EQ(readyz(trusts_real), 200u);
  server.Stop();
  server.Wait();
}

}  // namespace
}  // namespace stratum_guard::server
