// The registry library's pure parts: references, the three documents, challenges, docker
// configs. Every decoder gets the malformed input a hostile or broken registry could send.
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "common/base64.h"
#include "common/clock.h"
#include "registry/auth.h"
#include "registry/credentials.h"
#include "registry/image_reference.h"
#include "registry/oci.h"

namespace stratum_guard::registry {
namespace {

ImageReference Parse(std::string_view image) {
  std::string error;
  std::optional<ImageReference> ref = ParseImageReference(image, &error);
  EXPECT_TRUE(ref) << image << ": " << error;
  return ref.value_or(ImageReference{});
}

std::string ParseError(std::string_view image) {
  std::string error;
  EXPECT_FALSE(ParseImageReference(image, &error)) << image;
  return error;
}

TEST(ImageReferenceTest, DockerHubNamesGetTheirRegistryLibraryAndLatest) {
  ImageReference r = Parse("nginx");
  EXPECT_EQ(r.registry, "docker.io");
  EXPECT_EQ(r.repository, "library/nginx");
  EXPECT_EQ(r.tag, "latest");
  EXPECT_EQ(r.Reference(), "latest");
  EXPECT_EQ(ApiHost(r.registry), "registry-1.docker.io");
  EXPECT_EQ(Parse("xmrig/xmrig:6.21").repository, "xmrig/xmrig");
  EXPECT_EQ(Parse("index.docker.io/library/busybox").registry, "docker.io");
}

TEST(ImageReferenceTest, AFirstComponentWithADotAColonOrLocalhostIsTheRegistry) {
  ImageReference r = Parse("127.0.0.1:5000/team/miner:v1");
  EXPECT_EQ(r.registry, "127.0.0.1:5000");
  EXPECT_EQ(r.repository, "team/miner");
  EXPECT_EQ(r.tag, "v1");
  EXPECT_EQ(Parse("localhost/app").registry, "localhost");
  EXPECT_EQ(Parse("ghcr.io/org/app").registry, "ghcr.io");
  // Without a dot, a colon or "localhost", the first component is a Docker Hub user.
  EXPECT_EQ(Parse("someuser/app").registry, "docker.io");
  EXPECT_EQ(Parse("someuser/app").repository, "someuser/app");
  EXPECT_EQ(ApiHost("ghcr.io"), "ghcr.io");
}

TEST(ImageReferenceTest, ADigestIsWhatIsFetchedEvenWithATag) {
  const std::string digest = "sha256:" + std::string(64, 'a');
  ImageReference r = Parse("ghcr.io/org/app:1.0@" + digest);
  EXPECT_EQ(r.tag, "1.0");
  EXPECT_EQ(r.digest, digest);
  EXPECT_EQ(r.Reference(), digest);
  EXPECT_EQ(r.ToString(), "ghcr.io/org/app:1.0@" + digest);
  EXPECT_EQ(Parse("app@" + digest).tag, "");
}

TEST(ImageReferenceTest, RefusesWhatNoRegistryAccepts) {
  EXPECT_NE(ParseError("Upper/Case").find("lower-case"), std::string::npos);
  ParseError("");
  ParseError("a//b");
  ParseError("app/");
  ParseError("-app");
  ParseError("app..x");
  ParseError("app:");
  ParseError("app:-tag");
  ParseError("app:" + std::string(129, 't'));
  EXPECT_NE(ParseError("app@sha256:abc").find("digest"), std::string::npos);
  ParseError("app@md5:" + std::string(64, 'a'));
  ParseError("app@sha256:" + std::string(64, 'A'));
  ParseError("bad host!/app");
}

TEST(ImageReferenceTest, AcceptsTheSeparatorsTheGrammarAllows) {
  EXPECT_EQ(Parse("org/a.b_c__d---e").repository, "org/a.b_c__d---e");
  ParseError("a___b");
  ParseError("a_.b");
}

const char kOciIndex[] = R"({
  "schemaVersion": 2,
  "mediaType": "application/vnd.oci.image.index.v1+json",
  "manifests": [
    {"digest": "sha256:arm", "mediaType": "application/vnd.oci.image.manifest.v1+json",
     "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}},
    {"digest": "sha256:att", "platform": {"os": "unknown", "architecture": "unknown"}},
    {"digest": "sha256:amd", "platform": {"os": "linux", "architecture": "amd64"}}
  ]})";

TEST(OciTest, AnIndexYieldsThePlatformsEntry) {
  std::string error;
  std::optional<Manifest> m = DecodeManifest(kOciIndex, "", &error);
  ASSERT_TRUE(m) << error;
  EXPECT_TRUE(m->is_index);
  ASSERT_EQ(m->manifests.size(), 3u);
  const IndexEntry* amd = PickPlatform(*m, Platform{});
  ASSERT_NE(amd, nullptr);
  EXPECT_EQ(amd->digest, "sha256:amd");
  const IndexEntry* arm = PickPlatform(*m, Platform{"linux", "arm64", "v8"});
  ASSERT_NE(arm, nullptr);
  EXPECT_EQ(arm->digest, "sha256:arm");
  EXPECT_EQ(PickPlatform(*m, Platform{"linux", "arm64", "v7"}), nullptr);
  EXPECT_EQ(PickPlatform(*m, Platform{"windows", "amd64", ""}), nullptr);
}

TEST(OciTest, TheContentTypeDecidesOverTheBody) {
  std::string error;
  const std::string list = R"({"manifests": [{"digest": "sha256:x"}]})";
  std::optional<Manifest> m = DecodeManifest(
      list, "application/vnd.docker.distribution.manifest.list.v2+json; charset=utf-8", &error);
  ASSERT_TRUE(m) << error;
  EXPECT_TRUE(m->is_index);
  // Without a platform an entry matches no platform.
  EXPECT_EQ(PickPlatform(*m, Platform{}), nullptr);
  m = DecodeManifest(R"({"config": {"digest": "sha256:c"}})",
                     "application/vnd.docker.distribution.manifest.v2+json", &error);
  ASSERT_TRUE(m) << error;
  EXPECT_FALSE(m->is_index);
  EXPECT_EQ(m->config_digest, "sha256:c");
}

TEST(OciTest, RefusesManifestsItCannotUse) {
  std::string error;
  EXPECT_FALSE(DecodeManifest("{not json", "", &error));
  EXPECT_NE(error.find("not JSON"), std::string::npos) << error;
  EXPECT_FALSE(DecodeManifest("[1,2]", "", &error));
  EXPECT_NE(error.find("not a JSON object"), std::string::npos) << error;
  EXPECT_FALSE(DecodeManifest(R"({"schemaVersion": 1, "fsLayers": []})", "", &error));
  EXPECT_NE(error.find("schema 1"), std::string::npos) << error;
  EXPECT_FALSE(DecodeManifest(R"({"config": {}})", "", &error));
  EXPECT_NE(error.find("no config digest"), std::string::npos) << error;
  EXPECT_FALSE(DecodeManifest(R"({"config": "sha256:x"})", "", &error));
  EXPECT_FALSE(
      DecodeManifest(R"({"manifests": {}})", "application/vnd.oci.image.index.v1+json", &error));
  EXPECT_NE(error.find("no list of manifests"), std::string::npos) << error;
  EXPECT_FALSE(DecodeManifest(R"({"manifests": [{"platform": {}}]})", "", &error));
  EXPECT_NE(error.find("no digest"), std::string::npos) << error;
  EXPECT_FALSE(DecodeManifest(R"({"config": {"digest": "sha256:c"}})",
                              "application/vnd.oci.artifact.manifest.v1+json", &error));
  EXPECT_NE(error.find("not an image manifest"), std::string::npos) << error;
  // Deep nesting is an error, not a stack overflow.
  std::string deep(100000, '[');
  EXPECT_FALSE(DecodeManifest(deep, "", &error));
}

TEST(OciTest, TheImageConfigGivesEntrypointCmdAndEnv) {
  std::string error;
  std::optional<ImageConfig> c = DecodeImageConfig(
      R"({"architecture": "amd64", "config": {"Entrypoint": ["/xmrig"], "Cmd": ["-o", "p:3333"],
          "Env": ["PATH=/bin", "POOL=stratum+tcp://x:3333"]}})",
      &error);
  ASSERT_TRUE(c) << error;
  EXPECT_EQ(c->entrypoint, (std::vector<std::string>{"/xmrig"}));
  EXPECT_EQ(c->cmd, (std::vector<std::string>{"-o", "p:3333"}));
  EXPECT_EQ(c->env, (std::vector<std::string>{"PATH=/bin", "POOL=stratum+tcp://x:3333"}));
  // null and absent lists are empty; an image with no config section runs nothing of its own.
  c = DecodeImageConfig(R"({"config": {"Entrypoint": null}})", &error);
  ASSERT_TRUE(c) << error;
  EXPECT_TRUE(c->entrypoint.empty());
  c = DecodeImageConfig(R"({"architecture": "amd64"})", &error);
  ASSERT_TRUE(c) << error;
  EXPECT_TRUE(c->cmd.empty());
}

TEST(OciTest, RefusesAMalformedImageConfig) {
  std::string error;
  EXPECT_FALSE(DecodeImageConfig("", &error));
  EXPECT_FALSE(DecodeImageConfig(R"({"config": []})", &error));
  EXPECT_NE(error.find("not an object"), std::string::npos) << error;
  EXPECT_FALSE(DecodeImageConfig(R"({"config": {"Cmd": "sh -c x"}})", &error));
  EXPECT_NE(error.find("Cmd is not a list"), std::string::npos) << error;
  EXPECT_FALSE(DecodeImageConfig(R"({"config": {"Env": ["A=1", 2]}})", &error));
  EXPECT_NE(error.find("Env holds a value that is not a string"), std::string::npos) << error;
}

TEST(OciTest, Sha256DigestIsTheStandardOne) {
  EXPECT_EQ(Sha256Digest(""),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256Digest("abc"),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(ChallengeTest, ReadsBearerParametersAndQuotedStrings) {
  std::optional<Challenge> c = ParseChallenge(
      R"(Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/ubuntu:pull")");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->scheme, "bearer");
  EXPECT_EQ(c->params["realm"], "https://auth.docker.io/token");
  EXPECT_EQ(c->params["service"], "registry.docker.io");
  EXPECT_EQ(c->params["scope"], "repository:library/ubuntu:pull");
  c = ParseChallenge(R"(Basic Realm="a \"quoted\" realm", charset=UTF-8)");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->scheme, "basic");
  EXPECT_EQ(c->params["realm"], R"(a "quoted" realm)");
  EXPECT_EQ(c->params["charset"], "UTF-8");
}

TEST(ChallengeTest, MalformedHeadersGiveNothingOrWhatCameBeforeTheFault) {
  EXPECT_FALSE(ParseChallenge(""));
  EXPECT_FALSE(ParseChallenge("  =x"));
  std::optional<Challenge> c = ParseChallenge(R"(Bearer realm="unterminated)");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->params["realm"], "unterminated");
  c = ParseChallenge("Bearer realm=a, Basic realm=b");  // a second challenge ends the first
  ASSERT_TRUE(c);
  EXPECT_EQ(c->params["realm"], "a");
  EXPECT_EQ(c->params.size(), 1u);
}

TEST(DockerConfigTest, ReadsAuthAndUsernamePasswordUnderEveryKeyForm) {
  DockerConfig config;
  std::string error;
  std::string json = R"({"auths": {
      "https://index.docker.io/v1/": {"auth": ")" +
                     common::EncodeBase64("hub:secret:with:colons") + R"("},
      "ghcr.io": {"username": "gh", "password": "token"},
      "https://127.0.0.1:5000/v2/": {"auth": ")" +
                     common::EncodeBase64("local:pw") + R"("}}})";
  ASSERT_TRUE(config.Parse(json, &error)) << error;
  EXPECT_EQ(config.size(), 3u);
  EXPECT_EQ(config.Lookup("docker.io").username, "hub");
  EXPECT_EQ(config.Lookup("docker.io").password, "secret:with:colons");
  EXPECT_EQ(config.Lookup("ghcr.io").password, "token");
  EXPECT_EQ(config.Lookup("127.0.0.1:5000").username, "local");
  EXPECT_TRUE(config.Lookup("quay.io").empty());
}

TEST(DockerConfigTest, TheFirstSourceToNameARegistryWins) {
  DockerConfig first, second;
  std::string error;
  ASSERT_TRUE(first.Parse(R"({"auths": {"ghcr.io": {"username": "a", "password": "1"}}})", &error));
  ASSERT_TRUE(second.Parse(R"({"auths": {"ghcr.io": {"username": "b", "password": "2"},
                                          "quay.io": {"username": "q", "password": "3"}}})",
                           &error));
  first.Merge(second);
  EXPECT_EQ(first.Lookup("ghcr.io").username, "a");
  EXPECT_EQ(first.Lookup("quay.io").username, "q");
}

TEST(DockerConfigTest, RefusesWhatIsNotADockerConfigAndKeepsWhatItHad) {
  DockerConfig config;
  std::string error;
  ASSERT_TRUE(config.Parse(R"({"auths": {"ghcr.io": {"username": "a"}}})", &error));
  EXPECT_FALSE(config.Parse("{}", &error));
  EXPECT_NE(error.find("no \"auths\""), std::string::npos) << error;
  EXPECT_FALSE(config.Parse("not json", &error));
  EXPECT_FALSE(
      config.Parse(R"({"auths": {"x.io": {"auth": "bm9jb2xvbg=="}}})", &error));  // "nocolon"
  EXPECT_NE(error.find("user:password"), std::string::npos) << error;
  EXPECT_FALSE(config.Parse(R"({"auths": {"x.io": {"auth": "!!"}}})", &error));
  EXPECT_EQ(config.Lookup("ghcr.io").username, "a");
  EXPECT_EQ(NormaliseRegistryKey("HTTPS://Registry.Example:5000/v2/"), "registry.example:5000");
}

std::string PullSecret(std::string_view type, std::string_view key, std::string_view data) {
  return R"({"apiVersion":"v1","kind":"Secret","metadata":{"name":"regcred"},"type":")" +
         std::string(type) + R"(","data":{")" + std::string(key) + R"(":")" + std::string(data) +
         R"("}})";
}

TEST(PullSecretTest, ReadsBothDockerSecretTypesAsTheKubeletDoes) {
  DockerConfig config;
  std::string error;
  std::string json = R"({"auths":{"registry.example":{"auth":")" +
                     common::EncodeBase64("robot:s3cret") + R"("}}})";
  ASSERT_TRUE(ParsePullSecret(
      PullSecret("kubernetes.io/dockerconfigjson", ".dockerconfigjson", common::EncodeBase64(json)),
      &config, &error))
      << error;
  EXPECT_EQ(config.Lookup("registry.example").username, "robot");
  // The older type holds the "auths" map alone.
  DockerConfig legacy;
  std::string cfg = R"({"https://old.example/v1/":{"username":"u","password":"p"}})";
  ASSERT_TRUE(ParsePullSecret(
      PullSecret("kubernetes.io/dockercfg", ".dockercfg", common::EncodeBase64(cfg)), &legacy,
      &error))
      << error;
  EXPECT_EQ(legacy.Lookup("old.example").password, "p");
}

TEST(PullSecretTest, RefusesWhatIsNotAPullSecretWithTheReason) {
  struct Case {
    std::string json;
    std::string error;
  };
  std::string good = common::EncodeBase64(R"({"auths":{}})");
  for (const Case& c : std::vector<Case>{
           {"not json", "not a Secret"},
           {"[1]", "not a Secret"},
           {PullSecret("Opaque", ".dockerconfigjson", good), "type \"Opaque\""},
           {PullSecret("kubernetes.io/dockerconfigjson", ".dockercfg", good),
            "data[\".dockerconfigjson\"] is missing"},
           {PullSecret("kubernetes.io/dockerconfigjson", ".dockerconfigjson", "%%%"), "not base64"},
           {PullSecret("kubernetes.io/dockerconfigjson", ".dockerconfigjson",
                       common::EncodeBase64("{}")),
            "no \"auths\" object"},
       }) {
    DockerConfig config;
    std::string error;
    EXPECT_FALSE(ParsePullSecret(c.json, &config, &error)) << c.json;
    EXPECT_NE(error.find(c.error), std::string::npos) << c.json << " -> " << error;
    EXPECT_EQ(config.size(), 0u);
  }
}

// Secrets served from memory, counting reads.
class MemorySecrets : public SecretReader {
 public:
  bool ReadSecret(const std::string& namespace_, const std::string& name, std::string* json,
                  std::string* error) override {
    ++reads;
    auto it = secrets.find(namespace_ + "/" + name);
    if (it == secrets.end()) {
      *error = "404 NotFound";
      return false;
    }
    *json = it->second;
    return true;
  }
  std::map<std::string, std::string> secrets;
  int reads = 0;
};

std::string SecretFor(const std::string& registry, const std::string& user) {
  return PullSecret("kubernetes.io/dockerconfigjson", ".dockerconfigjson",
                    common::EncodeBase64(R"({"auths":{")" + registry + R"(":{"auth":")" +
                                         common::EncodeBase64(user + ":pw") + R"("}}})"));
}

TEST(CredentialStoreTest, ThePodsPullSecretsComeFirstInOrderThenTheMountedConfig) {
  MemorySecrets secrets;
  secrets.secrets["team/first"] = SecretFor("other.example", "first");
  secrets.secrets["team/second"] = SecretFor("registry.example", "second");
  secrets.secrets["team/third"] = SecretFor("registry.example", "third");
  DockerConfig mounted;
  std::string error;
  ASSERT_TRUE(mounted.Parse(R"({"auths":{"registry.example":{"username":"node","password":"x"},
                                          "mounted.example":{"username":"node","password":"x"}}})",
                            &error));
  common::SimulatedClock clock;
  CredentialStore store(mounted, &secrets, clock);
  std::vector<std::string> names = {"missing", "first", "second", "third"};
  EXPECT_EQ(store.Lookup("registry.example", "team", names).username, "second");
  EXPECT_EQ(store.Lookup("mounted.example", "team", names).username, "node");
  EXPECT_TRUE(store.Lookup("nobody.example", "team", names).empty());
  // Another namespace's Secrets are its own.
  EXPECT_EQ(store.Lookup("registry.example", "elsewhere", names).username, "node");
  // Without an API, only the mounted config.
  CredentialStore offline(mounted, nullptr, clock);
  EXPECT_EQ(offline.Lookup("registry.example", "team", names).username, "node");
}

TEST(CredentialStoreTest, ASecretIsReadOncePerTtlAndSoIsItsFailure) {
  MemorySecrets secrets;
  secrets.secrets["team/regcred"] = SecretFor("registry.example", "robot");
  secrets.secrets["team/opaque"] = PullSecret("Opaque", "x", "eA==");
  common::SimulatedClock clock;
  CredentialStore store({}, &secrets, clock, std::chrono::seconds(60));
  std::vector<std::string> names = {"regcred", "gone", "opaque"};
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(store.Lookup("registry.example", "team", names).username, "robot");
    EXPECT_TRUE(store.Lookup("other.example", "team", names).empty());
  }
  EXPECT_EQ(secrets.reads, 3);  // regcred, gone and opaque, each once
  // A rotated Secret is seen once the ttl has passed.
  secrets.secrets["team/regcred"] = SecretFor("registry.example", "rotated");
  clock.Advance(std::chrono::seconds(59));
  EXPECT_EQ(store.Lookup("registry.example", "team", names).username, "robot");
  clock.Advance(std::chrono::seconds(1));
  EXPECT_EQ(store.Lookup("registry.example", "team", names).username, "rotated");
  EXPECT_EQ(secrets.reads, 4);  // a hit on the first name stops the lookup
}

}  // namespace
}  // namespace stratum_guard::registry
