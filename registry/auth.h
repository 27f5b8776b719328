#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace stratum_guard::registry {

// A registry's answer to an unauthenticated request (RFC 7235's WWW-Authenticate), as the
// Distribution API uses it: Basic, or Bearer with the token server's realm, service and scope.
struct Challenge {
  std::string scheme;                         // "basic" or "bearer", lower-cased
  std::map<std::string, std::string> params;  // keys lower-cased: realm, service, scope, ...
};

// The first challenge in `header`. nullopt when it has no scheme.
std::optional<Challenge> ParseChallenge(std::string_view header);

struct RegistryCredentials {
  std::string username;
  std::string password;
  bool empty() const { return username.empty() && password.empty(); }
};

// Credentials by registry, from the JSON of a docker config (~/.docker/config.json) or of a
// `kubernetes.io/dockerconfigjson` Secret's .dockerconfigjson: an "auths" map whose keys are a
// registry host, possibly as a URL ("https://index.docker.io/v1/"), and whose values hold
// "auth" (base64 of user:password) or "username" and "password".
class DockerConfig {
 public:
  // A document that is not such a config gives false with `error` set and changes nothing.
  bool Parse(std::string_view json, std::string* error);
  // Entries of `other` not already here are added: the first source to name a registry wins,
  // as the kubelet tries a pod's pull secrets in order.
  void Merge(const DockerConfig& other);
  // The credentials for `registry` ("docker.io", "ghcr.io", "127.0.0.1:5000"), or empty ones.
  RegistryCredentials Lookup(std::string_view registry) const;
  std::size_t size() const { return by_host_.size(); }

 private:
  std::map<std::string, RegistryCredentials, std::less<>> by_host_;
};

// The docker config of an image pull Secret's JSON, as the kubelet reads one: a
// `kubernetes.io/dockerconfigjson` Secret's data[".dockerconfigjson"], or the older
// `kubernetes.io/dockercfg` one's data[".dockercfg"] (the "auths" map alone), base64 as the API
// serves data. Another type, or data that does not decode, gives false with `error` set.
bool ParsePullSecret(std::string_view secret_json, DockerConfig* config, std::string* error);

// The host of a docker config key: "https://index.docker.io/v1/" and "index.docker.io" are
// docker.io; a URL's scheme and path are dropped.
std::string NormaliseRegistryKey(std::string_view key);

}  // namespace stratum_guard::registry
