// What a container registry (or whoever sits between it and us) sends the registry client, and
// the image references of pod specs: manifests and indexes, image configs, WWW-Authenticate
// challenges, docker config files and pull Secrets. The first byte picks the decoder.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "registry/auth.h"
#include "registry/image_reference.h"
#include "registry/oci.h"

using namespace stratum_guard::registry;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  std::string error;
  switch (data[0] % 5) {
    case 0: {
      std::optional<Manifest> m = DecodeManifest(input, "", &error);
      if (m && m->is_index) PickPlatform(*m, Platform{});
      if (!m && error.empty()) __builtin_trap();  // a refusal always says why
      break;
    }
    case 1:
      if (!DecodeImageConfig(input, &error) && error.empty()) __builtin_trap();
      break;
    case 2:
      ParseChallenge(input);
      break;
    case 3: {
      DockerConfig config;
      if (config.Parse(input, &error)) config.Lookup("docker.io");
      // The same bytes as a pull Secret read from the API (its data base64, then a config).
      DockerConfig pulled;
      if (!ParsePullSecret(input, &pulled, &error) && error.empty()) __builtin_trap();
      break;
    }
    case 4: {
      // A parsed reference prints as a reference that parses back to itself.
      std::optional<ImageReference> ref = ParseImageReference(input, &error);
      if (!ref) break;
      std::optional<ImageReference> again = ParseImageReference(ref->ToString(), &error);
      if (!again || again->ToString() != ref->ToString()) __builtin_trap();
      break;
    }
  }
  return 0;
}
