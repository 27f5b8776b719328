#pragma once
// A real registry for tests: Debian's docker-registry (distribution 2.8) on 127.0.0.1 with TLS,
// and OCI image layouts written here and pushed to it with skopeo. No container runs: an image
// is a config and one empty layer.

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "registry/auth.h"
#include "registry/oci.h"
#include "test/testing/child_process.h"
#include "test/testing/temp_dir.h"
#include "test/testing/tls_server.h"

namespace stratum_guard::registry::test {

using namespace std::chrono_literals;
using stratum_guard::testing::ChildProcess;
using stratum_guard::testing::Pki;
using stratum_guard::testing::TempDir;

inline constexpr char kRegistryBinary[] = "/usr/bin/docker-registry";
inline constexpr char kSkopeo[] = "/usr/bin/skopeo";
inline const RegistryCredentials kTester{"tester", "not-a-secret"};  // test/registry/htpasswd

inline void WriteFile(const std::string& path, std::string_view contents) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << contents;
  ASSERT_TRUE(out) << path;
}

// An OCI image layout on disk, as skopeo reads it: content-addressed blobs and an index.json
// that names one entry (an image manifest or an image index) by its ref name.
class OciLayout {
 public:
  explicit OciLayout(const std::string& dir) : dir_(dir) {
    std::filesystem::create_directories(dir_ + "/blobs/sha256");
    WriteFile(dir_ + "/oci-layout", R"({"imageLayoutVersion":"1.0.0"})");
  }

  // Returns the blob's "sha256:..." digest.
  std::string Blob(std::string_view bytes) {
    std::string digest = Sha256Digest(bytes);
    WriteFile(dir_ + "/blobs/sha256/" + digest.substr(7), bytes);
    return digest;
  }

  struct Descriptor {
    std::string media_type, digest;
    std::size_t size;
    std::string platform_json;  // optional
  };

  Descriptor Image(const std::string& config_json, const std::string& arch = "amd64") {
    // An empty tar archive (its 1,024-byte end marker), gzip'd: a layer skopeo and the
    // registry accept; its diff_id is in Config().
    static const std::string kEmptyLayer(
        "\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\x03\x63\x60\x18\x05\xa3\x60\x14\x8c\x54\x00"
        "\x00\x2e\xaf\xb5\xef\x00\x04\x00\x00",
        29);
    std::string layer = Blob(kEmptyLayer);
    std::string config = Blob(config_json);
    std::string manifest =
        R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",)"
        R"("config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":")" +
        config + R"(","size":)" + std::to_string(config_json.size()) +
        R"(},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":")" +
        layer + R"(","size":)" + std::to_string(kEmptyLayer.size()) + "}]}";
    return {"application/vnd.oci.image.manifest.v1+json", Blob(manifest), manifest.size(),
            R"({"os":"linux","architecture":")" + arch + R"("})"};
  }

  Descriptor Index(const std::vector<Descriptor>& entries) {
    std::string index =
        R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[)";
    for (std::size_t i = 0; i < entries.size(); ++i) {
      index += (i ? "," : "") + Json(entries[i]);
    }
    index += "]}";
    return {"application/vnd.oci.image.index.v1+json", Blob(index), index.size(), ""};
  }

  void Tag(const Descriptor& d, const std::string& tag) {
    Descriptor named = d;
    named.platform_json.clear();
    std::string json = Json(named);
    json.insert(json.size() - 1,
                R"(,"annotations":{"org.opencontainers.image.ref.name":")" + tag + R"("})");
    WriteFile(dir_ + "/index.json", R"({"schemaVersion":2,"manifests":[)" + json + "]}");
  }

  const std::string& dir() const { return dir_; }

 private:
  static std::string Json(const Descriptor& d) {
    std::string out = R"({"mediaType":")" + d.media_type + R"(","digest":")" + d.digest +
                      R"(","size":)" + std::to_string(d.size);
    if (!d.platform_json.empty()) out += R"(,"platform":)" + d.platform_json;
    return out + "}";
  }
  std::string dir_;
};

inline std::string Config(const std::string& entrypoint, const std::string& cmd,
                          const std::string& env) {
  return R"({"architecture":"amd64","os":"linux","config":{"Entrypoint":)" + entrypoint +
         R"(,"Cmd":)" + cmd + R"(,"Env":)" + env +
         R"(},"rootfs":{"type":"layers","diff_ids":["sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef"]}})";
}

// docker-registry serving TLS with the test CA's server certificate (127.0.0.1), optionally
// behind htpasswd Basic auth.
class Registry {
 public:
  explicit Registry(bool basic_auth) {
    WriteFile(dir_.File("cert.pem"), Pki().server_cert_pem);
    WriteFile(dir_.File("key.pem"), Pki().server_key_pem);
    std::string config =
        "version: 0.1\nlog: {level: info}\nstorage: {filesystem: {rootdirectory: " +
        dir_.File("data") +
        "}}\nhttp:\n  addr: 127.0.0.1:0\n  tls: {certificate: " + dir_.File("cert.pem") +
        ", key: " + dir_.File("key.pem") + "}\n";
    if (basic_auth) {
      config += "auth: {htpasswd: {realm: stratum-guard-test, path: " +
                std::string(STRATUM_GUARD_TEST_HTPASSWD) + "}}\n";
    }
    WriteFile(dir_.File("config.yml"), config);
    process_ = std::make_unique<ChildProcess>(
        kRegistryBinary, std::vector<std::string>{"serve", dir_.File("config.yml")});
    std::optional<std::string> line = process_->WaitForLine(
        [](const std::string& l) { return l.find("listening on 127.0.0.1:") != std::string::npos; },
        20s);
    if (!line) throw std::runtime_error("docker-registry did not start");
    std::size_t at = line->find("listening on 127.0.0.1:") + 23;
    port_ = line->substr(at, line->find_first_not_of("0123456789", at) - at);
  }

  std::string host() const { return "127.0.0.1:" + port_; }

  // Pushes the layout's tagged entry (every platform of an index) as REPO:TAG.
  void Push(const OciLayout& layout, const std::string& tag, const std::string& repo,
            bool with_credentials = false) {
    std::vector<std::string> args = {"copy", "--quiet", "--all", "--dest-tls-verify=false"};
    if (with_credentials)
      args.push_back("--dest-creds=" + kTester.username + ":" + kTester.password);
    args.push_back("oci:" + layout.dir() + ":" + tag);
    args.push_back("docker://" + host() + "/" + repo + ":" + tag);
    ChildProcess skopeo(kSkopeo, args);
    ASSERT_EQ(skopeo.WaitExit(60s), 0) << "skopeo copy failed";
  }

 private:
  TempDir dir_;
  std::unique_ptr<ChildProcess> process_;
  std::string port_;
};

// The two images most tests need, pushed to `registry` from layouts under `dir`: a miner whose
// Entrypoint and Cmd run xmrig against a pool (so its pod spec can say nothing), as
// MINER_REPO:v1, and an nginx-like web server, as team/web:v1.
inline void PushMinerAndWeb(Registry& registry, const TempDir& dir, const std::string& miner_repo) {
  OciLayout miner(dir.File("miner"));
  miner.Tag(
      miner.Image(Config(R"(["/usr/local/bin/xmrig"])",
                         R"(["-o","stratum+tcp://pool.example:3333"])", R"(["PATH=/usr/bin"])")),
      "v1");
  registry.Push(miner, "v1", miner_repo);
  OciLayout web(dir.File("web"));
  web.Tag(web.Image(Config(R"(["/docker-entrypoint.sh"])", R"(["nginx","-g","daemon off;"])",
                           R"(["NGINX_VERSION=1.25.3"])")),
          "v1");
  registry.Push(web, "v1", "team/web");
}

// A miner whose Entrypoint and Cmd run xmrig against a pool, pushed as REPO:v1 to a registry
// behind Basic auth (kTester's credentials).
inline void PushPrivateMiner(Registry& registry, const TempDir& dir, const std::string& repo) {
  OciLayout miner(dir.File("private"));
  miner.Tag(
      miner.Image(Config(R"(["xmrig"])", R"(["--url","stratum+tcp://pool.example:3333"])", "[]")),
      "v1");
  registry.Push(miner, "v1", repo, true);
}

}  // namespace stratum_guard::registry::test
