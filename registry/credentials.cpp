#include "registry/credentials.h"

#include <utility>

#include "common/log.h"

namespace stratum_guard::registry {
namespace {

// Secrets remembered at once. A cluster's pull secrets are few; a flood of distinct names (a
// hostile or broken client) empties the memory rather than growing it.
constexpr std::size_t kMaxSecrets = 4096;

}  // namespace

CredentialStore::CredentialStore(DockerConfig mounted, SecretReader* secrets, common::Clock& clock,
                                 std::chrono::milliseconds ttl)
    : mounted_(std::move(mounted)), secrets_(secrets), clock_(clock), ttl_(ttl) {}

DockerConfig CredentialStore::Secret(const std::string& namespace_, const std::string& name) {
  const std::string key = namespace_ + "/" + name;
  {
    std::lock_guard lock(mu_);
    auto it = read_.find(key);
    if (it != read_.end() && clock_.Now() - it->second.at < ttl_) return it->second.config;
  }
  // Read without the lock: an API call may take seconds, and other workers' lookups must not
  // wait on it. Two workers may read one Secret at once; both store the same thing.
  DockerConfig config;
  std::string json;
  std::string error;
  if (!secrets_->ReadSecret(namespace_, name, &json, &error) ||
      !ParsePullSecret(json, &config, &error)) {
    // Once per Secret per ttl: the image is then fetched without these credentials, and a
    // private registry's refusal is what the inspection's error reports.
    common::Log(common::LogLevel::kWarn, "image pull secret not usable",
                {{"namespace", namespace_}, {"secret", name}, {"error", error}});
  }
  std::lock_guard lock(mu_);
  if (read_.size() >= kMaxSecrets) read_.clear();
  read_[key] = Read{config, clock_.Now()};
  return config;
}

RegistryCredentials CredentialStore::Lookup(std::string_view registry,
                                            const std::string& namespace_,
                                            std::span<const std::string> pull_secrets) {
  if (secrets_ != nullptr) {
    for (const std::string& name : pull_secrets) {
      RegistryCredentials found = Secret(namespace_, name).Lookup(registry);
      if (!found.empty()) return found;
    }
  }
  return mounted_.Lookup(registry);
}

}  // namespace stratum_guard::registry
