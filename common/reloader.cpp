#include "common/reloader.h"

#include <exception>

#include "common/log.h"

namespace stratum_guard::common {

Reloader::Reloader(std::string what, std::unique_ptr<FileWatcher> watcher, Apply apply,
                   Report report)
    : what_(std::move(what)),
      watcher_(std::move(watcher)),
      apply_(std::move(apply)),
      report_(std::move(report)) {}

std::optional<bool> Reloader::Check() {
  std::optional<FileChange> change = watcher_->Poll();
  if (!change) return std::nullopt;
  std::string error = change->error;
  if (error.empty()) {
    try {
      apply_(change->contents);
    } catch (const std::exception& e) {
      error = e.what();
    }
  }
  if (!error.empty()) {
    Log(LogLevel::kError, "reload failed, keeping the configuration in force",
        {{"config", what_}, {"error", error}});
    report_(false);
    return false;
  }
  Log(LogLevel::kInfo, "reloaded", {{"config", what_}});
  report_(true);
  return true;
}

}  // namespace stratum_guard::common
