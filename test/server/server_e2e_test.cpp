// End-to-end tests: the real stratum-guard binary, started with `serve` on ephemeral loopback
// ports, spoken to over real TLS. Each test starts its own server.
#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "certs/certificates.h"
#include "common/files.h"
#include "policy/policy.h"
#include "test/server/review_fixtures.h"
#include "test/testing/child_process.h"
#include "test/testing/eventually.h"
#include "test/testing/prometheus_text.h"
#include "test/testing/temp_dir.h"
#include "test/testing/tls_client.h"

namespace stratum_guard::server {
namespace {

namespace http = boost::beast::http;
using namespace std::chrono_literals;
using fixtures::Containers;
using fixtures::Object;
using fixtures::Review;
using fixtures::ReviewSpec;
using testing::ChildProcess;
using testing::ClientTls;
using testing::Eventually;
using testing::HttpClient;
using testing::Response;
using testing::TempDir;

// How many times slower the sanitizer trees (`make tsan`, `make sanitize`) run the binary and
// this test: a latency bound measured for the normal build is scaled by it. Only for latency:
// what is answered, and how, is checked the same in every build.
#if defined(__SANITIZE_THREAD__)
constexpr double kSanitizerSlowdown = 10;
#elif defined(__SANITIZE_ADDRESS__)
constexpr double kSanitizerSlowdown = 3;
#else
constexpr double kSanitizerSlowdown = 1;
#endif

// A running `stratum-guard serve`.
struct Served {
  std::unique_ptr<TempDir> dir = std::make_unique<TempDir>();
  std::unique_ptr<ChildProcess> process;
  unsigned short port = 0;
  unsigned short metrics_port = 0;
  ClientTls tls;

  std::unique_ptr<HttpClient> Connect() const { return HttpClient::Tls("127.0.0.1", port, tls); }
  Response Post(std::string body, std::string_view target = "/validate") const {
    return testing::TlsRequest(port, tls, http::verb::post, target, std::move(body));
  }
  testing::Exposition Scrape() const {
    Response r = testing::PlainGet(metrics_port, "/metrics");
    EXPECT_EQ(r.result_int(), 200u);
    std::string error;
    auto parsed = testing::ParsePrometheusText(r.body(), &error);
    EXPECT_TRUE(parsed) << error;
    return parsed.value_or(testing::Exposition{});
  }
};

// Starts the binary. Without tls_files, in development mode with the CA written to the
// temporary directory.
std::unique_ptr<Served> Serve(std::vector<std::string> extra = {},
                              std::unique_ptr<TempDir> dir = nullptr) {
  auto served = std::make_unique<Served>();
  if (dir) served->dir = std::move(dir);
  std::vector<std::string> args = {"serve",
                                   "--listen",
                                   "127.0.0.1:0",
                                   "--metrics-listen",
                                   "127.0.0.1:0",
                                   "--dev-cert-dir",
                                   served->dir->File("dev"),
                                   "--workers",
                                   "2",
                                   "--docs-url",
                                   "https://docs.example/POLICY.md"};
  args.insert(args.end(), extra.begin(), extra.end());
  served->process = std::make_unique<ChildProcess>(STRATUM_GUARD_BINARY, args);
  served->port = served->process->WaitForListening("webhook");
  served->metrics_port = served->process->WaitForListening("metrics");
  if (served->port == 0 || served->metrics_port == 0) {
    ADD_FAILURE() << "the server did not start";
    return served;
  }
  if (auto ca = common::ReadFile(served->dir->File("dev/ca.pem"), nullptr))
    served->tls.ca_pem = *ca;
  return served;
}

double ReservedBodyBytes(const Served& s) {
  return s.Scrape().Value("stratum_guard_reserved_body_bytes");
}

rapidjson::Document Json(const std::string& text) {
  rapidjson::Document doc;
  doc.Parse(text.c_str());
  EXPECT_FALSE(doc.HasParseError()) << text;
  return doc;
}

// --- Reviews --------------------------------------------------------------------------------

TEST(ServerE2E, AnswersAllowedDeniedAndWarnedInBothApiVersions) {
  auto s = Serve();
  ASSERT_NE(s->port, 0);
  for (std::string_view version : {fixtures::kV1, fixtures::kV1beta1}) {
    SCOPED_TRACE(std::string(version));
    Response allowed = s->Post(fixtures::DeploymentReview("nginx:1.25", "[]", version, "u-allow"));
    ASSERT_EQ(allowed.result_int(), 200u);
    EXPECT_EQ(allowed[http::field::content_type], "application/json");
    auto a = Json(allowed.body());
    EXPECT_EQ(std::string(a["apiVersion"].GetString()), version);
    EXPECT_STREQ(a["kind"].GetString(), "AdmissionReview");
    EXPECT_STREQ(a["response"]["uid"].GetString(), "u-allow");
    EXPECT_TRUE(a["response"]["allowed"].GetBool());

    Response denied =
        s->Post(fixtures::DeploymentReview("busybox", fixtures::kStratumArgs, version, "u-deny"));
    ASSERT_EQ(denied.result_int(), 200u);
    auto d = Json(denied.body());
    EXPECT_EQ(std::string(d["apiVersion"].GetString()), version);
    EXPECT_STREQ(d["response"]["uid"].GetString(), "u-deny");
    EXPECT_FALSE(d["response"]["allowed"].GetBool());
    EXPECT_EQ(d["response"]["status"]["code"].GetInt(), 403);
    EXPECT_STREQ(d["response"]["status"]["reason"].GetString(), "Forbidden");
    std::string message = d["response"]["status"]["message"].GetString();
    EXPECT_EQ(message.rfind("stratum-guard denied Deployment default/web: container \"app\" ", 0),
              0u)
        << message;
    EXPECT_NE(message.find("\"stratum+tcp://pool.example:3333\" (rule stratum-url). See "
                           "https://docs.example/POLICY.md#stratum-url"),
              std::string::npos)
        << message;

    Response warned =
        s->Post(fixtures::DeploymentReview("busybox", fixtures::kMinerFlagArgs, version, "u-warn"));
    ASSERT_EQ(warned.result_int(), 200u);
    auto w = Json(warned.body());
    EXPECT_STREQ(w["response"]["uid"].GetString(), "u-warn");
    EXPECT_TRUE(w["response"]["allowed"].GetBool());
    ASSERT_TRUE(w["response"].HasMember("warnings"));
    ASSERT_EQ(w["response"]["warnings"].Size(), 1u);
    EXPECT_NE(std::string(w["response"]["warnings"][0].GetString()).find("(rule miner-flag)"),
              std::string::npos);
  }
  // One structured log line per decision.
  auto line = s->process->WaitForLog("admission",
                                     {{"uid", "u-deny"},
                                      {"decision", "denied"},
                                      {"kind", "Deployment"},
                                      {"namespace", "default"},
                                      {"name", "web"},
                                      {"operation", "CREATE"},
                                      {"user", "dev"},
                                      {"enforcement", "enforce"}},
                                     5s);
  ASSERT_TRUE(line);
  rapidjson::Document doc;
  ASSERT_TRUE(testing::ParseLogLine(*line, &doc));
  EXPECT_TRUE(doc["duration_us"].IsInt64());
  // Every finding's rule id: the URL's port is also audited as a pool port.
  EXPECT_NE(std::string(doc["rules"].GetString()).find("stratum-url"), std::string::npos) << *line;
  EXPECT_TRUE(s->process->WaitForLog("admission", {{"uid", "u-warn"}, {"decision", "warned"}}, 5s));
}

// The audit trail (denials, warnings, exemptions) is logged at info; a clean allowed review,
// most of a healthy cluster's traffic, only at debug. Both reviews go over one connection, so
// one worker logs them in order: once the denial's line is out, the allowed one would be too.
TEST(ServerE2E, ACleanAllowedReviewIsLoggedAtDebugOnly) {
  for (std::string level : {"info", "debug"}) {
    SCOPED_TRACE("--log-level " + level);
    auto s = Serve({"--log-level", level});
    ASSERT_NE(s->port, 0);
    auto client = s->Connect();
    ASSERT_EQ(client
                  ->Post("/validate",
                         fixtures::DeploymentReview("nginx:1.25", "[]", fixtures::kV1, "u-clean"))
                  .result_int(),
              200u);
    ASSERT_EQ(client
                  ->Post("/validate", fixtures::DeploymentReview("busybox", fixtures::kStratumArgs,
                                                                 fixtures::kV1, "u-denied"))
                  .result_int(),
              200u);
    ASSERT_TRUE(s->process->WaitForLog("admission", {{"uid", "u-denied"}, {"level", "info"}}, 5s));
    std::vector<std::string> clean;
    for (const std::string& line : s->process->LogsWithMsg("admission")) {
      if (line.find("\"u-clean\"") != std::string::npos) clean.push_back(line);
    }
    if (level == "info") {
      EXPECT_TRUE(clean.empty()) << clean.front();
    } else {
      ASSERT_EQ(clean.size(), 1u);
      EXPECT_NE(clean[0].find("\"level\":\"debug\""), std::string::npos) << clean[0];
      EXPECT_NE(clean[0].find("\"decision\":\"allowed\""), std::string::npos) << clean[0];
    }
  }
}

TEST(ServerE2E, JudgesEveryWorkloadKindAndAllowsOthers) {
  auto s = Serve();
  ASSERT_NE(s->port, 0);
  auto client = s->Connect();
  for (std::string_view kind : policy::PodTemplateKinds()) {
    ReviewSpec spec;
    spec.kind = kind;
    spec.object = Object(kind, Containers("xmrig/xmrig:6.21"));
    Response r = client->Post("/validate?timeout=10s", Review(spec));
    ASSERT_EQ(r.result_int(), 200u) << kind;
    auto doc = Json(r.body());
    EXPECT_FALSE(doc["response"]["allowed"].GetBool()) << kind;
    std::string message = doc["response"]["status"]["message"].GetString();
    EXPECT_NE(message.find("denied " + std::string(kind) + " default/web"), std::string::npos)
        << message;
    spec.object = Object(kind, Containers("nginx:1.25"));
    r = client->Post("/validate", Review(spec));
    EXPECT_TRUE(Json(r.body())["response"]["allowed"].GetBool()) << kind;
  }
  ReviewSpec service;
  service.kind = "Service";
  service.object = Object("Service", "");
  Response r = client->Post("/validate", Review(service));
  EXPECT_TRUE(Json(r.body())["response"]["allowed"].GetBool());
  auto metrics = s->Scrape();
  EXPECT_EQ(metrics.Value("stratum_guard_admission_requests_total",
                          {{"kind", "other"}, {"decision", "allowed"}}),
            1);
  EXPECT_EQ(metrics.Value("stratum_guard_admission_requests_total",
                          {{"kind", "CronJob"}, {"decision", "denied"}}),
            1);
}

// --- Connections ----------------------------------------------------------------------------

TEST(ServerE2E, HundredRequestsOnOneKeepAliveConnection) {
  auto s = Serve();
  ASSERT_NE(s->port, 0);
  auto client = s->Connect();
  for (int i = 0; i < 100; ++i) {
    bool deny = i % 2 == 0;
    std::string uid = "ka-" + std::to_string(i);
    Response r = client->Post(
        "/validate",
        fixtures::DeploymentReview(deny ? "xmrig/xmrig" : "nginx", "[]", fixtures::kV1, uid));
    ASSERT_EQ(r.result_int(), 200u) << i;
    ASSERT_TRUE(r.keep_alive()) << i;
    auto doc = Json(r.body());
    EXPECT_EQ(std::string(doc["response"]["uid"].GetString()), uid);
    EXPECT_EQ(doc["response"]["allowed"].GetBool(), !deny);
  }
  auto metrics = s->Scrape();
  EXPECT_EQ(metrics.Value("stratum_guard_admission_requests_total", {{"kind", "Deployment"}}), 100);
  EXPECT_EQ(metrics.Value("stratum_guard_open_connections", {{"listener", "webhook"}}), 1);
}

TEST(ServerE2E, ManyConnectionsAtOnce) {
  auto s = Serve();
  ASSERT_NE(s->port, 0);
  constexpr int kThreads = 50;
  constexpr int kRequests = 10;
  std::atomic<int> answered{0};
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      try {
        auto client = s->Connect();
        for (int i = 0; i < kRequests; ++i) {
          std::string uid = "c-" + std::to_string(t) + "-" + std::to_string(i);
          Response r = client->Post(
              "/validate",
              fixtures::DeploymentReview("busybox", fixtures::kStratumArgs, fixtures::kV1, uid));
          rapidjson::Document doc;
          doc.Parse(r.body().c_str());
          if (r.result_int() == 200 && !doc.HasParseError() &&
              uid == doc["response"]["uid"].GetString() && !doc["response"]["allowed"].GetBool()) {
            ++answered;
          } else {
            ++wrong;
          }
        }
      } catch (const std::exception&) {
        ++wrong;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_EQ(answered.load(), kThreads * kRequests);
  EXPECT_EQ(s->Scrape().Value("stratum_guard_admission_requests_total", {{"decision", "denied"}}),
            kThreads * kRequests);
}

// A connection in its body waits on its client like one in its headers: at the cap, one whose
// body stalled is shed for a new connection (before, it counted as serving a request, and the
// idle connection that had served one, the API server's kind, was shed instead). Refusing a
// newcomer when every connection serves is ConnectionTrackerTest's.
TEST(ServerE2E, AtTheCapAStalledBodyIsShedBeforeAnIdleConnectionThatServed) {
  auto s = Serve({"--max-connections", "3", "--min-body-rate", "0"});
  ASSERT_NE(s->port, 0);
  auto idle = s->Connect();
  EXPECT_EQ(idle->Get("/healthz").result_int(), 200u);  // then idle: the oldest wait
  auto first = s->Connect();
  auto second = s->Connect();
  const std::string half(1000, ' ');
  for (HttpClient* client : {first.get(), second.get()}) {
    client->WriteRaw(
        "POST /validate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        "Content-Length: 2000\r\n\r\n" +
        half);
  }
  // Each holds at least its 1000 bytes: both bodies have begun.
  ASSERT_TRUE(Eventually([&] { return ReservedBodyBytes(*s) >= 2000; }));
  auto third = s->Connect();
  EXPECT_EQ(third->Get("/healthz").result_int(), 200u);
  // Which body stalled longer depends on when the server read it (ConnectionTrackerTest pins
  // the order): one is shed, the other is answered once its body comes.
  int answered = 0;
  int cut = 0;
  for (HttpClient* client : {first.get(), second.get()}) {
    try {
      client->WriteRaw(half);
      EXPECT_EQ(client->ReadResponse().result_int(), 400u);
      ++answered;
    } catch (const std::exception&) {
      ++cut;
    }
  }
  EXPECT_EQ(answered, 1);
  EXPECT_EQ(cut, 1);
  EXPECT_EQ(idle->Get("/healthz").result_int(), 200u);  // kept
  auto metrics = s->Scrape();
  EXPECT_EQ(metrics.Value("stratum_guard_connections_shed_total", {{"listener", "webhook"}}), 1);
  EXPECT_EQ(metrics.Value("stratum_guard_connections_rejected_total", {{"listener", "webhook"}}),
            0);
  EXPECT_EQ(metrics.Value("stratum_guard_open_connections", {{"listener", "webhook"}}), 3);
}

// --- Bad input ------------------------------------------------------------------------------

TEST(ServerE2E, EveryBadInputGetsItsStatusAndTheServerGoesOn) {
  auto s = Serve({"--max-body-bytes", "65536"});
  ASSERT_NE(s->port, 0);
  struct Case {
    std::string name;
    http::verb method;
    std::string target;
    std::string body;
    std::string content_type;
    unsigned status;
    std::string error_part;
  };
  const std::string review = fixtures::DeploymentReview("nginx");
  const Case cases[] = {
      {"unknown path", http::verb::post, "/mutate", review, "application/json", 404,
       "no such path"},
      {"GET validate", http::verb::get, "/validate", "", "", 405, "POST"},
      {"PUT validate", http::verb::put, "/validate", review, "application/json", 405, "POST"},
      {"POST healthz", http::verb::post, "/healthz", "{}", "application/json", 405, "GET"},
      {"no content type", http::verb::post, "/validate", review, "", 415, "application/json"},
      {"text content type", http::verb::post, "/validate", review, "text/plain", 415,
       "application/json"},
      {"malformed JSON", http::verb::post, "/validate", "{\"apiVersion\":", "application/json", 400,
       "malformed JSON"},
      {"empty body", http::verb::post, "/validate", "", "application/json", 400, "malformed"},
      {"too deep", http::verb::post, "/validate", std::string(200, '[') + std::string(200, ']'),
       "application/json", 400, "deeper than 128"},
      {"not a review", http::verb::post, "/validate", R"({"kind":"Pod","apiVersion":"v1"})",
       "application/json", 400, "apiVersion"},
      {"wrong version", http::verb::post, "/validate",
       R"({"apiVersion":"admission.k8s.io/v2","kind":"AdmissionReview","request":{"uid":"a"}})",
       "application/json", 400, "apiVersion"},
      {"no uid", http::verb::post, "/validate",
       R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{}})",
       "application/json", 400, "uid"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    auto client = s->Connect();
    Response r = client->Send(c.method, c.target, c.body, c.content_type);
    EXPECT_EQ(r.result_int(), c.status);
    if (r.result_int() != 405 || c.method != http::verb::get) {
      auto doc = Json(r.body());
      ASSERT_TRUE(doc.IsObject() && doc.HasMember("error"));
      EXPECT_NE(std::string(doc["error"].GetString()).find(c.error_part), std::string::npos)
          << r.body();
    }
    // Still serving, on a new connection.
    Response ok = s->Post(review);
    EXPECT_EQ(ok.result_int(), 200u);
  }
  // Over the body limit: answered 413 from the headers alone, and that connection closes. (With
  // the body sent too: ARefusedBodyStillGetsItsAnswer.)
  {
    auto client = s->Connect();
    client->WriteRaw(
        "POST /validate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        "Content-Length: 70000\r\n\r\n");
    Response r = client->ReadResponse();
    EXPECT_EQ(r.result_int(), 413u);
    EXPECT_NE(r.body().find("over 65536 bytes"), std::string::npos) << r.body();
    EXPECT_FALSE(r.keep_alive());
    EXPECT_TRUE(client->ClosedByPeerWithin(5s));
  }
  // Garbage instead of HTTP inside TLS: 400 and that connection closes.
  auto client = s->Connect();
  client->WriteRaw("THIS IS NOT HTTP\r\n\r\n");
  Response r = client->ReadResponse();
  EXPECT_EQ(r.result_int(), 400u);
  EXPECT_TRUE(client->ClosedByPeerWithin(5s));
  EXPECT_EQ(s->Post(review).result_int(), 200u);
  // The 413 was answered without reading the body, and counted.
  auto metrics = s->Scrape();
  EXPECT_EQ(metrics.Value("stratum_guard_http_responses_total",
                          {{"listener", "webhook"}, {"code", "413"}}),
            1);
  EXPECT_GE(metrics.Value("stratum_guard_admission_requests_total", {{"decision", "error"}}), 7);
}

TEST(ServerE2E, SlowClientsAreCutByTheTimeouts) {
  auto s = Serve({"--header-timeout", "300ms", "--idle-timeout", "600ms"});
  ASSERT_NE(s->port, 0);
  // Headers that never end.
  auto slow = s->Connect();
  slow->WriteRaw("POST /validate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n");
  EXPECT_TRUE(slow->ClosedByPeerWithin(10s));
  // A body that never comes.
  auto slow_body = s->Connect();
  slow_body->WriteRaw("POST /validate HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{");
  EXPECT_TRUE(slow_body->ClosedByPeerWithin(10s));
  // A connection that never says anything after the handshake.
  auto silent = s->Connect();
  EXPECT_TRUE(silent->ClosedByPeerWithin(10s));
  // A keep-alive connection left idle after a request.
  auto idle = s->Connect();
  EXPECT_EQ(idle->Get("/healthz").result_int(), 200u);
  EXPECT_TRUE(idle->ClosedByPeerWithin(10s));
  // A TCP connection that never starts the handshake.
  auto no_handshake = HttpClient::Plain("127.0.0.1", s->port);
  EXPECT_TRUE(no_handshake->ClosedByPeerWithin(10s));
  EXPECT_EQ(s->Post(fixtures::DeploymentReview("nginx")).result_int(), 200u);
}

// --- Hostile HTTP (issue 15) -----------------------------------------------------------------

constexpr std::string_view kChunkedPost =
    "POST /validate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    "Transfer-Encoding: chunked\r\n\r\n";

// Reads the answer to a request the server refuses: `status`, an error naming `error_part`,
// and the connection closed after it.
void ExpectRefusal(HttpClient& client, unsigned status, std::string_view error_part) {
  Response r = client.ReadResponse();
  EXPECT_EQ(r.result_int(), status);
  EXPECT_NE(r.body().find(error_part), std::string::npos) << r.body();
  EXPECT_FALSE(r.keep_alive());
  EXPECT_TRUE(client.ClosedByPeerWithin(10s));
}

// Sends `head` and then `filler` bytes of a message part that never ends, and expects the
// server to refuse it without waiting for its end: the answer comes while the part is still
// open, so the server stopped buffering after at most its read-buffer cap (32 KiB), not after
// the megabyte sent or the one still to come. Before the cap, it read on until the header timeout.
void ExpectRefusedWhileOpen(HttpClient& client, std::string_view head, std::size_t filler) {
  client.WriteRaw(head);
  client.WriteRaw(std::string(filler, 'a'));
  ExpectRefusal(client, 400, "chunk header or the trailer is over 32768 bytes");
}

TEST(ServerE2E, ChunkExtensionsAndTrailersAreBoundedOnBothPorts) {
  auto s = Serve({"--header-timeout", "3s"});
  ASSERT_NE(s->port, 0);
  const std::string review = fixtures::DeploymentReview("nginx");
  {
    SCOPED_TRACE("a chunked review with a small extension and trailer is judged");
    auto client = s->Connect();
    char size[32];
    std::snprintf(size, sizeof size, "%zx", review.size());
    client->WriteRaw(std::string(kChunkedPost) + size + ";name=value\r\n" + review +
                     "\r\n0\r\nX-Trailer: t\r\n\r\n");
    EXPECT_EQ(client->ReadResponse().result_int(), 200u);
  }
  {
    SCOPED_TRACE("a chunk extension that never ends, over TLS");
    auto client = s->Connect();
    ExpectRefusedWhileOpen(*client, std::string(kChunkedPost) + "10;ext=", 1 << 20);
  }
  {
    SCOPED_TRACE("a trailer that never ends, over TLS");
    auto client = s->Connect();
    ExpectRefusedWhileOpen(*client,
                           std::string(kChunkedPost) + "2\r\n{}\r\n0\r\nX-Trailer: ", 1 << 20);
  }
  {
    SCOPED_TRACE("a chunk extension that never ends, on the metrics port");
    auto client = HttpClient::Plain("127.0.0.1", s->metrics_port);
    ExpectRefusedWhileOpen(*client,
                           "GET /metrics HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                           "10;ext=",
                           1 << 20);
  }
  EXPECT_EQ(s->Post(review).result_int(), 200u);
  EXPECT_EQ(s->Scrape().Value("stratum_guard_http_responses_total",
                              {{"listener", "webhook"}, {"code", "400"}}),
            2);
}

TEST(ServerE2E, TransferEncodingNotEndingInChunkedIsRefusedAndCloses) {
  auto s = Serve();
  ASSERT_NE(s->port, 0);
  for (std::string_view coding : {"gzip", "chunked, gzip"}) {
    SCOPED_TRACE(coding);
    auto client = s->Connect();
    // Before, the first request was answered with no body and the "body" as a second request.
    client->WriteRaw("GET /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: " +
                     std::string(coding) + "\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    ExpectRefusal(*client, 400, "Transfer-Encoding must end with chunked");
  }
  EXPECT_EQ(s->Post(fixtures::DeploymentReview("nginx")).result_int(), 200u);
}

TEST(ServerE2E, ARefusedBodyStillGetsItsAnswer) {
  auto s = Serve();
  ASSERT_NE(s->port, 0);
  // 24 MiB, more than the kernel buffers on both ends hold: the server must read what it
  // refused, or the client's writes fail on a reset (before, they did) and the 413 is lost.
  constexpr std::size_t kBody = 24 << 20;
  auto client = s->Connect();
  EXPECT_NO_THROW(client->WriteRaw(
      "POST /validate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: " +
      std::to_string(kBody) + "\r\n\r\n" + std::string(kBody, ' ')));
  ExpectRefusal(*client, 413, "over 8388608 bytes");
  EXPECT_EQ(s->Post(fixtures::DeploymentReview("nginx")).result_int(), 200u);
}

TEST(ServerE2E, AReviewOfMillionsOfSmallValuesIsRefusedWhileParsed) {
  auto s = Serve();
  ASSERT_NE(s->port, 0);
  // 8 MiB of "[0,0,...": 4 million values, which parsed whole took 128 MiB.
  std::string body = "[0";
  while (body.size() < (8u << 20) - 2) body += ",0";
  body += "]";
  Response r = s->Post(std::move(body));
  EXPECT_EQ(r.result_int(), 400u);
  EXPECT_NE(r.body().find("JSON has more than 524288 values"), std::string::npos) << r.body();
  EXPECT_EQ(s->Post(fixtures::DeploymentReview("nginx")).result_int(), 200u);
}

// Starts a request whose headers announce `length` bytes of body (0: chunked), and sends `sent`
// blanks of it: the server holds what came until the rest comes or the client is cut.
std::unique_ptr<HttpClient> HoldBody(const Served& s, std::size_t length, std::size_t sent = 0) {
  auto client = s.Connect();
  client->WriteRaw("POST /validate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" +
                   (length == 0 ? std::string("Transfer-Encoding: chunked")
                                : "Content-Length: " + std::to_string(length)) +
                   "\r\n\r\n" + std::string(sent, ' '));
  return client;
}

TEST(ServerE2E, BodiesInFlightShareOneBudgetAndTheOverflowIsRefused) {
  auto s = Serve({"--max-body-bytes", "600000", "--max-inflight-body-bytes", "1000000",
                  "--min-body-rate", "0"});
  ASSERT_NE(s->port, 0);
  const std::string review = fixtures::DeploymentReview("nginx");
  auto holder = HoldBody(*s, 600000, 500000);
  ASSERT_TRUE(Eventually([&] { return ReservedBodyBytes(*s) >= 500000; }));
  const double held = ReservedBodyBytes(*s);
  EXPECT_LE(held, 600000);  // what came, rounded up to the next growth, never past its length
  {
    SCOPED_TRACE("a second large body does not fit beside the first: 503 once it passes");
    auto refused = HoldBody(*s, 500000, 500000);
    Response r = refused->ReadResponse();
    EXPECT_EQ(r.result_int(), 503u);
    EXPECT_EQ(r[http::field::retry_after], "1");
    EXPECT_NE(r.body().find("--max-inflight-body-bytes 1000000"), std::string::npos) << r.body();
    EXPECT_FALSE(r.keep_alive());
  }
  {
    SCOPED_TRACE("a body on the metrics port draws from the same budget");
    auto metrics = HttpClient::Plain("127.0.0.1", s->metrics_port);
    metrics->WriteRaw("GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 60000\r\n\r\n" +
                      std::string(40000, ' '));
    EXPECT_TRUE(Eventually([&] { return ReservedBodyBytes(*s) >= held + 40000; }));
  }
  // A small review still fits, on a fresh connection and on the holder's neighbour.
  EXPECT_EQ(s->Post(review).result_int(), 200u);
  // The holder's body arrives: it is judged and its bytes go back to the budget.
  holder->WriteRaw(std::string(100000, ' '));
  EXPECT_EQ(holder->ReadResponse().result_int(), 400u);  // blanks are no JSON, but were read
  auto metrics = s->Scrape();
  EXPECT_EQ(metrics.Value("stratum_guard_body_budget_refusals_total", {{"listener", "webhook"}}),
            1);
  EXPECT_EQ(metrics.Value("stratum_guard_http_responses_total",
                          {{"listener", "webhook"}, {"code", "503"}}),
            1);
  auto again = HoldBody(*s, 500000, 500000);
  EXPECT_EQ(again->ReadResponse().result_int(), 400u);  // not 503: the budget was released
}

// The budget is held by the bytes that came, not by what headers announce (issue 15: four slow
// chunked requests reserved 8 MiB each from their headers and every review got 503 meanwhile).
TEST(ServerE2E, HeadersAloneHoldNoShareOfTheBodyBudget) {
  auto s = Serve({"--max-body-bytes", "600000", "--max-inflight-body-bytes", "1000000",
                  "--min-body-rate", "0"});
  ASSERT_NE(s->port, 0);
  const std::string review = fixtures::DeploymentReview("nginx");
  // Before, each of these reserved 600000 from its headers and the second was refused.
  auto announced = HoldBody(*s, 600000);
  auto chunked = HoldBody(*s, 0);
  auto another = HoldBody(*s, 600000);
  auto large = HoldBody(*s, 600000, 500000);
  ASSERT_TRUE(Eventually([&] { return ReservedBodyBytes(*s) >= 500000; }));
  {
    SCOPED_TRACE("a chunked review is judged beside them, its chunks reserved as they come");
    auto client = s->Connect();
    char size[32];
    std::snprintf(size, sizeof size, "%zx", review.size());
    client->WriteRaw(std::string(kChunkedPost) + size + "\r\n" + review + "\r\n0\r\n\r\n");
    EXPECT_EQ(client->ReadResponse().result_int(), 200u);
  }
  {
    SCOPED_TRACE("a chunked body that grows past the budget is refused at the chunk that does");
    const std::string chunk = "10000\r\n" + std::string(0x10000, ' ') + "\r\n";
    for (int i = 0; i < 10; ++i) chunked->WriteRaw(chunk);  // 640 KiB: over the 500 KB left
    Response r = chunked->ReadResponse();
    EXPECT_EQ(r.result_int(), 503u);
    EXPECT_NE(r.body().find("--max-inflight-body-bytes"), std::string::npos) << r.body();
  }
  large->WriteRaw(std::string(100000, ' '));
  EXPECT_EQ(large->ReadResponse().result_int(), 400u);
  // Their headers waited all along; now each body comes whole and fits.
  for (HttpClient* client : {announced.get(), another.get()}) {
    client->WriteRaw(std::string(600000, ' '));
    EXPECT_EQ(client->ReadResponse().result_int(), 400u);
  }
  EXPECT_TRUE(Eventually([&] { return ReservedBodyBytes(*s) == 0; }));
}

// Writes the body of a request one `piece` every `pause` until a write fails on the connection
// the server closed; the time the server let it run (plus a pause or two for the reset).
std::chrono::milliseconds TrickleUntilCut(HttpClient& client, std::string_view piece,
                                          std::chrono::milliseconds pause,
                                          std::chrono::milliseconds give_up) {
  const auto start = std::chrono::steady_clock::now();
  auto elapsed = [&] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                 start);
  };
  while (elapsed() < give_up) {
    try {
      client.WriteRaw(piece);
    } catch (const std::exception&) {
      break;  // reset: cut
    }
    std::this_thread::sleep_for(pause);  // the pace of the body, not a synchronisation
  }
  return elapsed();
}

// Issue 15: a body that trickles or stalls held its slot and its share of the body budget
// until --header-timeout (here 30 s). Now it must keep --min-body-rate after a second and
// never pause for a second.
TEST(ServerE2E, ABodyThatTricklesOrStallsIsCutAfterItsGrace) {
  auto s = Serve({"--header-timeout", "30s", "--min-body-rate", "1000"});
  ASSERT_NE(s->port, 0);
  const std::string head =
      "POST /validate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
      "Content-Length: ";
  {
    SCOPED_TRACE("a byte every 100 ms: under 1000 bytes/s");
    auto client = s->Connect();
    client->WriteRaw(head + "100000\r\n\r\n");
    auto ran = TrickleUntilCut(*client, " ", 100ms, 20s);
    EXPECT_LT(ran, 10s) << ran.count() << " ms";  // about 1 s, far from the header timeout
  }
  {
    SCOPED_TRACE("half the body at once, then nothing");
    auto client = s->Connect();
    client->WriteRaw(head + "100000\r\n\r\n" + std::string(50000, ' '));
    EXPECT_TRUE(client->ClosedByPeerWithin(10s));
  }
  {
    SCOPED_TRACE("slow but steady above the rate, pauses under a second: judged");
    const std::string review = fixtures::DeploymentReview("nginx");
    const std::string padding(3000, ' ');  // blanks before the review are still JSON
    auto client = s->Connect();
    client->WriteRaw(head + std::to_string(padding.size() + review.size()) + "\r\n\r\n");
    for (std::size_t at = 0; at < padding.size(); at += 300) {
      client->WriteRaw(std::string_view(padding).substr(at, 300));  // 3000 bytes/s
      std::this_thread::sleep_for(100ms);  // the pace of the body, not a synchronisation
    }
    client->WriteRaw(review);
    EXPECT_EQ(client->ReadResponse().result_int(), 200u);
  }
  EXPECT_EQ(s->Scrape().Value("stratum_guard_slow_bodies_total", {{"listener", "webhook"}}), 2);
  EXPECT_EQ(ReservedBodyBytes(*s), 0);
}

TEST(ServerE2E, AMinimumBodyRateOfZeroLeavesTheBodyToTheHeaderTimeout) {
  auto s = Serve({"--header-timeout", "3s", "--min-body-rate", "0"});
  ASSERT_NE(s->port, 0);
  auto client = s->Connect();
  const auto start = std::chrono::steady_clock::now();
  client->WriteRaw(
      "POST /validate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
      "Content-Length: 100\r\n\r\n{");
  EXPECT_TRUE(client->ClosedByPeerWithin(20s));
  EXPECT_GE(std::chrono::steady_clock::now() - start, 2500ms);  // not the 1 s stall rule
  EXPECT_EQ(s->Scrape().Value("stratum_guard_slow_bodies_total", {{"listener", "webhook"}}), 1);
}

// Slow clients against a port: `threads` times 20 connections, each sending `head` at once and
// then `drip` a byte at a time every 50 ms, reconnecting when cut, until `stop`.
class Loris {
 public:
  Loris(const Served& s, int threads, std::string head, std::string drip) {
    for (int t = 0; t < threads; ++t) {
      threads_.emplace_back([this, &s, head, drip] {
        std::vector<std::pair<std::unique_ptr<HttpClient>, std::size_t>> clients;
        while (!stop_) {
          while (clients.size() < 20 && !stop_) {
            try {
              auto client = HttpClient::Tls("127.0.0.1", s.port, s.tls, 2s);
              if (!head.empty()) client->WriteRaw(head);
              clients.emplace_back(std::move(client), 0);
            } catch (const std::exception&) {
              ++cut_;  // shed during its handshake or its headers
            }
          }
          for (auto& [client, sent] : clients) {
            try {
              client->WriteRaw(std::string_view(drip).substr(sent % drip.size(), 1));
              ++sent;
            } catch (const std::exception&) {
              ++cut_;
              client.reset();
            }
          }
          std::erase_if(clients, [](const auto& c) { return c.first == nullptr; });
          std::this_thread::sleep_for(50ms);  // the drip rate of the load, not a synchronisation
        }
      });
    }
  }
  ~Loris() {
    stop_ = true;
    for (auto& thread : threads_) thread.join();
  }
  int cut() const { return cut_; }

 private:
  std::atomic<bool> stop_{false};
  std::atomic<int> cut_{0};
  std::vector<std::thread> threads_;
};

// The slow clients are shed to make room. Waited on while the load goes on: how many sheds a
// slow (sanitizer) build's clients provoke in a given time varies.
void ExpectSheds(const Served& s, double at_least) {
  EXPECT_TRUE(Eventually([&] {
    return s.Scrape().Value("stratum_guard_connections_shed_total", {{"listener", "webhook"}}) >=
           at_least;
  }));
}

// Times 20 reviews on fresh connections; all must be answered, half within the issue's 100 ms.
void ExpectFreshReviewsAnswered(const Served& s) {
  const std::string review = fixtures::DeploymentReview("nginx");
  std::vector<double> ms;
  for (int i = 0; i < 20; ++i) {
    const auto start = std::chrono::steady_clock::now();
    Response r;
    EXPECT_NO_THROW(r = s.Post(review));
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
                     .count());
    EXPECT_EQ(r.result_int(), 200u);
  }
  std::sort(ms.begin(), ms.end());
  ::testing::Test::RecordProperty("fresh_request_ms_median", std::to_string(ms[ms.size() / 2]));
  ::testing::Test::RecordProperty("fresh_request_ms_max", std::to_string(ms.back()));
  std::cout << "fresh requests under slowloris: median " << ms[ms.size() / 2] << " ms, max "
            << ms.back() << " ms\n";
  // The issue's bound (times the sanitizers' slowdown); the maximum is left to a busy CI.
  EXPECT_LT(ms[ms.size() / 2], 100 * kSanitizerSlowdown);
}

// The issue's slowloris, scaled to the cap: 60 clients for 40 slots send their headers a byte
// at a time and reconnect when cut. Before, they held every slot and a fresh client (the API
// server's) was closed at once; now an unproven one is shed for it, and while the port is
// crowded a first request must come within a second. The API server's idle keep-alive
// connection, the oldest wait, was shed before them; it must now survive.
TEST(ServerE2E, SlowClientsHoldingEverySlotCannotKeepAFreshClientOut) {
  auto s = Serve({"--max-connections", "40"});
  ASSERT_NE(s->port, 0);
  auto keep_alive = s->Connect();
  const std::string review = fixtures::DeploymentReview("nginx");
  EXPECT_EQ(keep_alive->Post("/validate", review).result_int(), 200u);
  {
    Loris loris(*s, 3, "",
                "POST /validate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n");
    ASSERT_TRUE(Eventually([&] {
      return s->Scrape().Value("stratum_guard_open_connections", {{"listener", "webhook"}}) >= 40 &&
             loris.cut() > 20;
    }));
    ExpectFreshReviewsAnswered(*s);
    EXPECT_EQ(keep_alive->Post("/validate", review).result_int(), 200u);
    ExpectSheds(*s, 20);
  }
  auto metrics = s->Scrape();
  EXPECT_EQ(metrics.Value("stratum_guard_connections_rejected_total", {{"listener", "webhook"}}),
            0);
}

// The same with complete headers and a body a byte at a time. Before, a connection in its body
// could not be shed and held its slot until --header-timeout: fresh clients were refused.
TEST(ServerE2E, SlowBodiesHoldingEverySlotCannotKeepAFreshClientOut) {
  auto s = Serve({"--max-connections", "40"});
  ASSERT_NE(s->port, 0);
  {
    Loris loris(*s, 3,
                "POST /validate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                "Content-Length: 100000\r\n\r\n",
                " ");
    ASSERT_TRUE(Eventually([&] {
      return s->Scrape().Value("stratum_guard_open_connections", {{"listener", "webhook"}}) >= 40 &&
             loris.cut() > 20;
    }));
    ExpectFreshReviewsAnswered(*s);
    ExpectSheds(*s, 20);
  }
  auto metrics = s->Scrape();
  EXPECT_EQ(metrics.Value("stratum_guard_connections_rejected_total", {{"listener", "webhook"}}),
            0);
}

TEST(ServerE2E, PlainHttpOnTheTlsPortClosesOnlyThatConnection) {
  auto s = Serve();
  ASSERT_NE(s->port, 0);
  auto keep = s->Connect();
  EXPECT_EQ(keep->Get("/healthz").result_int(), 200u);
  auto plain = HttpClient::Plain("127.0.0.1", s->port);
  EXPECT_ANY_THROW(plain->Get("/healthz"));
  auto garbage = HttpClient::Plain("127.0.0.1", s->port);
  garbage->WriteRaw(std::string(2000, '\x16'));
  EXPECT_TRUE(garbage->ClosedByPeerWithin(5s));
  // The connection opened before is untouched, and new ones work.
  EXPECT_EQ(keep->Get("/healthz").result_int(), 200u);
  EXPECT_EQ(s->Post(fixtures::DeploymentReview("nginx")).result_int(), 200u);
  EXPECT_GE(s->Scrape().Value("stratum_guard_tls_handshake_failures_total"), 2);
}

TEST(ServerE2E, HealthAndReadinessOnBothPorts) {
  auto s = Serve();
  ASSERT_NE(s->port, 0);
  auto client = s->Connect();
  Response healthz = client->Get("/healthz");
  EXPECT_EQ(healthz.result_int(), 200u);
  EXPECT_EQ(healthz.body(), "ok\n");
  EXPECT_EQ(client->Get("/readyz").result_int(), 200u);
  EXPECT_EQ(testing::PlainGet(s->metrics_port, "/healthz").result_int(), 200u);
  EXPECT_EQ(testing::PlainGet(s->metrics_port, "/nope").result_int(), 404u);
}

// --- TLS ------------------------------------------------------------------------------------

struct Pki {
  certs::PemPair ca;
  certs::PemPair server;
  certs::PemPair client;
};

Pki MakePki(const std::string& name) {
  Pki pki;
  certs::CertificateSpec ca;
  ca.common_name = name + " CA";
  ca.dns_names = {};
  ca.ip_addresses = {};
  // No extended key usage on the CA: OpenSSL checks it along the chain, and a CA limited to
  // serverAuth cannot vouch for client certificates.
  ca.server_auth = false;
  pki.ca = certs::IssueCertificate(ca);
  certs::CertificateSpec server;
  server.is_ca = false;
  pki.server = certs::IssueCertificate(server, &pki.ca);
  certs::CertificateSpec client;
  client.common_name = "kube-apiserver";
  client.is_ca = false;
  client.server_auth = false;
  client.client_auth = true;
  client.dns_names = {};
  client.ip_addresses = {};
  pki.client = certs::IssueCertificate(client, &pki.ca);
  return pki;
}

TEST(ServerE2E, ClientCaRequiresAVerifiedClientCertificate) {
  auto dir = std::make_unique<TempDir>();
  Pki pki = MakePki("one");
  Pki other = MakePki("other");
  std::string cert = dir->Write("tls.crt", pki.server.certificate_pem);
  std::string key = dir->Write("tls.key", pki.server.private_key_pem);
  std::string client_ca = dir->Write("client-ca.crt", pki.ca.certificate_pem);
  auto s = Serve({"--tls-cert", cert, "--tls-key", key, "--client-ca", client_ca}, std::move(dir));
  ASSERT_NE(s->port, 0);
  ClientTls anonymous{pki.ca.certificate_pem, "", "", "localhost"};
  auto TryHealthz = [&](const ClientTls& tls) {
    try {
      return testing::TlsRequest(s->port, tls, http::verb::get, "/healthz").result_int() == 200;
    } catch (const boost::system::system_error&) {
      return false;
    }
  };
  EXPECT_FALSE(TryHealthz(anonymous));
  ClientTls stranger{pki.ca.certificate_pem, other.client.certificate_pem,
                     other.client.private_key_pem, "localhost"};
  EXPECT_FALSE(TryHealthz(stranger));
  ClientTls apiserver{pki.ca.certificate_pem, pki.client.certificate_pem,
                      pki.client.private_key_pem, "localhost"};
  EXPECT_TRUE(TryHealthz(apiserver));
  Response r = testing::TlsRequest(s->port, apiserver, http::verb::post, "/validate",
                                   fixtures::DeploymentReview("xmrig/xmrig"));
  EXPECT_FALSE(Json(r.body())["response"]["allowed"].GetBool());
  EXPECT_GE(s->Scrape().Value("stratum_guard_tls_handshake_failures_total"), 2);
}

// Writes `files` into a new timestamped directory and swaps the ..data symlink to it, as the
// kubelet updates Secret and ConfigMap volumes.
void KubeletSwap(const TempDir& dir, int generation,
                 const std::vector<std::pair<std::string, std::string>>& files) {
  std::string version = "..gen" + std::to_string(generation);
  std::filesystem::create_directory(dir.File(version));
  for (const auto& [name, text] : files) dir.Write(version + "/" + name, text);
  std::filesystem::create_directory_symlink(version, dir.File("..data_tmp"));
  std::filesystem::rename(dir.File("..data_tmp"), dir.File("..data"));
  for (const auto& [name, text] : files) {
    if (!std::filesystem::is_symlink(dir.File(name))) {
      std::filesystem::create_symlink("..data/" + name, dir.File(name));
    }
  }
}

TEST(ServerE2E, CertificateReloadsDuringTrafficAndRefusesABadOne) {
  auto dir = std::make_unique<TempDir>();
  Pki first = MakePki("first");
  Pki second = MakePki("second");
  KubeletSwap(
      *dir, 1,
      {{"tls.crt", first.server.certificate_pem}, {"tls.key", first.server.private_key_pem}});
  std::string cert = dir->File("tls.crt");
  std::string key = dir->File("tls.key");
  TempDir* files = dir.get();
  auto s =
      Serve({"--tls-cert", cert, "--tls-key", key, "--reload-interval", "50ms"}, std::move(dir));
  ASSERT_NE(s->port, 0);
  ClientTls trust_first{first.ca.certificate_pem, "", "", "localhost"};
  ClientTls trust_second{second.ca.certificate_pem, "", "", "localhost"};
  double expiry_before =
      s->Scrape().Value("stratum_guard_tls_certificate_expiry_timestamp_seconds");
  EXPECT_GT(expiry_before, 0);

  // Traffic on a connection opened before the reload, and on fresh ones, throughout.
  auto before = HttpClient::Tls("127.0.0.1", s->port, trust_first);
  std::atomic<int> failures{0};
  // A jthread: should an assertion below throw (the server died), it stops and joins rather
  // than std::terminate taking the test's report, and the server's output, with it.
  std::jthread traffic([&](std::stop_token stop) {
    while (!stop.stop_requested()) {
      try {
        Response r = before->Post("/validate", fixtures::DeploymentReview("nginx"));
        if (r.result_int() != 200) ++failures;
      } catch (const std::exception&) {
        ++failures;
      }
    }
  });

  // A certificate whose key does not match: refused, the first one stays.
  KubeletSwap(
      *files, 2,
      {{"tls.crt", second.server.certificate_pem}, {"tls.key", first.server.private_key_pem}});
  EXPECT_TRUE(Eventually([&] {
    return s->Scrape().Value("stratum_guard_tls_reloads_total", {{"result", "error"}}) == 1;
  }));
  EXPECT_EQ(testing::TlsRequest(s->port, trust_first, http::verb::get, "/healthz").result_int(),
            200u);
  EXPECT_TRUE(s->process->WaitForLog("reload failed, keeping the configuration in force",
                                     {{"config", "tls"}}, 5s));

  // The good pair: new connections get the second certificate.
  KubeletSwap(
      *files, 3,
      {{"tls.crt", second.server.certificate_pem}, {"tls.key", second.server.private_key_pem}});
  EXPECT_TRUE(Eventually([&] {
    try {
      return testing::TlsRequest(s->port, trust_second, http::verb::get, "/healthz").result_int() ==
             200;
    } catch (const std::exception&) {
      return false;
    }
  }));
  EXPECT_THROW(testing::TlsRequest(s->port, trust_first, http::verb::get, "/healthz"),
               boost::system::system_error);
  traffic.request_stop();
  traffic.join();
  EXPECT_EQ(failures.load(), 0) << "the connection made before the reload was disturbed";
  auto metrics = s->Scrape();
  EXPECT_EQ(metrics.Value("stratum_guard_tls_reloads_total", {{"result", "success"}}), 1);
  EXPECT_EQ(metrics.Value("stratum_guard_tls_reloads_total", {{"result", "error"}}), 1);
  EXPECT_GE(metrics.Value("stratum_guard_tls_certificate_expiry_timestamp_seconds"), expiry_before);
}

// --- Policy reload --------------------------------------------------------------------------

constexpr std::string_view kOnlyEvilImagePolicy = R"(version: 1
rules:
  - id: evil-image
    description: test rule
    action: deny
    finding: evil image
    match:
      images: [evil]
end: stratum-guard-policy
)";

TEST(ServerE2E, PolicyReloadsDuringTrafficAndKeepsTheLastGoodOne) {
  auto dir = std::make_unique<TempDir>();
  KubeletSwap(*dir, 1, {{"policy.yaml", std::string(kOnlyEvilImagePolicy)}});
  std::string policy_path = dir->File("policy.yaml");
  TempDir* files = dir.get();
  auto s = Serve({"--policy", policy_path, "--reload-interval", "50ms"}, std::move(dir));
  ASSERT_NE(s->port, 0);
  auto allowed = [&](std::string_view image) {
    Response r = s->Post(fixtures::DeploymentReview(image));
    return Json(r.body())["response"]["allowed"].GetBool();
  };
  EXPECT_FALSE(allowed("evil"));
  EXPECT_TRUE(allowed("xmrig/xmrig"));  // this policy knows nothing else
  EXPECT_EQ(s->Scrape().Value("stratum_guard_policy_rules"), 1);

  std::atomic<int> failures{0};
  std::jthread traffic([&](std::stop_token stop) {  // a jthread, as in the certificate test
    std::unique_ptr<HttpClient> client;
    while (!stop.stop_requested()) {
      try {
        if (!client) client = s->Connect();
        Response r = client->Post("/validate", fixtures::DeploymentReview("nginx"));
        if (r.result_int() != 200 || !Json(r.body())["response"]["allowed"].GetBool()) ++failures;
      } catch (const std::exception&) {
        ++failures;
        client.reset();  // a dropped connection is counted, then the traffic goes on
      }
    }
  });

  // A policy that does not compile: refused, counted, logged; the old one stays.
  KubeletSwap(*files, 2, {{"policy.yaml", "version: 1\nrules:\n  - id: [unclosed\n"}});
  EXPECT_TRUE(Eventually([&] {
    return s->Scrape().Value("stratum_guard_policy_reloads_total", {{"result", "error"}}) == 1;
  }));
  EXPECT_TRUE(s->process->WaitForLog("reload failed, keeping the configuration in force",
                                     {{"config", "policy"}}, 5s));
  EXPECT_FALSE(allowed("evil"));

  // The default policy cut off after its first rules, as a copy still being written: refused
  // too, not applied with rules missing.
  KubeletSwap(*files, 3,
              {{"policy.yaml", std::string(policy::Policy::DefaultText().substr(0, 2043))}});
  EXPECT_TRUE(Eventually([&] {
    return s->Scrape().Value("stratum_guard_policy_reloads_total", {{"result", "error"}}) == 2;
  }));
  EXPECT_FALSE(allowed("evil"));
  EXPECT_EQ(s->Scrape().Value("stratum_guard_policy_rules"), 1);

  // The default policy, written over it: applied.
  KubeletSwap(*files, 4, {{"policy.yaml", std::string(policy::Policy::DefaultText())}});
  EXPECT_TRUE(Eventually([&] { return !allowed("xmrig/xmrig"); }));
  EXPECT_TRUE(allowed("evil"));
  traffic.request_stop();
  traffic.join();
  EXPECT_EQ(failures.load(), 0);
  auto metrics = s->Scrape();
  EXPECT_EQ(metrics.Value("stratum_guard_policy_reloads_total", {{"result", "success"}}), 1);
  EXPECT_EQ(metrics.Value("stratum_guard_policy_reloads_total", {{"result", "error"}}), 2);
  EXPECT_EQ(metrics.Value("stratum_guard_policy_rules"),
            static_cast<double>(policy::Policy::Default()->rule_count()));
}

TEST(ServerE2E, EnforcementFromThePolicyFollowsReloads) {
  auto dir = std::make_unique<TempDir>();
  const std::string policy_text(policy::Policy::DefaultText());
  KubeletSwap(*dir, 1, {{"policy.yaml", "enforcement: warn\n" + policy_text}});
  std::string policy_path = dir->File("policy.yaml");
  TempDir* files = dir.get();
  auto s = Serve({"--policy", policy_path, "--reload-interval", "50ms"}, std::move(dir));
  ASSERT_NE(s->port, 0);
  rapidjson::Document warned = Json(s->Post(fixtures::DeploymentReview("xmrig/xmrig")).body());
  EXPECT_TRUE(warned["response"]["allowed"].GetBool());
  ASSERT_TRUE(warned["response"].HasMember("warnings"));
  EXPECT_NE(std::string(warned["response"]["warnings"][0].GetString()).find("(rule miner-image)"),
            std::string::npos);

  KubeletSwap(*files, 2, {{"policy.yaml", "enforcement: audit\n" + policy_text}});
  EXPECT_TRUE(Eventually([&] {
    rapidjson::Document d = Json(s->Post(fixtures::DeploymentReview("xmrig/xmrig")).body());
    return d["response"]["allowed"].GetBool() && !d["response"].HasMember("warnings");
  }));
  KubeletSwap(*files, 3, {{"policy.yaml", policy_text}});
  EXPECT_TRUE(Eventually([&] {
    rapidjson::Document d = Json(s->Post(fixtures::DeploymentReview("xmrig/xmrig")).body());
    return !d["response"]["allowed"].GetBool();
  }));
}

TEST(ServerE2E, TheEnforcementFlagPinsTheModeAcrossReloads) {
  auto dir = std::make_unique<TempDir>();
  const std::string policy_text(policy::Policy::DefaultText());
  KubeletSwap(*dir, 1, {{"policy.yaml", "enforcement: audit\n" + policy_text}});
  std::string policy_path = dir->File("policy.yaml");
  TempDir* files = dir.get();
  auto s = Serve({"--policy", policy_path, "--reload-interval", "50ms", "--enforcement=warn"},
                 std::move(dir));
  ASSERT_NE(s->port, 0);
  auto warned = [&] {
    rapidjson::Document d = Json(s->Post(fixtures::DeploymentReview("xmrig/xmrig")).body());
    return d["response"]["allowed"].GetBool() && d["response"].HasMember("warnings");
  };
  EXPECT_TRUE(warned());
  KubeletSwap(*files, 2, {{"policy.yaml", "enforcement: enforce\n" + policy_text}});
  EXPECT_TRUE(Eventually([&] {
    return s->Scrape().Value("stratum_guard_policy_reloads_total", {{"result", "success"}}) == 1;
  }));
  EXPECT_TRUE(warned());
}

// --- Shutdown -------------------------------------------------------------------------------

// Sends the headers of a POST with "Expect: 100-continue" and waits for the interim answer,
// which says the server has read them: from then on the request is in flight, not a
// connection waiting for one, whatever the body's progress.
void StartRequest(HttpClient& client, std::string_view target, std::size_t content_length) {
  client.WriteRaw("POST " + std::string(target) +
                  " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  "Expect: 100-continue\r\nContent-Length: " +
                  std::to_string(content_length) + "\r\n\r\n");
  EXPECT_EQ(client.ReadResponse().result_int(), 100u);
}

TEST(ServerE2E, SigtermLetsRequestsInFlightFinishAndExitsZero) {
  auto s = Serve({"--shutdown-grace", "20s"});
  ASSERT_NE(s->port, 0);
  // Requests in flight: headers and half the body sent when the signal arrives.
  constexpr int kInFlight = 8;
  std::vector<std::unique_ptr<HttpClient>> clients;
  std::vector<std::string> bodies;
  for (int i = 0; i < kInFlight; ++i) {
    clients.push_back(s->Connect());
    bodies.push_back(fixtures::DeploymentReview("xmrig/xmrig", "[]", fixtures::kV1,
                                                "term-" + std::to_string(i)));
    const std::string& body = bodies.back();
    StartRequest(*clients.back(), "/validate?timeout=10s", body.size());
    clients.back()->WriteRaw(body.substr(0, body.size() / 2));
  }
  // An idle keep-alive connection, which should simply be closed.
  auto idle = s->Connect();
  EXPECT_EQ(idle->Get("/healthz").result_int(), 200u);

  s->process->Signal(SIGTERM);
  ASSERT_TRUE(s->process->WaitForLog("shutting down", {}, 10s));
  EXPECT_TRUE(idle->ClosedByPeerWithin(5s));
  // New connections are refused once the listener closed.
  EXPECT_TRUE(Eventually([&] {
    try {
      s->Connect();
      return false;
    } catch (const std::exception&) {
      return true;
    }
  }));
  for (int i = 0; i < kInFlight; ++i) {
    const std::string& body = bodies[static_cast<std::size_t>(i)];
    clients[static_cast<std::size_t>(i)]->WriteRaw(body.substr(body.size() / 2));
    Response r = clients[static_cast<std::size_t>(i)]->ReadResponse();
    ASSERT_EQ(r.result_int(), 200u) << i;
    EXPECT_FALSE(r.keep_alive()) << "a draining server closes after answering";
    auto doc = Json(r.body());
    EXPECT_EQ(std::string(doc["response"]["uid"].GetString()), "term-" + std::to_string(i));
    EXPECT_FALSE(doc["response"]["allowed"].GetBool());
  }
  EXPECT_EQ(s->process->WaitExit(15s), std::optional<int>(0));
}

TEST(ServerE2E, SigintExitsZeroAndGraceBoundsAStuckClient) {
  auto s = Serve({"--shutdown-grace", "300ms", "--header-timeout", "30s"});
  ASSERT_NE(s->port, 0);
  auto stuck = s->Connect();
  StartRequest(*stuck, "/validate", 50);
  stuck->WriteRaw("{");
  s->process->Signal(SIGINT);
  EXPECT_EQ(s->process->WaitExit(10s), std::optional<int>(0));
  EXPECT_TRUE(s->process->WaitForLog("shutdown grace expired, closing connections", {}, 1s));
}

// --- Metrics --------------------------------------------------------------------------------

TEST(ServerE2E, MetricsArePresentAndMoveAsExpected) {
  auto s = Serve();
  ASSERT_NE(s->port, 0);
  auto before = s->Scrape();
  for (const char* name :
       {"stratum_guard_policy_rules", "stratum_guard_tls_certificate_expiry_timestamp_seconds",
        "stratum_guard_build_info", "process_cpu_seconds_total", "process_resident_memory_bytes",
        "process_open_fds", "process_start_time_seconds"}) {
    EXPECT_TRUE(before.Sum(name)) << name;
  }
  EXPECT_EQ(before.Value("stratum_guard_policy_rules"),
            static_cast<double>(policy::Policy::Default()->rule_count()));
  EXPECT_EQ(before.Value("stratum_guard_policy_reloads_total"), 0);
  EXPECT_TRUE(before.Sum("stratum_guard_policy_reloads_total", {{"result", "error"}}));
  double expiry = before.Value("stratum_guard_tls_certificate_expiry_timestamp_seconds");
  double now = static_cast<double>(std::chrono::duration_cast<std::chrono::seconds>(
                                       std::chrono::system_clock::now().time_since_epoch())
                                       .count());
  EXPECT_NEAR(expiry - now, 365 * 86400.0, 2 * 86400.0);
  EXPECT_EQ(before.samples.end() != std::find_if(before.samples.begin(), before.samples.end(),
                                                 [](const testing::Sample& x) {
                                                   return x.name == "stratum_guard_build_info" &&
                                                          x.labels.count("version") &&
                                                          x.labels.count("commit");
                                                 }),
            true);
  double process_start = before.Value("process_start_time_seconds");
  EXPECT_NEAR(process_start, now, 120);

  s->Post(fixtures::DeploymentReview("busybox", fixtures::kStratumArgs));
  s->Post(fixtures::DeploymentReview("busybox", fixtures::kMinerFlagArgs));
  s->Post(fixtures::DeploymentReview("nginx"));
  s->Post("{");
  ReviewSpec del;
  del.operation = "DELETE";
  del.kind = "Pod";
  s->Post(Review(del));

  auto after = s->Scrape();
  auto delta = [&](std::string_view name, const std::map<std::string, std::string>& labels) {
    return after.Value(name, labels) - before.Value(name, labels);
  };
  const std::string requests = "stratum_guard_admission_requests_total";
  EXPECT_EQ(
      delta(requests, {{"kind", "Deployment"}, {"operation", "CREATE"}, {"decision", "denied"}}),
      1);
  EXPECT_EQ(
      delta(requests, {{"kind", "Deployment"}, {"operation", "CREATE"}, {"decision", "warned"}}),
      1);
  EXPECT_EQ(
      delta(requests, {{"kind", "Deployment"}, {"operation", "CREATE"}, {"decision", "allowed"}}),
      1);
  EXPECT_EQ(delta(requests, {{"kind", "Pod"}, {"operation", "DELETE"}, {"decision", "allowed"}}),
            1);
  EXPECT_EQ(delta(requests, {{"decision", "error"}}), 1);
  EXPECT_EQ(delta("stratum_guard_admission_duration_seconds_count", {{"kind", "Deployment"}}), 3);
  EXPECT_EQ(delta("stratum_guard_admission_duration_seconds_bucket",
                  {{"kind", "Deployment"}, {"le", "+Inf"}}),
            3);
  EXPECT_GT(delta("stratum_guard_admission_duration_seconds_sum", {{"kind", "Deployment"}}), 0);
  EXPECT_EQ(delta("stratum_guard_findings_total", {{"rule", "stratum-url"}, {"action", "deny"}}),
            1);
  EXPECT_EQ(delta("stratum_guard_findings_total", {{"rule", "miner-flag"}, {"action", "warn"}}), 1);
  EXPECT_EQ(delta("stratum_guard_http_responses_total", {{"listener", "webhook"}, {"code", "200"}}),
            4);
  EXPECT_EQ(delta("stratum_guard_http_responses_total", {{"listener", "webhook"}, {"code", "400"}}),
            1);
  EXPECT_GE(after.Value("process_cpu_seconds_total"), before.Value("process_cpu_seconds_total"));
  EXPECT_EQ(after.types["stratum_guard_admission_requests_total"], "counter");
  EXPECT_EQ(after.types["stratum_guard_admission_duration_seconds"], "histogram");
}

// --- Flags ----------------------------------------------------------------------------------

// Everything `serve` is given that it cannot use exits 2, as for `sweep` and `check`.
TEST(ServerE2E, BadFlagsExitWithAUsageOrConfigurationError) {
  struct Case {
    std::vector<std::string> args;
    int exit_code;
  };
  TempDir dir;
  const Case cases[] = {
      {{"serve", "--header-timeout", "soon"}, 2},
      {{"serve", "--log-level", "loud"}, 2},
      {{"serve", "--idle-timeout", "0s"}, 2},  // zero would close every keep-alive at once
      {{"serve", "--shutdown-grace", "-1s"}, 2},
      {{"serve", "--tls-cert", "/nonexistent/tls.crt"}, 2},
      {{"serve", "--listen", "nowhere", "--dev-cert-dir", dir.File("d")}, 2},
      {{"serve", "--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0", "--tls-cert",
        "/nonexistent/tls.crt", "--tls-key", "/nonexistent/tls.key"},
       2},
      {{"serve", "--policy", "/nonexistent/policy.yaml"}, 2},
      {{"serve", "--policy", dir.File("broken.yaml")}, 2},
      {{"serve", "--enforcement", "dryrun"}, 2},
      {{"serve", "--enforcement="}, 2},
      {{"serve", "--policy", dir.File("bad-enforcement.yaml")}, 2},
      {{"serve", "--max-inflight-body-bytes", "0"}, 2},
      {{"serve", "--max-inflight-body-bytes", "1000", "--max-body-bytes", "1001"}, 2},
      {{"serve", "--min-body-rate", "-1"}, 2},
      {{"serve", "--min-body-rate", "fast"}, 2},
  };
  std::ofstream(dir.File("broken.yaml")) << "rules: [\n";
  std::ofstream(dir.File("bad-enforcement.yaml")) << "enforcement: off\n"
                                                  << policy::Policy::DefaultText();
  for (const Case& c : cases) {
    ChildProcess p(STRATUM_GUARD_BINARY, c.args);
    EXPECT_EQ(p.WaitExit(20s), std::optional<int>(c.exit_code)) << c.args[1] << " " << c.args[2];
  }
}

}  // namespace
}  // namespace stratum_guard::server
