#include "main/policy_flag.h"

#include <optional>
#include <stdexcept>

#include "common/files.h"

namespace stratum_guard::cli {

void AddEnforcementFlag(CLI::App& app, std::optional<policy::Enforcement>& target) {
  app.add_option_function<std::string>(
         "--enforcement",
         [&target](const std::string& text) {
           target = policy::ParseEnforcement(text);
           if (!target) {
             throw CLI::ValidationError("--enforcement",
                                        "must be enforce, warn or audit, not \"" + text + "\"");
           }
         },
         "enforce: deny and delete; warn: every deny becomes a warning, nothing deleted; audit: "
         "only logs, metrics and Events (default: the policy's enforcement:, else enforce)")
      ->type_name("MODE");
}

std::shared_ptr<const policy::Policy> LoadPolicyFlag(const std::string& path) {
  if (path.empty()) return policy::Policy::Default();
  std::string error;
  std::optional<std::string> text = common::ReadFile(path, &error);
  if (!text) throw std::runtime_error(error);
  return policy::Policy::Compile(*text, path);
}

}  // namespace stratum_guard::cli
