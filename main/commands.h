#pragma once

#include <CLI/CLI.hpp>
#include <functional>

namespace stratum_guard::cli {

// A subcommand: its CLI11 node (flags registered on it) and what runs when it is chosen.
// `run` returns the process exit code.
struct Command {
  CLI::App* app = nullptr;
  std::function<int()> run;
};

Command AddPolicyCommand(CLI::App& root);
Command AddCheckCommand(CLI::App& root);
Command AddServeCommand(CLI::App& root);
Command AddSweepCommand(CLI::App& root);

}  // namespace stratum_guard::cli
