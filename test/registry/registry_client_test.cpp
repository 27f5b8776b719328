// The registry client against the real thing: Debian's docker-registry (distribution 2.8) on
// 127.0.0.1 with TLS, images pushed to it by skopeo from OCI layouts the tests write. No
// container runs: an image here is a config and one empty layer.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "registry/client.h"
#include "registry/oci.h"
#include "test/registry/registry_fixture.h"
#include "test/testing/temp_dir.h"
#include "test/testing/tls_server.h"

namespace stratum_guard::registry {
namespace {

using namespace std::chrono_literals;
using testing::TempDir;

using test::Config;
using test::kTester;
using test::OciLayout;
using test::Registry;
using testing::Pki;

class RegistryClientTest : public ::testing::Test {
 protected:
  RegistryClientTest() {
    RegistryOptions options;
    options.ca_pem = Pki().ca_pem;
    options.request_timeout = 10s;
    client_ = std::make_unique<RegistryClient>(options);
  }

  ImageReference Ref(const std::string& image) {
    std::string error;
    std::optional<ImageReference> ref = ParseImageReference(image, &error);
    EXPECT_TRUE(ref) << error;
    return ref.value_or(ImageReference{});
  }

  FetchResult Fetch(const std::string& image, const RegistryCredentials& creds = {}) {
    return client_->Fetch(Ref(image), creds, [] { return false; });
  }

  TempDir work_;
  std::unique_ptr<RegistryClient> client_;
};

TEST_F(RegistryClientTest, ReadsTheEntrypointCmdAndEnvBakedIntoAnImage) {
  Registry registry(false);
  OciLayout layout(work_.File("miner"));
  auto image = layout.Image(Config(R"(["/usr/local/bin/xmrig"])", R"(["-o","pool.example:3333"])",
                                   R"(["PATH=/usr/bin","WALLET=4AbC"])"));
  layout.Tag(image, "v1");
  registry.Push(layout, "v1", "team/miner");

  FetchResult r = Fetch(registry.host() + "/team/miner:v1");
  ASSERT_TRUE(r.error.ok()) << r.error.message;
  EXPECT_EQ(r.config.entrypoint, (std::vector<std::string>{"/usr/local/bin/xmrig"}));
  EXPECT_EQ(r.config.cmd, (std::vector<std::string>{"-o", "pool.example:3333"}));
  EXPECT_EQ(r.config.env, (std::vector<std::string>{"PATH=/usr/bin", "WALLET=4AbC"}));
  EXPECT_EQ(r.manifest_digest, image.digest);

  // By digest, the same image; a digest the registry does not hold is not found.
  r = Fetch(registry.host() + "/team/miner@" + image.digest);
  ASSERT_TRUE(r.error.ok()) << r.error.message;
  EXPECT_EQ(r.config.entrypoint.size(), 1u);
  r = Fetch(registry.host() + "/team/miner@sha256:" + std::string(64, '0'));
  EXPECT_EQ(r.error.kind, FetchError::Kind::kNotFound) << r.error.message;
  r = Fetch(registry.host() + "/team/miner:no-such-tag");
  EXPECT_EQ(r.error.kind, FetchError::Kind::kNotFound) << r.error.message;
}

TEST_F(RegistryClientTest, AnIndexLeadsToThePlatformsImage) {
  Registry registry(false);
  OciLayout layout(work_.File("multi"));
  auto amd = layout.Image(Config(R"(["/amd64-entry"])", "null", "[]"), "amd64");
  auto arm = layout.Image(Config(R"(["/arm64-entry"])", "null", "[]"), "arm64");
  auto index = layout.Index({arm, amd});
  layout.Tag(index, "multi");
  registry.Push(layout, "multi", "multi/app");

  FetchResult r = Fetch(registry.host() + "/multi/app:multi");
  ASSERT_TRUE(r.error.ok()) << r.error.message;
  EXPECT_EQ(r.config.entrypoint, (std::vector<std::string>{"/amd64-entry"}));
  EXPECT_EQ(r.manifest_digest, amd.digest);

  RegistryOptions arm_options;
  arm_options.ca_pem = Pki().ca_pem;
  arm_options.platform = Platform{"linux", "arm64", ""};
  RegistryClient arm_client(arm_options);
  r = arm_client.Fetch(Ref(registry.host() + "/multi/app:multi"), {}, [] { return false; });
  ASSERT_TRUE(r.error.ok()) << r.error.message;
  EXPECT_EQ(r.config.entrypoint, (std::vector<std::string>{"/arm64-entry"}));

  RegistryOptions s390;
  s390.ca_pem = Pki().ca_pem;
  s390.platform = Platform{"linux", "s390x", ""};
  RegistryClient s390_client(s390);
  r = s390_client.Fetch(Ref(registry.host() + "/multi/app:multi"), {}, [] { return false; });
  EXPECT_EQ(r.error.kind, FetchError::Kind::kNoPlatform);
  EXPECT_NE(r.error.message.find("has linux/arm64, linux/amd64"), std::string::npos)
      << r.error.message;
}

TEST_F(RegistryClientTest, AnswersABasicChallengeWithTheGivenCredentials) {
  Registry registry(true);
  OciLayout layout(work_.File("private"));
  layout.Tag(layout.Image(Config(R"(["/app"])", "null", R"(["POOL=x"])")), "v1");
  registry.Push(layout, "v1", "private/app", true);

  FetchResult r = Fetch(registry.host() + "/private/app:v1");
  EXPECT_EQ(r.error.kind, FetchError::Kind::kAuth);
  EXPECT_NE(r.error.message.find("asks for credentials (Basic) and none were given"),
            std::string::npos)
      << r.error.message;
  r = Fetch(registry.host() + "/private/app:v1", {"tester", "wrong"});
  EXPECT_EQ(r.error.kind, FetchError::Kind::kAuth) << r.error.message;
  EXPECT_NE(r.error.message.find("answered 401"), std::string::npos) << r.error.message;
  r = Fetch(registry.host() + "/private/app:v1", kTester);
  ASSERT_TRUE(r.error.ok()) << r.error.message;
  EXPECT_EQ(r.config.env, (std::vector<std::string>{"POOL=x"}));
}

TEST_F(RegistryClientTest, AConfigThatIsNotJsonIsAClearError) {
  Registry registry(false);
  OciLayout layout(work_.File("broken"));
  layout.Tag(layout.Image("this is not an image config"), "v1");
  registry.Push(layout, "v1", "broken/app");
  FetchResult r = Fetch(registry.host() + "/broken/app:v1");
  EXPECT_EQ(r.error.kind, FetchError::Kind::kMalformed);
  EXPECT_NE(r.error.message.find("the image config is not JSON"), std::string::npos)
      << r.error.message;
}

TEST_F(RegistryClientTest, AnUntrustedCertificateAndAnUnreachableRegistryAreTransportErrors) {
  Registry registry(false);
  RegistryClient system_store(RegistryOptions{});  // the test CA is not in the system store
  FetchResult r =
      system_store.Fetch(Ref(registry.host() + "/any/app:v1"), {}, [] { return false; });
  EXPECT_EQ(r.error.kind, FetchError::Kind::kTransport) << r.error.message;

  RegistryOptions insecure;
  insecure.insecure_registries.insert(registry.host());
  RegistryClient insecure_client(insecure);
  r = insecure_client.Fetch(Ref(registry.host() + "/any/app:v1"), {}, [] { return false; });
  EXPECT_EQ(r.error.kind, FetchError::Kind::kNotFound) << r.error.message;

  // A port nothing listens on: bind one, close it, use it.
  r = Fetch("127.0.0.1:1/any/app:v1");
  EXPECT_EQ(r.error.kind, FetchError::Kind::kTransport) << r.error.message;
  EXPECT_NE(r.error.message.find("127.0.0.1:1"), std::string::npos) << r.error.message;
}

TEST_F(RegistryClientTest, AMirrorServesAnotherRegistrysImages) {
  Registry registry(false);
  OciLayout layout(work_.File("mirrored"));
  layout.Tag(layout.Image(Config(R"(["/mirrored"])", "null", "[]")), "v1");
  registry.Push(layout, "v1", "library/busybox");
  RegistryOptions options;
  options.ca_pem = Pki().ca_pem;
  options.mirrors["docker.io"] = registry.host();
  RegistryClient mirrored(options);
  FetchResult r = mirrored.Fetch(Ref("busybox:v1"), {}, [] { return false; });
  ASSERT_TRUE(r.error.ok()) << r.error.message;
  EXPECT_EQ(r.config.entrypoint, (std::vector<std::string>{"/mirrored"}));
}

TEST_F(RegistryClientTest, ACancelledFetchStops) {
  Registry registry(false);
  FetchResult r = client_->Fetch(Ref(registry.host() + "/any/app:v1"), {}, [] { return true; });
  EXPECT_EQ(r.error.kind, FetchError::Kind::kCancelled) << r.error.message;
}

}  // namespace
}  // namespace stratum_guard::registry
