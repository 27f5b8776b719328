#pragma once

#include <chrono>
#include <map>
#include <mutex>
#include <span>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "registry/auth.h"

namespace stratum_guard::registry {

// Reads a Secret through the Kubernetes API. main/ implements it over kube::KubeApi, so that
// this library needs no Kubernetes client.
class SecretReader {
 public:
  virtual ~SecretReader() = default;
  // The Secret's JSON; false with `error` set when it cannot be read (404, 403, transport).
  virtual bool ReadSecret(const std::string& namespace_, const std::string& name, std::string* json,
                          std::string* error) = 0;
};

// The registry credentials of a workload's images, found as the kubelet finds them: the pod's
// imagePullSecrets in order, then the mounted docker config (the node's credentials, for the
// kubelet). A Secret is read only when a fetch needs credentials, which is on the inspector's
// workers and never on a cache hit, and what was read (or why it could not be) is kept for
// `ttl`: a flood of reviews costs one read per Secret per `ttl`. Thread-safe.
class CredentialStore {
 public:
  // `secrets` may be null (`check`, or inspection without API access): pull secrets are then
  // not read. `secrets` and `clock` must outlive the store.
  CredentialStore(DockerConfig mounted, SecretReader* secrets, common::Clock& clock,
                  std::chrono::milliseconds ttl = std::chrono::minutes(1));

  RegistryCredentials Lookup(std::string_view registry, const std::string& namespace_,
                             std::span<const std::string> pull_secrets);

 private:
  struct Read {
    DockerConfig config;  // empty when the read failed
    common::Clock::Steady at;
  };
  DockerConfig Secret(const std::string& namespace_, const std::string& name);

  const DockerConfig mounted_;
  SecretReader* const secrets_;
  common::Clock& clock_;
  const std::chrono::milliseconds ttl_;
  mutable std::mutex mu_;
  std::map<std::string, Read, std::less<>> read_;  // by "namespace/name"
};

}  // namespace stratum_guard::registry
