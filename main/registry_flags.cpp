#include "main/registry_flags.h"

#include <cstdlib>
#include <filesystem>

#include "common/files.h"
#include "main/flags.h"

namespace stratum_guard::cli {

void AddRegistryFlags(CLI::App& app, RegistryConfig& config) {
  app.add_flag("--inspect-images", config.inspect_images,
               "Read each image's config from its registry and judge its Entrypoint, Cmd and Env "
               "too (off by default: it adds registry traffic)");
  app.add_option("--registry-ca", config.ca_file,
                 "PEM file of CAs trusted for registries (default: the system's store)");
  app.add_option("--insecure-registry", config.insecure,
                 "HOST[:PORT] of a registry whose certificate is not verified (repeatable)");
  app.add_option("--registry-mirror", config.mirrors,
                 "REGISTRY=HOST[:PORT]: read REGISTRY's images from a mirror (repeatable)");
  app.add_option("--docker-config", config.docker_config,
                 "Registry credentials (a docker config.json); default $DOCKER_CONFIG/config.json, "
                 "then ~/.docker/config.json");
  DurationFlag(app, "--registry-timeout", config.options.request_timeout,
               "Deadline of one registry request");
  DurationFlag(app, "--image-tag-ttl", config.inspector.tag_ttl,
               "How long a tag's resolution to a digest is trusted");
  app.add_option("--image-cache-bytes", config.inspector.max_cache_bytes,
                 "Bound of the image config cache")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
}

std::string FinishRegistryConfig(RegistryConfig& config, registry::DockerConfig* credentials) {
  if (!config.ca_file.empty()) {
    std::string error;
    std::optional<std::string> pem = common::ReadFile(config.ca_file, &error);
    if (!pem) return "--registry-ca: " + error;
    config.options.ca_pem = std::move(*pem);
  }
  for (const std::string& host : config.insecure) config.options.insecure_registries.insert(host);
  for (const std::string& mirror : config.mirrors) {
    std::size_t eq = mirror.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == mirror.size()) {
      return "--registry-mirror \"" + mirror + "\": expected REGISTRY=HOST[:PORT]";
    }
    config.options.mirrors[mirror.substr(0, eq)] = mirror.substr(eq + 1);
  }
  std::string path = config.docker_config;
  if (path.empty()) {
    if (const char* dir = std::getenv("DOCKER_CONFIG"); dir != nullptr && *dir != '\0') {
      path = std::string(dir) + "/config.json";
    } else if (const char* home = std::getenv("HOME"); home != nullptr && *home != '\0') {
      path = std::string(home) + "/.docker/config.json";
    }
    std::error_code ec;
    if (path.empty() || !std::filesystem::exists(path, ec)) return {};
  }
  std::string error;
  std::optional<std::string> json = common::ReadFile(path, &error);
  if (!json) return "--docker-config: " + error;
  if (!credentials->Parse(*json, &error)) return "--docker-config " + path + ": " + error;
  return {};
}

}  // namespace stratum_guard::cli
