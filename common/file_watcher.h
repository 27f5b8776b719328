#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace stratum_guard::common {

// What a watcher reports when the watched files changed.
struct FileChange {
  std::vector<std::string> contents;  // one per watched path, in order; empty on error
  std::string error;                  // non-empty when a file could not be read
};

// The seam between reloads and the file system: production polls, tests script changes.
// Not thread-safe: one owner polls.
class FileWatcher {
 public:
  virtual ~FileWatcher() = default;
  // Returns the contents of all watched files when any of them changed since the last call,
  // or nullopt when nothing changed.
  virtual std::optional<FileChange> Poll() = 0;
};

// Polls with stat(2) (which follows symlinks, so the atomic `..data` symlink swap Kubernetes
// does for Secret and ConfigMap volumes shows as a new inode) and reads and hashes the files
// only when a stat signature moved; a touch that leaves the bytes alone reports nothing. The
// constructor records the files as they are now: the first Poll reports only later changes.
class PollingFileWatcher : public FileWatcher {
 public:
  explicit PollingFileWatcher(std::vector<std::string> paths);
  std::optional<FileChange> Poll() override;

 private:
  std::string Signature() const;
  std::vector<std::string> paths_;
  std::string signature_;
  std::size_t content_hash_ = 0;
};

}  // namespace stratum_guard::common
