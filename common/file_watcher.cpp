#include "common/file_watcher.h"

#include <sys/stat.h>

#include <cerrno>
#include <functional>

#include "common/files.h"

namespace stratum_guard::common {
namespace {

std::size_t HashContents(const std::vector<std::string>& contents) {
  std::size_t hash = 0;
  for (const std::string& c : contents) {
    hash = hash * 1'000'003 ^ std::hash<std::string>{}(c);
  }
  return hash;
}

}  // namespace

PollingFileWatcher::PollingFileWatcher(std::vector<std::string> paths)
    : paths_(std::move(paths)), signature_(Signature()) {
  std::vector<std::string> contents;
  for (const std::string& path : paths_) {
    contents.push_back(common::ReadFile(path, nullptr).value_or(std::string()));
  }
  content_hash_ = HashContents(contents);
}

std::string PollingFileWatcher::Signature() const {
  std::string signature;
  for (const std::string& path : paths_) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
      signature += "error:" + std::to_string(errno) + ";";
      continue;
    }
    signature += std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino) + ":" +
                 std::to_string(st.st_size) + ":" + std::to_string(st.st_mtim.tv_sec) + "." +
                 std::to_string(st.st_mtim.tv_nsec) + ":" + std::to_string(st.st_ctim.tv_sec) +
                 "." + std::to_string(st.st_ctim.tv_nsec) + ";";
  }
  return signature;
}

std::optional<FileChange> PollingFileWatcher::Poll() {
  std::string signature = Signature();
  if (signature == signature_) return std::nullopt;
  signature_ = std::move(signature);
  FileChange change;
  for (const std::string& path : paths_) {
    std::string error;
    std::optional<std::string> text = common::ReadFile(path, &error);
    if (!text) {
      change.contents.clear();
      change.error = error;
      content_hash_ = 0;
      return change;
    }
    change.contents.push_back(std::move(*text));
  }
  std::size_t hash = HashContents(change.contents);
  if (hash == content_hash_) return std::nullopt;
  content_hash_ = hash;
  return change;
}

}  // namespace stratum_guard::common
