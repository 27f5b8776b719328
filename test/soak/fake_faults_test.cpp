// The fake API server's random faults and debug endpoints, which the soak driver relies on.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "test/fake_apiserver/fake_apiserver.h"
#include "test/testing/child_process.h"
#include "test/testing/temp_dir.h"
#include "test/testing/tls_client.h"

namespace stratum_guard::fake_apiserver {
namespace {

namespace http = boost::beast::http;
using namespace std::chrono_literals;
using testing::HttpClient;
using testing::Response;

const std::vector<testing::Header> kAuth = {{"Authorization", "Bearer test-token"}};

Response Call(const FakeApiServer& server, http::verb method, const std::string& target,
              const std::string& body = "") {
  testing::ClientTls tls;
  tls.ca_pem = server.ca_pem();
  return HttpClient::Tls("127.0.0.1", server.port(), tls)
      ->Send(method, target, body, "application/json", kAuth);
}

FakeApiServer::Options WithFaults(const FakeApiServer::Options::RandomFaults& faults) {
  FakeApiServer::Options options;
  options.random_faults = faults;
  return options;
}

std::vector<unsigned> Statuses(std::uint64_t seed) {
  FakeApiServer::Options::RandomFaults faults;
  faults.seed = seed;
  faults.error_rate = 0.5;
  FakeApiServer server(WithFaults(faults));
  server.Start();
  std::vector<unsigned> out;
  for (int i = 0; i < 20; ++i) {
    out.push_back(Call(server, http::verb::get, "/api/v1/pods").result_int());
  }
  return out;
}

TEST(FakeApiServerFaults, ErrorRateAnswers5xxDrawnFromTheSeed) {
  std::vector<unsigned> first = Statuses(7);
  int errors = 0;
  for (unsigned s : first) {
    EXPECT_TRUE(s == 200 || s == 500 || s == 502 || s == 503 || s == 504) << s;
    errors += s != 200;
  }
  EXPECT_GT(errors, 0);
  EXPECT_LT(errors, 20);
  EXPECT_EQ(Statuses(7), first);  // the same seed, the same draws
}

TEST(FakeApiServerFaults, ThrottleRateAnswers429WithRetryAfter) {
  FakeApiServer::Options::RandomFaults faults;
  faults.throttle_rate = 1;
  faults.retry_after_seconds = 7;
  FakeApiServer server(WithFaults(faults));
  server.Start();
  Response r = Call(server, http::verb::get, "/api/v1/pods");
  EXPECT_EQ(r.result_int(), 429u);
  EXPECT_EQ(r[http::field::retry_after], "7");
  EXPECT_NE(r.body().find("TooManyRequests"), std::string::npos) << r.body();
}

TEST(FakeApiServerFaults, DebugEndpointsAreNeverFaulted) {
  FakeApiServer::Options::RandomFaults faults;
  faults.error_rate = 1;
  FakeApiServer server(WithFaults(faults));
  server.Start();
  Response added =
      Call(server, http::verb::post, "/debug/pods", MakePodJson(MinerPod("mining", "xmrig")));
  EXPECT_EQ(added.result_int(), 201u) << added.body();
  EXPECT_TRUE(server.HasPod("mining", "xmrig"));
  EXPECT_EQ(
      Call(server, http::verb::delete_, "/api/v1/namespaces/mining/pods/xmrig").result_int() / 100,
      5u);
  Response deletes = Call(server, http::verb::get, "/debug/deletes");
  EXPECT_EQ(deletes.result_int(), 200u);
  EXPECT_EQ(deletes.body(), R"({"deletes":[]})");  // a faulted DELETE never reached the pods
}

TEST(FakeApiServerFaults, DebugDeletesListsEveryDeleteWithItsAnswer) {
  FakeApiServer server;
  server.Start();
  ASSERT_EQ(Call(server, http::verb::post, "/debug/pods", MakePodJson(BenignPod("a", "web")))
                .result_int(),
            201u);
  EXPECT_EQ(Call(server, http::verb::delete_, "/api/v1/namespaces/a/pods/web").result_int(), 200u);
  EXPECT_EQ(Call(server, http::verb::delete_, "/api/v1/namespaces/a/pods/web").result_int(), 404u);
  EXPECT_EQ(Call(server, http::verb::get, "/debug/deletes").body(),
            R"({"deletes":[{"namespace":"a","name":"web","status":200},)"
            R"({"namespace":"a","name":"web","status":404}]})");
}

TEST(FakeApiServerFaults, DebugRefusesWhatItCannotDo) {
  FakeApiServer server;
  server.Start();
  EXPECT_EQ(Call(server, http::verb::post, "/debug/pods", "{\"metadata\":{}}").result_int(), 400u);
  EXPECT_EQ(Call(server, http::verb::post, "/debug/pods", "not json").result_int(), 400u);
  EXPECT_EQ(Call(server, http::verb::get, "/debug/nothing").result_int(), 404u);
  EXPECT_EQ(server.pod_count(), 0u);
}

TEST(FakeApiServerFaults, ADroppedWatchEndsWithoutItsLastChunk) {
  FakeApiServer::Options::RandomFaults faults;
  faults.watch_drop_rate = 1;
  faults.watch_drop_within = std::chrono::milliseconds(200);
  FakeApiServer server(WithFaults(faults));
  server.Start();
  // Without the fault this watch would end cleanly after its 5 s timeout.
  EXPECT_THROW(Call(server, http::verb::get, "/api/v1/pods?watch=1&timeoutSeconds=5"),
               boost::system::system_error);

  FakeApiServer clean;
  clean.Start();
  EXPECT_EQ(Call(clean, http::verb::get, "/api/v1/pods?watch=1&timeoutSeconds=1").result_int(),
            200u);
}

TEST(FakeApiServerFaults, TheBinaryRefusesRatesOverOne) {
  testing::TempDir dir;
  testing::ChildProcess over(FAKE_APISERVER_BINARY, {"--dir", dir.path(), "--fault-5xx-rate", "0.6",
                                                     "--fault-429-rate", "0.6"});
  EXPECT_EQ(over.WaitExit(10s), 2);
  testing::ChildProcess out_of_range(FAKE_APISERVER_BINARY, {"--fault-5xx-rate", "1.5"});
  auto code = out_of_range.WaitExit(10s);
  ASSERT_TRUE(code);
  EXPECT_NE(*code, 0);
}

}  // namespace
}  // namespace stratum_guard::fake_apiserver
