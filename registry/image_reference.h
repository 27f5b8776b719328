#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace stratum_guard::registry {

// A container image reference as the kubelet resolves it ("nginx" is
// docker.io/library/nginx:latest), split into what the Distribution API needs.
struct ImageReference {
  std::string registry;    // "docker.io", "ghcr.io", "127.0.0.1:5000"
  std::string repository;  // "library/nginx", "org/team/app"
  std::string tag;         // "latest" when neither tag nor digest is given
  std::string digest;      // "sha256:<64 hex>"; wins over the tag when both are given

  // The manifest reference to ask for: the digest when there is one, else the tag.
  const std::string& Reference() const { return digest.empty() ? tag : digest; }
  // "registry/repository[:tag][@digest]", normalised.
  std::string ToString() const;
};

// Parses `image` with the rules of the reference grammar of distribution/reference: the
// first component is a registry when it holds '.' or ':' or is "localhost"; Docker Hub's
// single-component names are in "library/". Returns nullopt with `error` set for what no
// registry would accept (upper case in the repository, an empty component, a bad tag or digest).
std::optional<ImageReference> ParseImageReference(std::string_view image, std::string* error);

// The host the API is served from: Docker Hub's references name "docker.io", its API is at
// registry-1.docker.io.
std::string ApiHost(std::string_view registry);

}  // namespace stratum_guard::registry
