#pragma once

#include <CLI/CLI.hpp>
#include <memory>
#include <string>
#include <vector>

#include "common/clock.h"
#include "kube/kube_api.h"
#include "registry/auth.h"
#include "registry/client.h"
#include "registry/credentials.h"
#include "registry/inspector.h"

namespace stratum_guard::cli {

// Looking inside images (docs/OPERATIONS.md, "Image inspection"): the flags every subcommand
// that can do it shares, and what they build.
struct RegistryConfig {
  bool inspect_images = false;
  registry::RegistryOptions options;
  registry::InspectorOptions inspector;
  std::string ca_file;                // --registry-ca
  std::vector<std::string> insecure;  // --insecure-registry
  std::vector<std::string> mirrors;   // --registry-mirror REGISTRY=HOST[:PORT]
  std::string docker_config;          // --docker-config; empty: $DOCKER_CONFIG, then ~/.docker
};

// Registers --inspect-images, --registry-ca, --insecure-registry, --registry-mirror,
// --docker-config, --registry-timeout, --image-tag-ttl and --image-cache-bytes on `app`.
void AddRegistryFlags(CLI::App& app, RegistryConfig& config);

// After parsing: reads the CA file, the mirrors and the docker config. Returns an error message
// (a file that cannot be read, a mirror without '=', a docker config that is not one), empty
// when all is well. A docker config that does not exist is no credentials, not an error.
std::string FinishRegistryConfig(RegistryConfig& config, registry::DockerConfig* credentials);

// What --inspect-images builds: one registry client, one cache and one credential store per
// process, which the webhook and the sweeper of `serve --sweep` share (a config one of them
// fetched, the other finds). Pods' imagePullSecrets are read through `api` when it is given
// (`get` on Secrets: the manifests' image-inspection component); `check` has none.
class ImageInspection {
 public:
  // `api` (may be null) must outlive this.
  ImageInspection(const RegistryConfig& config, registry::DockerConfig mounted, kube::KubeApi* api);
  ~ImageInspection();
  registry::ImageInspector& inspector() { return inspector_; }
  registry::CredentialStore& credentials() { return credentials_; }

 private:
  class ApiSecrets;
  // In the order they depend on each other: the inspector's workers read credentials.
  std::unique_ptr<ApiSecrets> secrets_;
  registry::CredentialStore credentials_;
  registry::RegistryClient client_;
  registry::ImageInspector inspector_;
};

// For `serve` and `sweep`: what --inspect-images builds, with an API client of its own for the
// pods' pull Secrets (`kubeconfig` as --kubeconfig; calls give up once `stop` fires). Without a
// cluster configuration (a developer's `make run`), pull Secrets are not read, and the log says
// so. Both null when --inspect-images is off.
struct ImageInspectionRuntime {
  std::unique_ptr<kube::KubeApi> api;
  std::unique_ptr<ImageInspection> images;
};
// Returns an error message for a flag that does not hold (FinishRegistryConfig's), else empty.
std::string StartImageInspection(RegistryConfig& config, const std::string& kubeconfig,
                                 const common::StopSignal& stop, ImageInspectionRuntime* out);

}  // namespace stratum_guard::cli
