#pragma once

#include <CLI/CLI.hpp>
#include <chrono>
#include <string>

namespace stratum_guard::cli {

// How every subcommand declares its flags: each flag writes straight into the options struct
// the libraries take, its --help default is read from that struct (never restated), and a bad
// value is a CLI11 validation error naming the flag (exit 2, as every usage error).

// A duration flag ("500ms", "10s", "2m", "1h30m") written into `target`. Zero is refused
// unless `allow_zero`.
CLI::Option* DurationFlag(CLI::App& app, const std::string& name, std::chrono::milliseconds& target,
                          const std::string& help, bool allow_zero = false);

// --log-level: debug, info, warn or error, applied to the process's logger when parsed.
CLI::Option* LogLevelFlag(CLI::App& app);

}  // namespace stratum_guard::cli
