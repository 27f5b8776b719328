#pragma once

#include <CLI/CLI.hpp>
#include <functional>

namespace stratum_guard::cli {

// Exit codes, one convention for every subcommand (docs/OPERATIONS.md, "Exit codes").
inline constexpr int kExitOk = 0;
// It ran, and what it found or met fails the run: a denial (check), a call that failed
// (sweep --once), a sweeper that stopped on an error (serve --sweep).
inline constexpr int kExitFailed = 1;
// What it was given cannot be used, so nothing ran: a flag, a policy, a certificate, a
// kubeconfig, an address; for check, also a file that cannot be read or an engine fault.
inline constexpr int kExitConfig = 2;

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
