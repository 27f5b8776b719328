#pragma once

#include <memory>
#include <string>

#include "policy/policy.h"

namespace stratum_guard::cli {

// What every subcommand's --policy flag means: the file at `path`, or the embedded default
// policy when `path` is empty. Throws policy::PolicyError for an invalid policy and
// std::runtime_error ("PATH: reason") for a file that cannot be read.
std::shared_ptr<const policy::Policy> LoadPolicyFlag(const std::string& path);

}  // namespace stratum_guard::cli
