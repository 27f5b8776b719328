// ParseKubeconfig on any YAML: a kubeconfig is read from a path the operator gives, often one a
// tool wrote. A bad one is a KubeConfigError, never a crash. Paths inside it resolve against a
// directory that does not exist, so the target reads no real file through a relative path.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "kube/kube_config.h"

using namespace stratum_guard;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    kube::ParseKubeconfig(text, "/nonexistent-fuzz-dir", "fuzz");
  } catch (const kube::KubeConfigError&) {
  }
  return 0;
}
