#include "common/files.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace stratum_guard::common {

std::optional<std::string> ReadFile(const std::string& path, std::string* error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (error) *error = path + ": " + std::strerror(errno);
    return std::nullopt;
  }
  std::ostringstream contents;
  contents << in.rdbuf();
  if (in.bad()) {
    if (error) *error = path + ": read error";
    return std::nullopt;
  }
  return std::move(contents).str();
}

}  // namespace stratum_guard::common
