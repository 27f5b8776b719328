// The webhook handler with image inspection on, in this process, against a scripted registry
// that holds its answers until the test lets them go: what the real binary's tests
// (test/registry/inspect_serve_test.cpp) cannot reach without a flag for the number of waiting
// threads.
#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <optional>
#include <string>

#include "common/clock.h"
#include "policy/policy.h"
#include "policy/policy_store.h"
#include "registry/client.h"
#include "registry/credentials.h"
#include "registry/inspector.h"
#include "server/metrics.h"
#include "server/webhook_handler.h"
#include "test/registry/scripted_registry.h"
#include "test/server/review_fixtures.h"
#include "test/testing/tls_server.h"

namespace stratum_guard::server {
namespace {

namespace http = boost::beast::http;

registry::RegistryOptions RegistryOptions() {
  registry::RegistryOptions o;
  o.ca_pem = testing::Pki().ca_pem;
  o.request_timeout = std::chrono::seconds(5);
  return o;
}

// The webhook waits for registries on a bounded number of threads. A review that misses the
// cache while every one of them is busy is answered at once, judged on its pod spec alone and
// counted as a deadline: it never queues behind the slow registry. The review that had the
// thread is answered once the registry is, from the image's config.
TEST(WebhookInspectionTest, WithEveryWaitingThreadBusyAReviewIsJudgedAtOnce) {
  registry::test::Image image("POOL=stratum+tcp://pool.example:3333");
  registry::test::SlowRegistry slow(image);
  registry::RegistryClient client(RegistryOptions());
  common::SimulatedClock clock;
  registry::ImageInspector inspector(client, clock, registry::InspectorOptions{});
  registry::CredentialStore credentials({}, nullptr, clock);
  prometheus::Registry exposed;
  AdmissionMetrics metrics(exposed);
  policy::PolicyStore policies(policy::Policy::Default());
  WebhookHandler handler(
      policies, metrics, JudgeOptions{}, [] { return true; }, kDefaultMaxJsonDepth,
      ImageInspection{.inspector = &inspector,
                      .credentials = &credentials,
                      .deadline = std::chrono::seconds(30),
                      .max_waiting = 1});
  auto review = [&](std::string_view uid) {
    HttpRequest request{http::verb::post, "/validate", 11};
    request.set(http::field::content_type, "application/json");
    request.body() =
        fixtures::DeploymentReview(slow.host() + "/slow/app:v1", "[]", fixtures::kV1, uid);
    request.prepare_payload();
    return request;
  };
  auto deadlines = [&] {
    for (const prometheus::MetricFamily& family : exposed.Collect()) {
      if (family.name != "stratum_guard_image_inspections_total") continue;
      for (const prometheus::ClientMetric& m : family.metric) {
        bool deadline = false;
        for (const prometheus::ClientMetric::Label& l : m.label) {
          deadline = deadline || (l.name == "outcome" && l.value == "deadline");
        }
        if (deadline) return m.counter.value;
      }
    }
    return -1.0;
  };

  std::promise<HttpResponse> later;
  HttpRequest first = review("u-first");
  EXPECT_FALSE(handler.HandleOrDefer(
      first, [&](HttpResponse response) { later.set_value(std::move(response)); }));

  HttpRequest second = review("u-second");
  std::optional<HttpResponse> at_once = handler.HandleOrDefer(
      second, [](HttpResponse) { ADD_FAILURE() << "deferred with no thread free"; });
  ASSERT_TRUE(at_once);
  EXPECT_EQ(at_once->result_int(), 200u);
  EXPECT_NE(at_once->body().find("\"uid\":\"u-second\",\"allowed\":true"), std::string::npos)
      << at_once->body();
  EXPECT_EQ(deadlines(), 1);  // the second review's container; the first's is still waiting

  slow.Release();
  std::future<HttpResponse> answer = later.get_future();
  ASSERT_EQ(answer.wait_for(std::chrono::seconds(20)), std::future_status::ready);
  HttpResponse first_answer = answer.get();
  EXPECT_NE(first_answer.body().find("\"uid\":\"u-first\",\"allowed\":false"), std::string::npos)
      << first_answer.body();
  handler.Stop();
}

}  // namespace
}  // namespace stratum_guard::server
