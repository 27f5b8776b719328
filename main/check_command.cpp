#include <iostream>

#include "main/commands.h"

namespace stratum_guard::cli {

// Placeholder until the check work lands; replaced by its owner.
Command AddCheckCommand(CLI::App& root) {
  CLI::App* app = root.add_subcommand("check", "(not built yet)");
  return {app, [] {
            std::cerr << "stratum-guard check: not built yet\n";
            return 2;
          }};
}

}  // namespace stratum_guard::cli
