#pragma once

#include <CLI/CLI.hpp>
#include <memory>
#include <optional>
#include <string>

#include "policy/policy.h"

namespace stratum_guard::cli {

// What every subcommand's --policy flag means: the file at `path`, or the embedded default
// policy when `path` is empty. Throws policy::PolicyError for an invalid policy and
// std::runtime_error ("PATH: reason") for a file that cannot be read.
std::shared_ptr<const policy::Policy> LoadPolicyFlag(const std::string& path);

// Registers --enforcement=enforce|warn|audit on `app`. `target` stays nullopt unless the flag is
// given, so the policy file's `enforcement:` applies (and a reload that changes it takes effect);
// a given flag pins the mode. A bad value is a CLI11 validation error (exit 2).
void AddEnforcementFlag(CLI::App& app, std::optional<policy::Enforcement>& target);

}  // namespace stratum_guard::cli
