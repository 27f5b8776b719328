#pragma once
// Scripted registries for tests: images held in memory, served by a TLS server whose every
// answer the test controls (test/testing/tls_server.h), for what the real docker-registry cannot
// do on demand, such as answering only when the test lets it.

#include <condition_variable>
#include <mutex>
#include <string>

#include "registry/oci.h"
#include "test/testing/tls_server.h"

namespace stratum_guard::registry::test {

using stratum_guard::testing::ServerRequest;
using stratum_guard::testing::Stream;
using stratum_guard::testing::TlsServer;

// One image held in memory: its config and the manifest naming it.
struct Image {
  std::string config;
  std::string config_digest;
  std::string manifest;
  std::string manifest_digest;

  explicit Image(const std::string& env) {
    config = R"({"config":{"Entrypoint":["/app"],"Env":[")" + env + R"("]}})";
    config_digest = Sha256Digest(config);
    manifest = R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",)"
               R"("config":{"digest":")" +
               config_digest + R"(","size":1},"layers":[]})";
    manifest_digest = Sha256Digest(manifest);
  }
};

inline bool ReplyTyped(Stream& s, const ServerRequest& r, int status, std::string body,
                       const std::string& content_type, const std::string& extra_name = "",
                       const std::string& extra_value = "") {
  testing::tls_server_detail::http::response<testing::tls_server_detail::http::string_body> res{
      static_cast<testing::tls_server_detail::http::status>(status), r.version()};
  res.set("Content-Type", content_type);
  if (!extra_name.empty()) res.set(extra_name, extra_value);
  res.keep_alive(r.keep_alive());
  res.body() = std::move(body);
  res.prepare_payload();
  boost::beast::error_code ec;
  testing::tls_server_detail::http::write(s, res, ec);
  return !ec;
}

// A registry whose answers wait until the test lets them go.
class SlowRegistry {
 public:
  explicit SlowRegistry(const Image& image)
      : server_([this, &image](Stream& s, const ServerRequest& r) {
          {
            std::unique_lock lock(mu_);
            ++requests_;
            released_.wait(lock, [this] { return open_; });
          }
          if (r.target().find("/manifests/") != std::string::npos) {
            return ReplyTyped(s, r, 200, image.manifest,
                              "application/vnd.oci.image.manifest.v1+json");
          }
          return ReplyTyped(s, r, 200, image.config, "application/octet-stream");
        }) {}
  ~SlowRegistry() { Release(); }

  void Release() {
    std::lock_guard lock(mu_);
    open_ = true;
    released_.notify_all();
  }
  int requests() {
    std::lock_guard lock(mu_);
    return requests_;
  }
  std::string host() const { return "127.0.0.1:" + server_.Options().port; }

 private:
  std::mutex mu_;
  std::condition_variable released_;
  bool open_ = false;
  int requests_ = 0;
  TlsServer server_;
};

}  // namespace stratum_guard::registry::test
