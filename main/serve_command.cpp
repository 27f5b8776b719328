#include <iostream>

#include "main/commands.h"

namespace stratum_guard::cli {

// Placeholder until the serve work lands; replaced by its owner.
Command AddServeCommand(CLI::App& root) {
  CLI::App* app = root.add_subcommand("serve", "(not built yet)");
  return {app, [] {
            std::cerr << "stratum-guard serve: not built yet\n";
            return 2;
          }};
}

}  // namespace stratum_guard::cli
