#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace stratum_guard::registry {

// Decoders for the three documents of an image the registry client reads: an index (or Docker
// manifest list), an image manifest, and the image configuration. Pure: bytes in, plain data or
// an error out. Bodies come from the network, so every field is checked before it is used.

// What `Accept` asks for: the OCI and Docker forms of an index and of a manifest.
extern const char kManifestAccept[];

struct Platform {
  std::string os = "linux";
  std::string architecture = "amd64";
  std::string variant;  // "v8" for arm64 (optional in a match)
};

struct IndexEntry {
  std::string digest;
  std::string media_type;
  Platform platform;
};

struct Manifest {
  bool is_index = false;
  std::vector<IndexEntry> manifests;  // when is_index
  std::string config_digest;          // when not
};

// Which document `body` is: from `content_type` when the registry says, else from the body's
// own mediaType or shape. Docker's schema 1 (signed, pre-2017) is refused as unsupported.
std::optional<Manifest> DecodeManifest(std::string_view body, std::string_view content_type,
                                       std::string* error);

// The entry for `want`: os and architecture equal, and the variant too when both give one.
// Attestation entries (unknown/unknown) never match. nullptr when none does.
const IndexEntry* PickPlatform(const Manifest& index, const Platform& want);

// What the image runs when a container does not say otherwise.
struct ImageConfig {
  std::vector<std::string> entrypoint;
  std::vector<std::string> cmd;
  std::vector<std::string> env;  // "NAME=value", as the config holds them
};

std::optional<ImageConfig> DecodeImageConfig(std::string_view body, std::string* error);

// "sha256:<hex>" of `bytes`: a digest is checked against the content it names, so a cache keyed
// by digest cannot be poisoned by a registry or a proxy.
std::string Sha256Digest(std::string_view bytes);

}  // namespace stratum_guard::registry
