#include "registry/client.h"

#include <rapidjson/document.h>

#include <utility>

#include "common/base64.h"
#include "common/json.h"
#include "https/client.h"

namespace stratum_guard::registry {
namespace {

using Kind = FetchError::Kind;

FetchError Fail(Kind kind, std::string message) { return {kind, std::move(message)}; }

// "host", "host:port", "[v6]:port" -> host (no brackets) and port ("443" when absent).
void SplitHostPort(std::string_view hostport, std::string* host, std::string* port) {
  *port = "443";
  if (hostport.starts_with('[')) {
    std::size_t close = hostport.find(']');
    *host = std::string(hostport.substr(1, close - 1));
    if (close != std::string_view::npos && close + 1 < hostport.size() &&
        hostport[close + 1] == ':') {
      *port = std::string(hostport.substr(close + 2));
    }
    return;
  }
  std::size_t colon = hostport.rfind(':');
  *host = std::string(hostport.substr(0, colon));
  if (colon != std::string_view::npos) *port = std::string(hostport.substr(colon + 1));
}

struct Url {
  std::string host, port, target;
};

// Only https: a token or a redirect to plain HTTP would put credentials or content where a
// network attacker can read or change them.
std::optional<Url> ParseHttpsUrl(std::string_view url) {
  constexpr std::string_view kScheme = "https://";
  if (!url.starts_with(kScheme)) return std::nullopt;
  url.remove_prefix(kScheme.size());
  std::size_t slash = url.find_first_of("/?");
  Url out;
  SplitHostPort(url.substr(0, slash), &out.host, &out.port);
  if (out.host.empty()) return std::nullopt;
  out.target = slash == std::string_view::npos ? "/" : std::string(url.substr(slash));
  if (out.target.front() == '?') out.target.insert(0, "/");
  return out;
}

std::string QueryEscape(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    }
  }
  return out;
}

bool IsRedirect(int status) {
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

}  // namespace

std::chrono::milliseconds FetchTimeBound(const RegistryOptions& options) {
  return options.connect_timeout + 4 * options.request_timeout;
}

const char* KindName(FetchError::Kind kind) {
  switch (kind) {
    case Kind::kNone:
      return "none";
    case Kind::kTransport:
      return "transport";
    case Kind::kAuth:
      return "auth";
    case Kind::kNotFound:
      return "not_found";
    case Kind::kMalformed:
      return "malformed";
    case Kind::kNoPlatform:
      return "no_platform";
    case Kind::kCancelled:
      return "cancelled";
  }
  return "unknown";
}

// One Fetch: the registry's origin, the credentials, and the Authorization header earned so far.
struct RegistryClient::Call {
  RegistryClient& self;
  const ImageReference& image;
  const RegistryCredentials& credentials;
  const common::CancelCheck& cancelled;
  std::string host, port;
  std::string authorization;

  std::string Where() const { return host + ":" + port; }

  FetchError Do(https::Client& client, const https::Request& request, https::Response* out) {
    // Checked before each request too: a step that completes at once never looks at it.
    if (cancelled && cancelled()) return Fail(Kind::kCancelled, "cancelled");
    https::Error e = client.Do(request, out, cancelled);
    if (e.kind == https::Error::Kind::kCancelled) return Fail(Kind::kCancelled, "cancelled");
    if (!e.ok()) return Fail(Kind::kTransport, e.message);
    return {};
  }

  // GET on the registry, answering one challenge and following redirects.
  FetchError Get(const std::string& target, const std::string& accept, https::Response* out) {
    std::string h = host, p = port, t = target;
    bool challenged = false;
    for (int hop = 0; hop <= self.options_.max_redirects;) {
      bool same_origin = h == host && p == port;
      https::Request request;
      request.target = t;
      request.headers = {{"Accept", accept}};
      if (same_origin && !authorization.empty()) {
        request.headers.emplace_back("Authorization", authorization);
      }
      if (FetchError e = Do(self.ClientFor(h, p), request, out); !e.ok()) {
        e.message = "GET https://" + h + ":" + p + t + ": " + e.message;
        return e;
      }
      if (out->status == 401 && same_origin && !challenged) {
        challenged = true;
        if (FetchError e = Authenticate(std::string(out->Header("WWW-Authenticate"))); !e.ok()) {
          return e;
        }
        continue;
      }
      if (IsRedirect(out->status)) {
        ++hop;
        std::string_view location = out->Header("Location");
        if (location.empty()) {
          return Fail(Kind::kTransport, "GET " + t + " on " + Where() + " answered " +
                                            std::to_string(out->status) + " without a Location");
        }
        if (location.starts_with('/')) {
          t = std::string(location);
          continue;
        }
        std::optional<Url> url = ParseHttpsUrl(location);
        if (!url) {
          return Fail(Kind::kTransport, "GET " + t + " on " + Where() +
                                            ": a redirect to a location that is not https: \"" +
                                            std::string(location) + "\"");
        }
        h = url->host, p = url->port, t = url->target;
        continue;
      }
      if (out->status == 200) return {};
      std::string what =
          "GET " + t + " on " + h + ":" + p + " answered " + std::to_string(out->status);
      if (out->status == 401 || out->status == 403) return Fail(Kind::kAuth, what);
      if (out->status == 404) return Fail(Kind::kNotFound, what);
      return Fail(Kind::kTransport, what);
    }
    return Fail(Kind::kTransport, "GET " + target + " on " + Where() + ": more than " +
                                      std::to_string(self.options_.max_redirects) + " redirects");
  }

  std::string BasicAuthorization() const {
    return "Basic " + common::EncodeBase64(credentials.username + ":" + credentials.password);
  }

  FetchError Authenticate(const std::string& header) {
    std::optional<Challenge> challenge = ParseChallenge(header);
    if (!challenge) return Fail(Kind::kAuth, Where() + " answered 401 without a challenge");
    if (challenge->scheme == "basic") {
      if (credentials.empty()) {
        return Fail(Kind::kAuth, Where() + " asks for credentials (Basic) and none were given");
      }
      authorization = BasicAuthorization();
      return {};
    }
    if (challenge->scheme != "bearer") {
      return Fail(Kind::kAuth, Where() + " asks for the unsupported scheme " + challenge->scheme);
    }
    std::optional<Url> realm = ParseHttpsUrl(challenge->params["realm"]);
    if (!realm) {
      return Fail(Kind::kAuth, Where() + ": the token realm \"" + challenge->params["realm"] +
                                   "\" is not an https URL");
    }
    std::string scope = challenge->params.contains("scope")
                            ? challenge->params["scope"]
                            : "repository:" + image.repository + ":pull";
    realm->target += realm->target.find('?') == std::string::npos ? "?" : "&";
    realm->target +=
        "service=" + QueryEscape(challenge->params["service"]) + "&scope=" + QueryEscape(scope);
    https::Request request;
    request.target = realm->target;
    if (!credentials.empty()) request.headers.emplace_back("Authorization", BasicAuthorization());
    https::Response response;
    if (FetchError e = Do(self.ClientFor(realm->host, realm->port), request, &response); !e.ok()) {
      e.message = "token from " + realm->host + ": " + e.message;
      return e;
    }
    if (response.status != 200) {
      return Fail(Kind::kAuth,
                  "token from " + realm->host + " answered " + std::to_string(response.status));
    }
    rapidjson::Document doc;
    doc.Parse<rapidjson::kParseIterativeFlag>(response.body.data(), response.body.size());
    std::string_view token = doc.HasParseError() ? "" : common::JsonString(doc, "token");
    if (token.empty() && !doc.HasParseError()) token = common::JsonString(doc, "access_token");
    if (token.empty()) {
      return Fail(Kind::kAuth, "token from " + realm->host + ": the answer holds no token");
    }
    authorization = "Bearer " + std::string(token);
    return {};
  }

  // A manifest by tag or digest; when asked by digest, the body must be that digest.
  FetchError GetManifest(const std::string& reference, std::optional<Manifest>* manifest,
                         std::string* digest) {
    https::Response r;
    if (FetchError e =
            Get("/v2/" + image.repository + "/manifests/" + reference, kManifestAccept, &r);
        !e.ok()) {
      return e;
    }
    *digest = Sha256Digest(r.body);
    if (reference.starts_with("sha256:") && *digest != reference) {
      return Fail(Kind::kMalformed, image.ToString() + ": the manifest " + reference +
                                        " does not match its digest (" + *digest + ")");
    }
    std::string error;
    *manifest = DecodeManifest(r.body, r.Header("Content-Type"), &error);
    if (!*manifest) return Fail(Kind::kMalformed, image.ToString() + ": " + error);
    return {};
  }
};

RegistryClient::RegistryClient(RegistryOptions options) : options_(std::move(options)) {}
RegistryClient::~RegistryClient() = default;

https::Client& RegistryClient::ClientFor(const std::string& host, const std::string& port) {
  std::lock_guard lock(mu_);
  std::string key = host + ":" + port;
  auto& client = clients_[key];
  if (!client) {
    https::ClientOptions o;
    o.host = host;
    o.port = port;
    o.ca_pem = options_.ca_pem;
    o.insecure_skip_verify = options_.insecure_registries.contains(key) ||
                             (port == "443" && options_.insecure_registries.contains(host));
    o.connect_timeout = options_.connect_timeout;
    o.request_timeout = options_.request_timeout;
    o.max_body_bytes = options_.max_document_bytes;
    o.max_idle_connections = 2;
    client = std::make_unique<https::Client>(std::move(o));
  }
  return *client;
}

FetchResult RegistryClient::Fetch(const ImageReference& image,
                                  const RegistryCredentials& credentials,
                                  const common::CancelCheck& cancelled) {
  FetchResult result;
  auto mirror = options_.mirrors.find(image.registry);
  std::string api = mirror != options_.mirrors.end() ? mirror->second : ApiHost(image.registry);
  Call call{*this, image, credentials, cancelled, "", "", ""};
  SplitHostPort(api, &call.host, &call.port);
  std::string token_key = api + "/" + image.repository;
  {
    std::lock_guard lock(mu_);
    if (auto it = tokens_.find(token_key); it != tokens_.end()) call.authorization = it->second;
  }

  std::optional<Manifest> manifest;
  result.error = call.GetManifest(image.Reference(), &manifest, &result.manifest_digest);
  if (!result.error.ok()) return result;
  if (manifest->is_index) {
    const IndexEntry* entry = PickPlatform(*manifest, options_.platform);
    if (entry == nullptr) {
      std::string have;
      for (const IndexEntry& e : manifest->manifests) {
        have += (have.empty() ? "" : ", ") + e.platform.os + "/" + e.platform.architecture;
      }
      result.error =
          Fail(Kind::kNoPlatform, image.ToString() + " has no image for " + options_.platform.os +
                                      "/" + options_.platform.architecture + " (has " + have + ")");
      return result;
    }
    std::string digest = entry->digest;
    result.error = call.GetManifest(digest, &manifest, &result.manifest_digest);
    if (!result.error.ok()) return result;
    if (manifest->is_index) {
      result.error = Fail(Kind::kMalformed, image.ToString() + ": an index inside an index");
      return result;
    }
  }

  https::Response blob;
  result.error = call.Get("/v2/" + image.repository + "/blobs/" + manifest->config_digest,
                          "application/vnd.oci.image.config.v1+json, "
                          "application/vnd.docker.container.image.v1+json, */*",
                          &blob);
  if (!result.error.ok()) return result;
  if (Sha256Digest(blob.body) != manifest->config_digest) {
    result.error = Fail(Kind::kMalformed, image.ToString() + ": the config blob does not match " +
                                              manifest->config_digest);
    return result;
  }
  std::string error;
  std::optional<ImageConfig> config = DecodeImageConfig(blob.body, &error);
  if (!config) {
    result.error = Fail(Kind::kMalformed, image.ToString() + ": " + error);
    return result;
  }
  result.config = std::move(*config);
  if (!call.authorization.empty()) {
    std::lock_guard lock(mu_);
    tokens_[token_key] = call.authorization;
  }
  return result;
}

}  // namespace stratum_guard::registry
