// Unit tests of the server's small parts: HTTP helpers, listen addresses, certificates, TLS
// contexts, file watching and reloads, metrics.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <deque>
#include <filesystem>
#include <thread>
#include <vector>

#include "certs/certificates.h"
#include "common/file_watcher.h"
#include "common/reloader.h"
#include "server/address.h"
#include "server/connection.h"
#include "server/http.h"
#include "server/metrics.h"
#include "server/process_metrics.h"
#include "server/tls_context.h"
#include "server/webhook_handler.h"
#include "test/testing/prometheus_text.h"
#include "test/testing/temp_dir.h"

namespace stratum_guard::server {
namespace {

namespace http = boost::beast::http;

TEST(HttpTest, EveryProblemHasItsStatus) {
  EXPECT_EQ(StatusOf(Problem::kMalformedJson), http::status::bad_request);
  EXPECT_EQ(StatusOf(Problem::kNotAdmissionReview), http::status::bad_request);
  EXPECT_EQ(StatusOf(Problem::kBadHttp), http::status::bad_request);
  EXPECT_EQ(StatusOf(Problem::kNotFound), http::status::not_found);
  EXPECT_EQ(StatusOf(Problem::kMethodNotAllowed), http::status::method_not_allowed);
  EXPECT_EQ(StatusOf(Problem::kUnsupportedMediaType), http::status::unsupported_media_type);
  EXPECT_EQ(StatusOf(Problem::kBodyTooLarge), http::status::payload_too_large);
  EXPECT_EQ(StatusOf(Problem::kNotReady), http::status::service_unavailable);
  EXPECT_EQ(StatusOf(Problem::kOverloaded), http::status::service_unavailable);
  EXPECT_EQ(StatusOf(Problem::kInternal), http::status::internal_server_error);
}

TEST(HttpTest, OnlyAnOverloadedAnswerSaysWhenToRetry) {
  EXPECT_EQ(ProblemResponse(Problem::kOverloaded, "busy", 11)[http::field::retry_after], "1");
  EXPECT_EQ(ProblemResponse(Problem::kNotReady, "not ready", 11).count(http::field::retry_after),
            0u);
}

class FakeConnection : public Connection {
 public:
  void Start() override {}
  void Shutdown() override {}
  bool Wait() { return MarkWaiting(); }
  bool Serve() { return MarkServing(); }
  bool Restart() { return RestartWait(); }
  // Answered a request and kept alive, then waiting for the next one.
  bool ServeAndIdle() {
    if (!MarkServing()) return false;
    MarkProven(true);
    return MarkWaiting();
  }
  int closed = 0;

 protected:
  void CloseForShedding() override { ++closed; }
};

std::shared_ptr<FakeConnection> Fake() { return std::make_shared<FakeConnection>(); }

TEST(ConnectionTrackerTest, AtTheCapShedsTheLongestWaitingConnection) {
  prometheus::Registry registry;
  ServerMetrics metrics(registry, {"webhook", "metrics"});
  ConnectionTracker tracker("webhook", 3, metrics);
  auto handshaking = Fake();  // waiting since it was accepted
  auto serving = Fake();
  auto idle = Fake();
  ASSERT_TRUE(tracker.TryAdd(handshaking));
  ASSERT_TRUE(tracker.TryAdd(serving));
  ASSERT_TRUE(tracker.TryAdd(idle));
  ASSERT_TRUE(serving->Serve());
  ASSERT_TRUE(idle->Serve());
  ASSERT_TRUE(idle->Wait());  // back to waiting for its next request: the newest wait
  EXPECT_TRUE(tracker.Crowded());

  auto first = Fake();
  EXPECT_TRUE(tracker.TryAdd(first));
  EXPECT_EQ(handshaking->closed, 1);  // the oldest wait, not the one serving
  EXPECT_EQ(idle->closed, 0);
  EXPECT_EQ(tracker.Count(), 3u);
  // Shed, it must stop: neither serving nor waiting again is allowed.
  EXPECT_FALSE(handshaking->Serve());
  EXPECT_FALSE(handshaking->Wait());

  auto second = Fake();
  EXPECT_TRUE(tracker.TryAdd(second));
  EXPECT_EQ(idle->closed, 1);
  EXPECT_EQ(serving->closed, 0);
  // Once every connection serves a request, a newcomer is refused.
  ASSERT_TRUE(first->Serve());
  ASSERT_TRUE(second->Serve());
  EXPECT_FALSE(tracker.TryAdd(Fake()));
  EXPECT_EQ(serving->closed, 0);
  EXPECT_EQ(tracker.Count(), 3u);

  // A shed connection's own Remove() later does not free a second slot.
  tracker.Remove(handshaking.get());
  tracker.Remove(idle.get());
  EXPECT_EQ(tracker.Count(), 3u);
  MetricsHandler handler({&registry});
  HttpRequest request{http::verb::get, "/metrics", 11};
  std::string error;
  auto text = testing::ParsePrometheusText(handler.Handle(request).body(), &error);
  ASSERT_TRUE(text) << error;
  EXPECT_EQ(text->Value("stratum_guard_connections_shed_total", {{"listener", "webhook"}}), 2);
  EXPECT_EQ(text->Value("stratum_guard_open_connections", {{"listener", "webhook"}}), 3);
}

// Issue 15: under slowloris, the API server's idle keep-alive connection was the oldest wait
// and was shed before the slow clients that never complete a request.
TEST(ConnectionTrackerTest, UnprovenConnectionsAreShedBeforeAnIdleOneThatServed) {
  prometheus::Registry registry;
  ServerMetrics metrics(registry, {"webhook"});
  ConnectionTracker tracker("webhook", 3, metrics);
  auto idle = Fake();
  ASSERT_TRUE(tracker.TryAdd(idle));
  ASSERT_TRUE(idle->ServeAndIdle());
  auto stalled_body = Fake();  // in its body, which stalled: younger than the idle wait
  auto handshaking = Fake();
  ASSERT_TRUE(tracker.TryAdd(stalled_body));
  ASSERT_TRUE(tracker.TryAdd(handshaking));
  ASSERT_LT(idle->waiting_since(), stalled_body->waiting_since());
  ASSERT_LT(stalled_body->waiting_since(), handshaking->waiting_since());
  ASSERT_TRUE(stalled_body->Restart());  // the body's last bytes came: its wait restarts
  ASSERT_LT(handshaking->waiting_since(), stalled_body->waiting_since());

  auto first = Fake();
  EXPECT_TRUE(tracker.TryAdd(first));
  EXPECT_EQ(handshaking->closed, 1);  // unproven, waiting longest since its last progress
  EXPECT_EQ(stalled_body->closed, 0);
  EXPECT_EQ(idle->closed, 0);
  auto second = Fake();
  EXPECT_TRUE(tracker.TryAdd(second));
  EXPECT_EQ(stalled_body->closed, 1);  // stalled since before `first` came
  EXPECT_EQ(first->closed, 0);
  EXPECT_EQ(idle->closed, 0);
  // Only when no unproven connection waits does the idle one go.
  ASSERT_TRUE(first->Serve());
  ASSERT_TRUE(second->Serve());
  EXPECT_TRUE(tracker.TryAdd(Fake()));
  EXPECT_EQ(idle->closed, 1);
  EXPECT_FALSE(stalled_body->Restart());  // shed: the body must not go on
}

TEST(ConnectionTrackerTest, AConnectionThatBeganServingCannotBeShed) {
  auto connection = Fake();
  const std::int64_t since = connection->waiting_since();
  ASSERT_GT(since, 0);
  ASSERT_TRUE(connection->Serve());
  EXPECT_FALSE(connection->TryShed(since));
  EXPECT_EQ(connection->closed, 0);
  ASSERT_TRUE(connection->Wait());
  EXPECT_FALSE(connection->TryShed(since));  // a stale reading of an earlier wait
  EXPECT_TRUE(connection->TryShed(connection->waiting_since()));
  EXPECT_FALSE(connection->TryShed(connection->waiting_since()));  // claimed once only
  EXPECT_EQ(connection->closed, 1);
}

TEST(ConnectionTrackerTest, NothingIsAddedWhileDraining) {
  prometheus::Registry registry;
  ServerMetrics metrics(registry, {"webhook", "metrics"});
  ConnectionTracker tracker("metrics", 2, metrics);
  auto waiting = Fake();
  ASSERT_TRUE(tracker.TryAdd(waiting));
  EXPECT_FALSE(tracker.Crowded());
  tracker.ShutdownAll();
  EXPECT_FALSE(tracker.TryAdd(Fake()));
  EXPECT_EQ(waiting->closed, 0);
}

TEST(BodyBudgetTest, ReservesUpToTheCapacityAndNoFurther) {
  BodyBudget budget;
  EXPECT_TRUE(budget.TryReserve(600, 1000));
  EXPECT_FALSE(budget.TryReserve(401, 1000));
  EXPECT_TRUE(budget.TryReserve(400, 1000));
  EXPECT_EQ(budget.reserved(), 1000u);
  EXPECT_FALSE(budget.TryReserve(1, 1000));
  budget.Release(600);
  EXPECT_TRUE(budget.TryReserve(600, 1000));
  // A request larger than the whole budget never fits, and does not wrap around.
  budget.Release(1000);
  EXPECT_FALSE(budget.TryReserve(1001, 1000));
  EXPECT_FALSE(budget.TryReserve(static_cast<std::size_t>(-1), 1000));
  EXPECT_EQ(budget.reserved(), 0u);
}

TEST(BodyBudgetTest, NeverPassesItsCapacityUnderConcurrentReservations) {
  BodyBudget budget;
  constexpr std::size_t kCapacity = 1000;
  std::atomic<std::size_t> granted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10'000; ++i) {
        if (budget.TryReserve(7, kCapacity)) {
          granted += 7;
          EXPECT_LE(budget.reserved(), kCapacity);
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(budget.reserved(), granted.load());
  EXPECT_LE(granted.load(), kCapacity);
  EXPECT_GT(granted.load(), kCapacity - 7);
}

TEST(HttpTest, ProblemResponseIsJson) {
  HttpResponse r = ProblemResponse(Problem::kMalformedJson, "bad \"thing\"", 11);
  EXPECT_EQ(r.result(), http::status::bad_request);
  EXPECT_EQ(r[http::field::content_type], "application/json");
  EXPECT_EQ(r.body(), "{\"error\":\"bad \\\"thing\\\"\"}\n");
}

TEST(HttpTest, TargetPathDropsTheQuery) {
  EXPECT_EQ(TargetPath("/validate?timeout=10s"), "/validate");
  EXPECT_EQ(TargetPath("/validate"), "/validate");
  EXPECT_EQ(TargetPath("/healthz#x"), "/healthz");
}

TEST(HttpTest, JsonContentType) {
  EXPECT_TRUE(IsJsonContentType("application/json"));
  EXPECT_TRUE(IsJsonContentType("Application/JSON; charset=utf-8"));
  EXPECT_TRUE(IsJsonContentType(" application/json "));
  EXPECT_FALSE(IsJsonContentType("text/plain"));
  EXPECT_FALSE(IsJsonContentType("application/jsonx"));
  EXPECT_FALSE(IsJsonContentType(""));
}

TEST(ListenAddressTest, ParsesTheForms) {
  std::string error;
  auto any = ParseListenAddress(":8443", &error);
  ASSERT_TRUE(any) << error;
  EXPECT_TRUE(any->address().is_unspecified());
  EXPECT_EQ(any->port(), 8443);
  auto v4 = ParseListenAddress("127.0.0.1:0", &error);
  ASSERT_TRUE(v4);
  EXPECT_EQ(FormatEndpoint(*v4), "127.0.0.1:0");
  auto v6 = ParseListenAddress("[::1]:9090", &error);
  ASSERT_TRUE(v6);
  EXPECT_EQ(FormatEndpoint(*v6), "[::1]:9090");
  auto local = ParseListenAddress("localhost:1", &error);
  ASSERT_TRUE(local);
  EXPECT_EQ(FormatEndpoint(*local), "127.0.0.1:1");
}

TEST(ListenAddressTest, RefusesBadAddresses) {
  for (std::string_view bad : {"8443", "127.0.0.1:", "127.0.0.1:65536", "127.0.0.1:-1",
                               "127.0.0.1:80x", "example.com:80", "::1:80", "[::1:80"}) {
    std::string error;
    EXPECT_FALSE(ParseListenAddress(bad, &error)) << bad;
    EXPECT_NE(error, "") << bad;
  }
}

TEST(CertificatesTest, DevelopmentCertificateLoadsIntoAServerContext) {
  certs::PemPair pair = certs::DevelopmentCertificate();
  EXPECT_NE(pair.certificate_pem.find("BEGIN CERTIFICATE"), std::string::npos);
  EXPECT_NE(pair.private_key_pem.find("BEGIN PRIVATE KEY"), std::string::npos);
  EXPECT_NO_THROW(MakeServerTlsContext({pair.certificate_pem, pair.private_key_pem, ""}));
  auto not_after = certs::CertificateNotAfter(pair.certificate_pem);
  ASSERT_TRUE(not_after);
  auto days =
      std::chrono::duration_cast<std::chrono::hours>(*not_after - std::chrono::system_clock::now())
          .count() /
      24;
  EXPECT_GE(days, 364);
  EXPECT_LE(days, 366);
}

TEST(CertificatesTest, IssuesFromACa) {
  certs::CertificateSpec ca_spec;
  ca_spec.common_name = "test CA";
  certs::PemPair ca = certs::IssueCertificate(ca_spec);
  certs::CertificateSpec leaf;
  leaf.is_ca = false;
  leaf.client_auth = true;
  certs::PemPair cert = certs::IssueCertificate(leaf, &ca);
  EXPECT_NO_THROW(
      MakeServerTlsContext({cert.certificate_pem, cert.private_key_pem, ca.certificate_pem}));
}

TEST(CertificatesTest, BadInputsThrow) {
  certs::CertificateSpec spec;
  spec.ip_addresses = {"not-an-ip"};
  EXPECT_THROW(certs::IssueCertificate(spec), std::runtime_error);
  certs::PemPair bogus{"nope", "nope"};
  EXPECT_THROW(certs::IssueCertificate(certs::CertificateSpec{}, &bogus), std::runtime_error);
  EXPECT_FALSE(certs::CertificateNotAfter("garbage"));
}

TEST(TlsContextTest, RefusesMismatchedOrBrokenMaterial) {
  certs::PemPair a = certs::DevelopmentCertificate();
  certs::PemPair b = certs::DevelopmentCertificate();
  EXPECT_THROW(MakeServerTlsContext({a.certificate_pem, b.private_key_pem, ""}),
               std::runtime_error);
  EXPECT_THROW(MakeServerTlsContext({"garbage", a.private_key_pem, ""}), std::runtime_error);
  EXPECT_THROW(MakeServerTlsContext({a.certificate_pem, "garbage", ""}), std::runtime_error);
  EXPECT_THROW(MakeServerTlsContext({a.certificate_pem, a.private_key_pem, "garbage"}),
               std::runtime_error);
}

// A watcher that reports a scripted sequence of changes.
class ScriptedWatcher : public common::FileWatcher {
 public:
  explicit ScriptedWatcher(std::deque<std::optional<common::FileChange>> script)
      : script_(std::move(script)) {}
  std::optional<common::FileChange> Poll() override {
    if (script_.empty()) return std::nullopt;
    auto next = std::move(script_.front());
    script_.pop_front();
    return next;
  }

 private:
  std::deque<std::optional<common::FileChange>> script_;
};

TEST(ReloaderTest, AppliesGoodChangesAndRefusesBadOnes) {
  std::deque<std::optional<common::FileChange>> script;
  script.push_back(std::nullopt);                                         // nothing changed
  script.push_back(common::FileChange{{"good-1"}, ""});                   // applied
  script.push_back(common::FileChange{{"bad"}, ""});                      // apply throws
  script.push_back(common::FileChange{{}, "policy.yaml: No such file"});  // unreadable
  script.push_back(common::FileChange{{"good-2"}, ""});
  std::string in_force = "initial";
  std::vector<bool> reports;
  common::Reloader reloader(
      "test", std::make_unique<ScriptedWatcher>(std::move(script)),
      [&](const std::vector<std::string>& c) {
        if (c.at(0) == "bad") throw std::runtime_error("does not validate");
        in_force = c[0];
      },
      [&](bool ok) { reports.push_back(ok); });
  EXPECT_EQ(reloader.Check(), std::nullopt);
  EXPECT_EQ(reloader.Check(), std::optional<bool>(true));
  EXPECT_EQ(in_force, "good-1");
  EXPECT_EQ(reloader.Check(), std::optional<bool>(false));
  EXPECT_EQ(in_force, "good-1");
  EXPECT_EQ(reloader.Check(), std::optional<bool>(false));
  EXPECT_EQ(in_force, "good-1");
  EXPECT_EQ(reloader.Check(), std::optional<bool>(true));
  EXPECT_EQ(in_force, "good-2");
  EXPECT_EQ(reports, (std::vector<bool>{true, false, false, true}));
}

TEST(PollingFileWatcherTest, ReportsContentChangesOnly) {
  testing::TempDir dir;
  std::string path = dir.Write("a.txt", "one");
  common::PollingFileWatcher watcher({path});
  EXPECT_FALSE(watcher.Poll());  // as it was at construction
  dir.Write("a.txt", "two");
  auto change = watcher.Poll();
  ASSERT_TRUE(change);
  EXPECT_EQ(change->contents, std::vector<std::string>{"two"});
  EXPECT_FALSE(watcher.Poll());
  dir.Write("a.txt", "two");  // new inode, same bytes
  EXPECT_FALSE(watcher.Poll());
  std::filesystem::remove(path);
  change = watcher.Poll();
  ASSERT_TRUE(change);
  EXPECT_NE(change->error, "");
  EXPECT_FALSE(watcher.Poll());  // the same missing file is reported once
  dir.Write("a.txt", "two");
  change = watcher.Poll();
  ASSERT_TRUE(change);
  EXPECT_EQ(change->contents, std::vector<std::string>{"two"});
}

TEST(PollingFileWatcherTest, FollowsTheKubernetesDataSymlinkSwap) {
  // A mounted ConfigMap: key -> ..data/key, ..data -> ..2024_01_01_v1; an update writes a new
  // timestamped directory and renames a new ..data symlink over the old one.
  testing::TempDir dir;
  std::filesystem::create_directory(dir.File("..v1"));
  std::filesystem::create_directory(dir.File("..v2"));
  testing::TempDir unused;
  {
    std::FILE* f = std::fopen(dir.File("..v1/policy.yaml").c_str(), "w");
    std::fputs("version: 1", f);
    std::fclose(f);
    f = std::fopen(dir.File("..v2/policy.yaml").c_str(), "w");
    std::fputs("version: 2", f);
    std::fclose(f);
  }
  std::filesystem::create_directory_symlink("..v1", dir.File("..data"));
  std::filesystem::create_symlink("..data/policy.yaml", dir.File("policy.yaml"));
  common::PollingFileWatcher watcher({dir.File("policy.yaml")});
  EXPECT_FALSE(watcher.Poll());
  std::filesystem::create_directory_symlink("..v2", dir.File("..data_tmp"));
  std::filesystem::rename(dir.File("..data_tmp"), dir.File("..data"));
  auto change = watcher.Poll();
  ASSERT_TRUE(change);
  EXPECT_EQ(change->contents, std::vector<std::string>{"version: 2"});
}

TEST(MetricsTest, ServedInTheTextFormatWithEveryFamily) {
  prometheus::Registry registry;
  AdmissionMetrics metrics(registry);
  PolicyMetrics policy_metrics(registry);
  ServerMetrics server_metrics(registry, {"webhook"});
  ProcessCollector process;
  metrics.RecordAdmission("Deployment", "CREATE", Decision::kDenied, std::chrono::microseconds(70));
  metrics.RecordAdmission("SomethingOdd", "PATCH", Decision::kAllowed,
                          std::chrono::milliseconds(2));
  metrics.RecordFinding("stratum-url", "deny");
  policy_metrics.RecordPolicyReload(false);
  policy_metrics.SetPolicyRules(8);
  metrics.SetCertificateExpiry(std::chrono::system_clock::from_time_t(2'000'000'000));
  MetricsHandler handler({&registry, &process});
  HttpRequest request{http::verb::get, "/metrics", 11};
  HttpResponse response = handler.Handle(request);
  ASSERT_EQ(response.result(), http::status::ok);
  std::string error;
  auto parsed = testing::ParsePrometheusText(response.body(), &error);
  ASSERT_TRUE(parsed) << error;
  EXPECT_EQ(
      parsed->Value("stratum_guard_admission_requests_total",
                    {{"kind", "Deployment"}, {"operation", "CREATE"}, {"decision", "denied"}}),
      1);
  // Request-controlled label values are bounded.
  EXPECT_EQ(parsed->Value("stratum_guard_admission_requests_total",
                          {{"kind", "other"}, {"operation", "other"}}),
            1);
  EXPECT_EQ(parsed->Value("stratum_guard_admission_duration_seconds_bucket",
                          {{"kind", "Deployment"}, {"le", "0.0001"}}),
            1);
  EXPECT_EQ(parsed->Value("stratum_guard_admission_duration_seconds_bucket",
                          {{"kind", "Deployment"}, {"le", "5e-05"}}),
            0);
  // The buckets resolve a webhook answering in microseconds and reach the longest timeout.
  EXPECT_EQ(parsed->Value("stratum_guard_admission_duration_seconds_bucket",
                          {{"kind", "Deployment"}, {"le", "5e-06"}}),
            0);
  EXPECT_EQ(parsed->Value("stratum_guard_admission_duration_seconds_bucket",
                          {{"kind", "Deployment"}, {"le", "30"}}),
            1);
  EXPECT_EQ(
      parsed->Value("stratum_guard_findings_total", {{"rule", "stratum-url"}, {"action", "deny"}}),
      1);
  EXPECT_EQ(parsed->Value("stratum_guard_policy_reloads_total", {{"result", "error"}}), 1);
  EXPECT_EQ(parsed->Value("stratum_guard_policy_reloads_total", {{"result", "success"}}), 0);
  EXPECT_EQ(parsed->Value("stratum_guard_policy_rules"), 8);
  EXPECT_EQ(parsed->Value("stratum_guard_tls_certificate_expiry_timestamp_seconds"), 2e9);
  EXPECT_EQ(parsed->Value("stratum_guard_build_info"), 1);
  EXPECT_GT(parsed->Value("process_resident_memory_bytes"), 0);
  EXPECT_GT(parsed->Value("process_open_fds"), 0);
  EXPECT_GT(parsed->Value("process_start_time_seconds"), 1.6e9);
  EXPECT_TRUE(parsed->Sum("process_cpu_seconds_total"));
  EXPECT_EQ(parsed->types["process_cpu_seconds_total"], "counter");
  EXPECT_EQ(parsed->types["stratum_guard_admission_duration_seconds"], "histogram");
}

// The server keeps the series it looked up (SeriesCache): every combination of labels must
// still land in its own series, from any number of threads.
TEST(MetricsTest, EachLabelCombinationCountsInItsOwnSeriesFromManyThreads) {
  prometheus::Registry registry;
  AdmissionMetrics metrics(registry);
  ServerMetrics server_metrics(registry, {"webhook", "metrics"});
  const std::vector<std::string_view> kinds = {"Pod", "Deployment", "CronJob", "Widget", ""};
  const std::vector<std::string_view> operations = {"CREATE", "UPDATE", "DELETE", "CONNECT",
                                                    "PATCH"};
  const std::vector<Decision> decisions = {Decision::kAllowed, Decision::kDenied, Decision::kWarned,
                                           Decision::kError};
  const std::vector<unsigned> codes = {200, 400, 413, 503, 418};
  constexpr int kThreads = 4;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      // Each thread records combination i (i + 1) times, in its own order.
      for (std::size_t i = 0; i < kinds.size() * operations.size() * decisions.size(); ++i) {
        std::size_t j = (i * 7 + static_cast<std::size_t>(t) * 13) %
                        (kinds.size() * operations.size() * decisions.size());
        std::size_t k = j / (operations.size() * decisions.size());
        std::size_t o = (j / decisions.size()) % operations.size();
        std::size_t d = j % decisions.size();
        for (std::size_t n = 0; n <= j; ++n) {
          metrics.RecordAdmission(kinds[k], operations[o], decisions[d],
                                  std::chrono::microseconds(10));
        }
      }
      for (std::size_t c = 0; c < codes.size(); ++c) {
        for (std::size_t n = 0; n <= c; ++n) {
          server_metrics.RecordHttpResponse("webhook", codes[c]);
          server_metrics.RecordHttpResponse("metrics", codes[codes.size() - 1 - c]);
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();

  MetricsHandler handler({&registry});
  HttpRequest request{http::verb::get, "/metrics", 11};
  std::string error;
  auto parsed = testing::ParsePrometheusText(handler.Handle(request).body(), &error);
  ASSERT_TRUE(parsed) << error;
  for (std::size_t j = 0; j < kinds.size() * operations.size() * decisions.size(); ++j) {
    std::size_t k = j / (operations.size() * decisions.size());
    std::size_t o = (j / decisions.size()) % operations.size();
    std::size_t d = j % decisions.size();
    if (k >= 3 || o == 4) continue;  // the "other" series add up several combinations
    EXPECT_EQ(parsed->Value("stratum_guard_admission_requests_total",
                            {{"kind", std::string(kinds[k])},
                             {"operation", std::string(operations[o])},
                             {"decision", std::string(DecisionName(decisions[d]))}}),
              kThreads * static_cast<double>(j + 1))
        << kinds[k] << " " << operations[o] << " " << DecisionName(decisions[d]);
  }
  // "Widget" and "" are both "other": every operation and decision of k = 3 and 4.
  double other = 0;
  for (std::size_t j = 0; j < kinds.size() * operations.size() * decisions.size(); ++j) {
    if (j / (operations.size() * decisions.size()) >= 3) other += static_cast<double>(j + 1);
  }
  EXPECT_EQ(parsed->Value("stratum_guard_admission_requests_total", {{"kind", "other"}}),
            kThreads * other);
  EXPECT_EQ(
      parsed->Value("stratum_guard_admission_duration_seconds_count", {{"kind", "Pod"}}),
      kThreads * [&] {
        double n = 0;
        for (std::size_t j = 0; j < operations.size() * decisions.size(); ++j) n += j + 1;
        return n;
      }());
  for (std::size_t c = 0; c < codes.size(); ++c) {
    EXPECT_EQ(parsed->Value("stratum_guard_http_responses_total",
                            {{"listener", "webhook"}, {"code", std::to_string(codes[c])}}),
              kThreads * static_cast<double>(c + 1))
        << codes[c];
    EXPECT_EQ(parsed->Value("stratum_guard_http_responses_total",
                            {{"listener", "metrics"}, {"code", std::to_string(codes[c])}}),
              kThreads * static_cast<double>(codes.size() - c))
        << codes[c];
  }
}

TEST(MetricsTest, MetricsHandlerRoutes) {
  prometheus::Registry registry;
  MetricsHandler handler({&registry});
  HttpRequest healthz{http::verb::get, "/healthz", 11};
  EXPECT_EQ(handler.Handle(healthz).result(), http::status::ok);
  HttpRequest other{http::verb::get, "/nope", 11};
  EXPECT_EQ(handler.Handle(other).result(), http::status::not_found);
  HttpRequest post{http::verb::post, "/metrics", 11};
  EXPECT_EQ(handler.Handle(post).result(), http::status::method_not_allowed);
}

TEST(ProcessCollectorTest, LeavesOutWhatItCannotRead) {
  ProcessCollector collector("/nonexistent/self", "/nonexistent/stat");
  for (const auto& family : collector.Collect()) {
    EXPECT_EQ(family.name, "process_max_fds");  // from getrlimit, not /proc
  }
}

}  // namespace
}  // namespace stratum_guard::server
