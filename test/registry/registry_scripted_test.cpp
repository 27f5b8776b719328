// The registry client and the image inspector against a scripted TLS server, for what the real
// registry of registry_client_test.cpp cannot show: a Bearer token server, redirects to another
// host, a registry that answers slowly, garbage where a manifest should be.
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <string>

#include "common/clock.h"
#include "registry/client.h"
#include "registry/inspector.h"
#include "registry/oci.h"
#include "test/registry/scripted_registry.h"
#include "test/testing/eventually.h"
#include "test/testing/tls_server.h"

namespace stratum_guard::registry {
namespace {

using namespace std::chrono_literals;
using test::Image;
using test::ReplyTyped;
using test::SlowRegistry;
using testing::Pki;
using testing::Reply;
using testing::ServerRequest;
using testing::Stream;
using testing::TlsServer;

std::string Port(const TlsServer& server) { return server.Options().port; }

RegistryOptions Options() {
  RegistryOptions o;
  o.ca_pem = Pki().ca_pem;
  o.request_timeout = 5s;
  return o;
}

ImageReference Ref(const std::string& image) {
  std::string error;
  std::optional<ImageReference> ref = ParseImageReference(image, &error);
  EXPECT_TRUE(ref) << error;
  return ref.value_or(ImageReference{});
}

const common::CancelCheck kNever = [] { return false; };

TEST(RegistryScriptedTest, AnswersABearerChallengeWithATokenFromTheRealm) {
  Image image("POOL=stratum+tcp://pool.example:3333");
  std::string token_port;
  std::mutex mu;
  std::vector<std::string> token_queries;
  TlsServer token_server([&](Stream& s, const ServerRequest& r) {
    std::lock_guard lock(mu);
    token_queries.emplace_back(r.target());
    bool basic = r[testing::tls_server_detail::http::field::authorization] ==
                 "Basic dXNlcjpwYXNz";  // user:pass
    return Reply(s, r, basic ? 200 : 401, R"({"token":"t0ken","expires_in":300})");
  });
  token_port = Port(token_server);
  TlsServer registry([&](Stream& s, const ServerRequest& r) {
    if (r[testing::tls_server_detail::http::field::authorization] != "Bearer t0ken") {
      return ReplyTyped(
          s, r, 401, "{}", "application/json", "WWW-Authenticate",
          "Bearer realm=\"https://127.0.0.1:" + token_port + "/token\",service=\"test-registry\"");
    }
    if (r.target().ends_with("/manifests/v1")) {
      return ReplyTyped(s, r, 200, image.manifest, "application/vnd.oci.image.manifest.v1+json");
    }
    return ReplyTyped(s, r, 200, image.config, "application/octet-stream");
  });
  RegistryClient client(Options());
  const std::string ref = "127.0.0.1:" + Port(registry) + "/org/app:v1";

  FetchResult r = client.Fetch(Ref(ref), {"user", "pass"}, kNever);
  ASSERT_TRUE(r.error.ok()) << r.error.message;
  EXPECT_EQ(r.config.env, (std::vector<std::string>{"POOL=stratum+tcp://pool.example:3333"}));
  {
    std::lock_guard lock(mu);
    ASSERT_EQ(token_queries.size(), 1u);
    EXPECT_EQ(token_queries[0], "/token?service=test-registry&scope=repository%3Aorg%2Fapp%3Apull");
  }
  // The token is kept for the repository: a second fetch asks the token server nothing.
  r = client.Fetch(Ref(ref), {"user", "pass"}, kNever);
  ASSERT_TRUE(r.error.ok()) << r.error.message;
  EXPECT_EQ(token_queries.size(), 1u);

  // Without the credentials the token server refuses: an auth error, named.
  RegistryClient anonymous(Options());
  r = anonymous.Fetch(Ref(ref), {}, kNever);
  EXPECT_EQ(r.error.kind, FetchError::Kind::kAuth);
  EXPECT_NE(r.error.message.find("token from 127.0.0.1 answered 401"), std::string::npos)
      << r.error.message;
}

TEST(RegistryScriptedTest, ARealmThatIsNotHttpsOrATokenlessAnswerIsAnAuthError) {
  std::string realm = "http://127.0.0.1:1/token";
  TlsServer registry([&](Stream& s, const ServerRequest& r) {
    return ReplyTyped(s, r, 401, "{}", "application/json", "WWW-Authenticate",
                      "Bearer realm=\"" + realm + "\"");
  });
  RegistryClient client(Options());
  FetchResult r = client.Fetch(Ref("127.0.0.1:" + Port(registry) + "/a/b:v1"), {}, kNever);
  EXPECT_EQ(r.error.kind, FetchError::Kind::kAuth);
  EXPECT_NE(r.error.message.find("is not an https URL"), std::string::npos) << r.error.message;

  TlsServer token_server(
      [](Stream& s, const ServerRequest& r) { return Reply(s, r, 200, R"({"nothing":1})"); });
  realm = "https://127.0.0.1:" + Port(token_server) + "/token";
  r = client.Fetch(Ref("127.0.0.1:" + Port(registry) + "/a/b:v1"), {}, kNever);
  EXPECT_EQ(r.error.kind, FetchError::Kind::kAuth);
  EXPECT_NE(r.error.message.find("holds no token"), std::string::npos) << r.error.message;
}

TEST(RegistryScriptedTest, FollowsARedirectToAnotherHostWithoutTheRegistrysCredentials) {
  Image image("A=1");
  std::mutex mu;
  std::vector<std::string> storage_authorizations;
  TlsServer storage([&](Stream& s, const ServerRequest& r) {
    std::lock_guard lock(mu);
    storage_authorizations.emplace_back(r[testing::tls_server_detail::http::field::authorization]);
    return ReplyTyped(s, r, 200, image.config, "application/octet-stream");
  });
  const std::string storage_url = "https://127.0.0.1:" + Port(storage) + "/bucket/blob?sig=x";
  TlsServer registry([&](Stream& s, const ServerRequest& r) {
    if (r[testing::tls_server_detail::http::field::authorization].empty()) {
      return ReplyTyped(s, r, 401, "{}", "application/json", "WWW-Authenticate", "Basic realm=x");
    }
    if (r.target().find("/manifests/") != std::string::npos) {
      return ReplyTyped(s, r, 200, image.manifest, "application/vnd.oci.image.manifest.v1+json");
    }
    if (r.target().starts_with("/v2/a/b/blobs/")) {
      return ReplyTyped(s, r, 307, "", "text/plain", "Location", "/moved/blob");
    }
    return ReplyTyped(s, r, 302, "", "text/plain", "Location", storage_url);
  });
  RegistryClient client(Options());
  FetchResult r = client.Fetch(Ref("127.0.0.1:" + Port(registry) + "/a/b:v1"), {"u", "p"}, kNever);
  ASSERT_TRUE(r.error.ok()) << r.error.message;
  EXPECT_EQ(r.config.env, (std::vector<std::string>{"A=1"}));
  std::lock_guard lock(mu);
  EXPECT_EQ(storage_authorizations, (std::vector<std::string>{""}));
}

TEST(RegistryScriptedTest, RefusesARedirectToPlainHttpARedirectLoopAndOneWithNowhereToGo) {
  std::string location = "http://127.0.0.1:1/x";
  TlsServer registry([&](Stream& s, const ServerRequest& r) {
    if (location.empty()) return ReplyTyped(s, r, 307, "", "text/plain");
    return ReplyTyped(s, r, 302, "", "text/plain", "Location", location);
  });
  RegistryClient client(Options());
  FetchResult r = client.Fetch(Ref("127.0.0.1:" + Port(registry) + "/a/b:v1"), {}, kNever);
  EXPECT_EQ(r.error.kind, FetchError::Kind::kTransport);
  EXPECT_NE(r.error.message.find("not https"), std::string::npos) << r.error.message;
  location = "/again";
  r = client.Fetch(Ref("127.0.0.1:" + Port(registry) + "/a/b:v1"), {}, kNever);
  EXPECT_EQ(r.error.kind, FetchError::Kind::kTransport);
  EXPECT_NE(r.error.message.find("more than 5 redirects"), std::string::npos) << r.error.message;
  location.clear();
  r = client.Fetch(Ref("127.0.0.1:" + Port(registry) + "/a/b:v1"), {}, kNever);
  EXPECT_EQ(r.error.kind, FetchError::Kind::kTransport);
  EXPECT_NE(r.error.message.find("answered 307 without a Location"), std::string::npos)
      << r.error.message;
}

TEST(RegistryScriptedTest, AMalformedOrTamperedManifestIsAClearErrorNotACrash) {
  Image image("A=1");
  std::string manifest = "<html>not a manifest</html>";
  std::string config = image.config;
  TlsServer registry([&](Stream& s, const ServerRequest& r) {
    if (r.target().find("/manifests/") != std::string::npos) {
      return ReplyTyped(s, r, 200, manifest, "application/vnd.oci.image.manifest.v1+json");
    }
    return ReplyTyped(s, r, 200, config, "application/octet-stream");
  });
  RegistryClient client(Options());
  const std::string base = "127.0.0.1:" + Port(registry) + "/a/b";
  FetchResult r = client.Fetch(Ref(base + ":v1"), {}, kNever);
  EXPECT_EQ(r.error.kind, FetchError::Kind::kMalformed);
  EXPECT_NE(r.error.message.find("the manifest is not JSON"), std::string::npos) << r.error.message;
  // A manifest asked for by digest must be that digest.
  manifest = image.manifest;
  r = client.Fetch(Ref(base + "@sha256:" + std::string(64, 'f')), {}, kNever);
  EXPECT_EQ(r.error.kind, FetchError::Kind::kMalformed);
  EXPECT_NE(r.error.message.find("does not match its digest"), std::string::npos)
      << r.error.message;
  // A config that is not the one the manifest names is refused: the cache is keyed by digest.
  config = Image("A=2").config;
  r = client.Fetch(Ref(base + ":v1"), {}, kNever);
  EXPECT_EQ(r.error.kind, FetchError::Kind::kMalformed);
  EXPECT_NE(r.error.message.find("config blob does not match"), std::string::npos)
      << r.error.message;
}

TEST(ImageInspectorTest, PastTheDeadlineTheFetchGoesOnAndTheNextInspectionHitsTheCache) {
  Image image("POOL=stratum+tcp://pool.example:3333");
  SlowRegistry registry(image);
  RegistryClient client(Options());
  common::SimulatedClock clock;
  ImageInspector inspector(client, clock, InspectorOptions{});
  ImageReference ref = Ref(registry.host() + "/slow/app:v1");

  Inspection first = inspector.Inspect(ref, {}, 20ms);
  EXPECT_EQ(first.outcome, Outcome::kDeadline);
  EXPECT_EQ(first.config, nullptr);
  // A second review while the fetch is under way joins it instead of starting another.
  EXPECT_EQ(inspector.Inspect(ref, {}, 1ms).outcome, Outcome::kDeadline);
  registry.Release();
  ASSERT_TRUE(testing::Eventually([&] { return inspector.cached_images() == 1; }));
  Inspection later = inspector.Inspect(ref, {}, 0ms);
  EXPECT_EQ(later.outcome, Outcome::kHit);
  ASSERT_NE(later.config, nullptr);
  EXPECT_EQ(later.config->env, (std::vector<std::string>{"POOL=stratum+tcp://pool.example:3333"}));
  EXPECT_EQ(registry.requests(), 2);  // one manifest, one config: the second review shared it
}

TEST(ImageInspectorTest, ATagIsResolvedAgainAfterItsTtlADigestNever) {
  Image image("A=1");
  SlowRegistry registry(image);
  registry.Release();
  RegistryClient client(Options());
  common::SimulatedClock clock;
  InspectorOptions options;
  options.tag_ttl = 60s;
  ImageInspector inspector(client, clock, options);
  ImageReference tag = Ref(registry.host() + "/a/b:v1");
  ImageReference pinned = Ref(registry.host() + "/a/b@" + image.manifest_digest);

  EXPECT_EQ(inspector.Inspect(tag, {}, 5s).outcome, Outcome::kFetched);
  EXPECT_EQ(inspector.Inspect(tag, {}, 5s).outcome, Outcome::kHit);
  // The tag resolved to the digest: the pinned reference is a hit without a request.
  int before = registry.requests();
  EXPECT_EQ(inspector.Inspect(pinned, {}, 5s).outcome, Outcome::kHit);
  EXPECT_EQ(registry.requests(), before);
  clock.Advance(61s);
  EXPECT_EQ(inspector.Inspect(tag, {}, 5s).outcome, Outcome::kFetched);
  EXPECT_EQ(inspector.Inspect(pinned, {}, 5s).outcome, Outcome::kHit);
}

TEST(ImageInspectorTest, AFailureIsRememberedForItsTtlThenTriedAgain) {
  std::atomic<int> asked{0};
  TlsServer failing([&](Stream& s, const ServerRequest& r) {
    ++asked;
    return ReplyTyped(s, r, 500, "down", "text/plain");
  });
  RegistryClient client(Options());
  common::SimulatedClock clock;
  InspectorOptions options;
  options.error_ttl = 30s;
  ImageInspector inspector(client, clock, options);
  ImageReference ref = Ref("127.0.0.1:" + Port(failing) + "/failing/app:v1");
  Inspection first = inspector.Inspect(ref, {}, 10s);
  EXPECT_EQ(first.outcome, Outcome::kError);
  EXPECT_EQ(first.error.kind, FetchError::Kind::kTransport) << first.error.message;
  EXPECT_EQ(asked, 1);
  Inspection remembered = inspector.Inspect(ref, {}, 10s);
  EXPECT_EQ(remembered.outcome, Outcome::kError);
  EXPECT_EQ(remembered.error.message, first.error.message);
  EXPECT_EQ(asked, 1);  // answered from memory
  clock.Advance(31s);
  EXPECT_EQ(inspector.Inspect(ref, {}, 10s).outcome, Outcome::kError);
  EXPECT_EQ(asked, 2);  // asked again
}

TEST(ImageInspectorTest, TheCacheStaysWithinItsBytesDroppingTheLeastRecentlyUsed) {
  Image a("A=" + std::string(3000, 'a')), b("B=" + std::string(3000, 'b')),
      c("C=" + std::string(3000, 'c'));
  TlsServer registry([&](Stream& s, const ServerRequest& r) {
    const Image* image = r.target().starts_with("/v2/a/")   ? &a
                         : r.target().starts_with("/v2/b/") ? &b
                                                            : &c;
    if (r.target().find("/manifests/") != std::string::npos) {
      return ReplyTyped(s, r, 200, image->manifest, "application/vnd.oci.image.manifest.v1+json");
    }
    return ReplyTyped(s, r, 200, image->config, "application/octet-stream");
  });
  RegistryClient client(Options());
  common::SimulatedClock clock;
  InspectorOptions options;
  options.max_cache_bytes = 7000;  // two of the three configs
  ImageInspector inspector(client, clock, options);
  const std::string host = "127.0.0.1:" + Port(registry);
  EXPECT_EQ(inspector.Inspect(Ref(host + "/a/x:v1"), {}, 5s).outcome, Outcome::kFetched);
  EXPECT_EQ(inspector.Inspect(Ref(host + "/b/x:v1"), {}, 5s).outcome, Outcome::kFetched);
  EXPECT_EQ(inspector.Inspect(Ref(host + "/a/x:v1"), {}, 5s).outcome,
            Outcome::kHit);  // a is recent
  EXPECT_EQ(inspector.Inspect(Ref(host + "/c/x:v1"), {}, 5s).outcome, Outcome::kFetched);
  EXPECT_EQ(inspector.cached_images(), 2u);
  EXPECT_LE(inspector.cached_bytes(), 7000u);
  EXPECT_EQ(inspector.Inspect(Ref(host + "/a/x:v1"), {}, 5s).outcome, Outcome::kHit);
  EXPECT_EQ(inspector.Inspect(Ref(host + "/b/x:v1"), {}, 5s).outcome,
            Outcome::kFetched);  // evicted
}

TEST(ImageInspectorTest, PastItsQueueAMissIsAnErrorAtOnceNotAWait) {
  Image image("A=1");
  SlowRegistry registry(image);
  RegistryClient client(Options());
  common::SimulatedClock clock;
  ImageInspector inspector(client, clock, InspectorOptions{.workers = 1, .max_queued = 1});
  // The one worker takes the first fetch and waits on the registry; the second waits in the
  // queue, which is then full.
  EXPECT_EQ(inspector.Inspect(Ref(registry.host() + "/a/x:v1"), {}, 0ms).outcome,
            Outcome::kDeadline);
  ASSERT_TRUE(testing::Eventually([&] { return registry.requests() == 1; }));
  EXPECT_EQ(inspector.Inspect(Ref(registry.host() + "/b/x:v1"), {}, 0ms).outcome,
            Outcome::kDeadline);
  Inspection refused = inspector.Inspect(Ref(registry.host() + "/c/x:v1"), {}, 5s);
  EXPECT_EQ(refused.outcome, Outcome::kError);
  EXPECT_NE(refused.error.message.find("too many image fetches queued"), std::string::npos)
      << refused.error.message;
  // A refusal is not remembered: once the queue drains, the image is fetched.
  registry.Release();
  ASSERT_TRUE(testing::Eventually([&] {
    return inspector.Inspect(Ref(registry.host() + "/b/x:v1"), {}, 0ms).outcome == Outcome::kHit;
  }));
  EXPECT_EQ(inspector.Inspect(Ref(registry.host() + "/c/x:v1"), {}, 5s).outcome, Outcome::kFetched);
}

}  // namespace
}  // namespace stratum_guard::registry
