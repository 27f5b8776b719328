#include "main/registry_flags.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <cstdlib>
#include <filesystem>

#include "common/files.h"
#include "common/log.h"
#include "kube/kube_client.h"
#include "kube/kube_config.h"
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

// A pull Secret read through the API, handed on as the JSON the API served.
class ImageInspection::ApiSecrets : public registry::SecretReader {
 public:
  explicit ApiSecrets(kube::KubeApi& api) : api_(api) {}
  bool ReadSecret(const std::string& namespace_, const std::string& name, std::string* json,
                  std::string* error) override {
    rapidjson::StringBuffer buffer;
    kube::KubeError status = api_.GetSecret(namespace_, name, [&](const rapidjson::Value& secret) {
      buffer.Clear();
      rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
      secret.Accept(writer);
    });
    if (!status.ok()) {
      *error = "get Secret: " + status.ToString();
      return false;
    }
    json->assign(buffer.GetString(), buffer.GetSize());
    return true;
  }

 private:
  kube::KubeApi& api_;
};

ImageInspection::ImageInspection(const RegistryConfig& config, registry::DockerConfig mounted,
                                 kube::KubeApi* api)
    : secrets_(api != nullptr ? std::make_unique<ApiSecrets>(*api) : nullptr),
      credentials_(std::move(mounted), secrets_.get(), common::SystemClock::Instance()),
      client_(config.options),
      inspector_(client_, common::SystemClock::Instance(), config.inspector) {}

ImageInspection::~ImageInspection() = default;

std::string StartImageInspection(RegistryConfig& config, const std::string& kubeconfig,
                                 const common::StopSignal& stop, ImageInspectionRuntime* out) {
  if (!config.inspect_images) return {};
  registry::DockerConfig mounted;
  if (std::string error = FinishRegistryConfig(config, &mounted); !error.empty()) return error;
  try {
    kube::KubeClient::Options options;
    // A Secret is read on an inspector worker, while reviews may wait on it: a stalled API
    // server costs a fetch seconds, not the client's default half-minute.
    options.request_timeout = std::chrono::seconds(5);
    options.connect_timeout = std::chrono::seconds(5);
    options.cancelled = [&stop] { return stop.stopped(); };
    out->api = std::make_unique<kube::KubeClient>(
        kube::ResolveClusterConfig(kubeconfig, kube::ProcessEnv()), options);
  } catch (const kube::KubeConfigError& e) {
    common::Log(common::LogLevel::kWarn,
                "image inspection: no Kubernetes API configuration, so pods' imagePullSecrets "
                "are not read (only --docker-config)",
                {{"error", e.what()}});
  }
  out->images = std::make_unique<ImageInspection>(config, std::move(mounted), out->api.get());
  common::Log(common::LogLevel::kInfo, "image inspection on",
              {{"pull_secrets", out->api != nullptr},
               {"cache_bytes", static_cast<std::int64_t>(config.inspector.max_cache_bytes)}});
  return {};
}

}  // namespace stratum_guard::cli
