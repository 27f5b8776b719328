#pragma once

#include <chrono>
#include <cstddef>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "common/clock.h"
#include "registry/auth.h"
#include "registry/image_reference.h"
#include "registry/oci.h"

namespace stratum_guard::https {
class Client;
}

namespace stratum_guard::registry {

struct RegistryOptions {
  Platform platform;   // the entry picked from an index
  std::string ca_pem;  // CAs trusted for every registry; empty: the system's store
  // Registries ("host[:port]") whose certificate is not verified: tests and air-gapped
  // clusters with a self-signed registry. Plain HTTP is never spoken.
  std::set<std::string, std::less<>> insecure_registries;
  // registry -> "host[:port]" that serves its API instead (a pull-through cache).
  std::map<std::string, std::string, std::less<>> mirrors;
  std::chrono::milliseconds connect_timeout{5'000};
  std::chrono::milliseconds request_timeout{10'000};
  // Larger documents are refused: a manifest is a few KiB, a config rarely 100 KiB.
  std::size_t max_document_bytes = std::size_t{4} << 20;
  int max_redirects = 5;
};

// The longest one Fetch can take with `options`: a connection and the requests of a token, an
// index, a manifest and a config. What a caller with no deadline of its own (`check`, the
// sweeper) waits at most.
std::chrono::milliseconds FetchTimeBound(const RegistryOptions& options);

struct FetchError {
  enum class Kind {
    kNone,
    kTransport,   // connect, TLS, timeout, a redirect loop, an unexpected status
    kAuth,        // 401/403, or a token server that gave no token
    kNotFound,    // 404: no such repository, tag or digest
    kMalformed,   // a document that does not decode or does not match its digest
    kNoPlatform,  // an index with no entry for the wanted platform
    kCancelled,
  };
  Kind kind = Kind::kNone;
  std::string message;
  bool ok() const { return kind == Kind::kNone; }
};

// The name of a kind for metric labels and logs: "transport", "auth", ...
const char* KindName(FetchError::Kind kind);

struct FetchResult {
  FetchError error;
  std::string manifest_digest;  // of the platform's image manifest
  ImageConfig config;
};

// Reads an image's configuration through the OCI Distribution API: the manifest (through an
// index to the wanted platform), then the config blob, each checked against its digest. Answers
// Basic and Bearer challenges (a token from the challenge's realm, cached per scope) and follows
// redirects, without sending the registry's credentials to another host. Blocking; several
// threads may call Fetch at once.
class RegistryClient {
 public:
  explicit RegistryClient(RegistryOptions options);
  ~RegistryClient();
  RegistryClient(const RegistryClient&) = delete;
  RegistryClient& operator=(const RegistryClient&) = delete;

  FetchResult Fetch(const ImageReference& image, const RegistryCredentials& credentials,
                    const common::CancelCheck& cancelled);

  struct Call;

 private:
  https::Client& ClientFor(const std::string& host, const std::string& port);

  RegistryOptions options_;
  std::mutex mu_;
  std::map<std::string, std::unique_ptr<https::Client>> clients_;  // by "host:port"
  std::map<std::string, std::string> tokens_;  // "realm service scope" -> bearer token
  friend struct Call;
};

}  // namespace stratum_guard::registry
