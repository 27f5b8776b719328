#include <iostream>

#include "main/commands.h"

namespace stratum_guard::cli {

// Placeholder until the sweep work lands; replaced by its owner.
Command AddSweepCommand(CLI::App& root) {
  CLI::App* app = root.add_subcommand("sweep", "(not built yet)");
  return {app, [] {
            std::cerr << "stratum-guard sweep: not built yet\n";
            return 2;
          }};
}

}  // namespace stratum_guard::cli
