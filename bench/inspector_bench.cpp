// The cost a cache hit of the image inspector adds to an admission (issue 17's target: under
// 1 µs per container). The cache is filled once from a scripted TLS registry on 127.0.0.1; the
// loops then touch no network.
#include <benchmark/benchmark.h>

#include <stdexcept>
#include <string>

#include "common/clock.h"
#include "registry/client.h"
#include "registry/inspector.h"
#include "registry/oci.h"
#include "registry/workload_images.h"
#include "test/testing/tls_server.h"

namespace {

using namespace stratum_guard;
using testing::Reply;
using testing::ServerRequest;
using testing::Stream;

const std::string kConfig =
    R"({"config":{"Entrypoint":["/docker-entrypoint.sh"],"Cmd":["nginx","-g","daemon off;"],)"
    R"("Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",)"
    R"("NGINX_VERSION=1.25.3","NJS_VERSION=0.8.2","PKG_RELEASE=1~bookworm"]}})";

struct Fixture {
  std::string manifest =
      R"({"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"digest":")" +
      registry::Sha256Digest(kConfig) + R"("}})";
  testing::TlsServer server{[this](Stream& s, const ServerRequest& r) {
    return Reply(s, r, 200,
                 r.target().find("/manifests/") != std::string::npos ? manifest : kConfig);
  }};
  registry::RegistryClient client{[] {
    registry::RegistryOptions o;
    o.ca_pem = testing::Pki().ca_pem;
    return o;
  }()};
  registry::ImageInspector inspector{client, common::SystemClock::Instance(), {}};
  std::string host = "127.0.0.1:" + server.Options().port;

  registry::ImageReference Ref(const std::string& repo) {
    std::string error;
    auto ref = registry::ParseImageReference(host + "/" + repo + ":1.25", &error);
    if (!ref) throw std::runtime_error(error);
    registry::Inspection filled = inspector.Inspect(*ref, {}, std::chrono::seconds(10));
    // A hit when Google Benchmark runs the function again.
    if (filled.outcome != registry::Outcome::kFetched &&
        filled.outcome != registry::Outcome::kHit) {
      throw std::runtime_error(std::string("could not fill the cache: ") +
                               registry::OutcomeName(filled.outcome) + " " + filled.error.message);
    }
    return *ref;
  }
};

Fixture& Shared() {
  static Fixture fixture;
  return fixture;
}

void BM_InspectHit(benchmark::State& state) {
  Fixture& f = Shared();
  registry::ImageReference ref = f.Ref("library/nginx");
  for (auto _ : state) {
    registry::Inspection i = f.inspector.Inspect(ref, {}, std::chrono::milliseconds(0));
    if (i.outcome != registry::Outcome::kHit) state.SkipWithError("not a hit");
    benchmark::DoNotOptimize(i);
  }
}
BENCHMARK(BM_InspectHit);

// A pod of three containers, each image a hit: parse the reference, look up, apply the config.
void BM_InspectWorkloadHitPerContainer(benchmark::State& state) {
  Fixture& f = Shared();
  f.Ref("team/a");
  f.Ref("team/b");
  f.Ref("team/c");
  std::string images[3] = {f.host + "/team/a:1.25", f.host + "/team/b:1.25",
                           f.host + "/team/c:1.25"};
  policy::Workload workload;
  for (const std::string& image : images) {
    policy::Container c;
    c.name = "app";
    c.image = image;
    workload.containers.push_back(c);
  }
  registry::CredentialStore none({}, nullptr, common::SystemClock::Instance());
  for (auto _ : state) {
    policy::Workload w = workload;
    registry::WorkloadInspection seen =
        registry::InspectWorkload(w, f.inspector, none, std::chrono::milliseconds(0));
    benchmark::DoNotOptimize(seen);
  }
  state.SetItemsProcessed(state.iterations() * 3);  // items/s = containers/s
}
BENCHMARK(BM_InspectWorkloadHitPerContainer);

}  // namespace

BENCHMARK_MAIN();
