#include "main/policy_flag.h"

#include <optional>
#include <stdexcept>

#include "common/files.h"

namespace stratum_guard::cli {

std::shared_ptr<const policy::Policy> LoadPolicyFlag(const std::string& path) {
  if (path.empty()) return policy::Policy::Default();
  std::string error;
  std::optional<std::string> text = common::ReadFile(path, &error);
  if (!text) throw std::runtime_error(error);
  return policy::Policy::Compile(*text, path);
}

}  // namespace stratum_guard::cli
