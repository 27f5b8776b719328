#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/file_watcher.h"

namespace stratum_guard::common {

// How often `serve` and `sweep` poll their configuration files unless told otherwise.
inline constexpr std::chrono::milliseconds kDefaultReloadInterval{2'000};

// Turns file changes into configuration swaps: a change is validated and installed by
// `apply`; a change that does not validate (apply throws) or cannot be read leaves the
// configuration in force untouched, logs an error and is reported as a failure. Not
// thread-safe: one owner calls Check().
class Reloader {
 public:
  // Builds the new configuration from the files' contents and swaps it in; throws
  // std::exception to refuse them, before anything was swapped.
  using Apply = std::function<void(const std::vector<std::string>& contents)>;
  using Report = std::function<void(bool ok)>;

  Reloader(std::string what, std::unique_ptr<FileWatcher> watcher, Apply apply, Report report);

  // Polls once. Returns nullopt when nothing changed, true when a change was applied, false
  // when one was refused.
  std::optional<bool> Check();

 private:
  std::string what_;
  std::unique_ptr<FileWatcher> watcher_;
  Apply apply_;
  Report report_;
};

}  // namespace stratum_guard::common
