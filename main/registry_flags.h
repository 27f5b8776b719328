#pragma once

#include <CLI/CLI.hpp>
#include <memory>
#include <string>
#include <vector>

#include "registry/auth.h"
#include "registry/client.h"
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

}  // namespace stratum_guard::cli
