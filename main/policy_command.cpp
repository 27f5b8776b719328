#include <iostream>
#include <string>

#include "common/files.h"
#include "main/commands.h"
#include "policy/policy.h"

namespace stratum_guard::cli {

Command AddPolicyCommand(CLI::App& root) {
  CLI::App* policy = root.add_subcommand("policy", "Print or validate a miner policy");
  policy->require_subcommand(1);
  CLI::App* print_default =
      policy->add_subcommand("default", "Print the embedded default policy (a starting point)");
  CLI::App* validate = policy->add_subcommand("validate", "Check a policy file and list its rules");
  auto file = std::make_shared<std::string>();
  validate->add_option("FILE", *file, "Policy file (YAML)")->required();

  auto run = [print_default, validate, file]() -> int {
    if (print_default->parsed()) {
      std::cout << policy::Policy::DefaultText();
      return kExitOk;
    }
    if (validate->parsed()) {
      std::string error;
      auto text = common::ReadFile(*file, &error);
      if (!text) {
        std::cerr << "stratum-guard: " << error << "\n";
        return kExitConfig;
      }
      try {
        auto compiled = policy::Policy::Compile(*text, *file);
        std::cout << *file << ": valid, " << compiled->rule_count() << " rules\n";
        for (const auto& rule : compiled->rules()) {
          std::cout << "  " << rule.id << " (" << policy::ActionName(rule.action) << ")\n";
        }
        return kExitOk;
      } catch (const policy::PolicyError& e) {
        std::cerr << e.what() << "\n";
        return kExitFailed;  // the file was judged, and found wanting
      }
    }
    return kExitConfig;
  };
  return {policy, run};
}

}  // namespace stratum_guard::cli
