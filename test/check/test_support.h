#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "check/check.h"
#include "check/manifest_reader.h"

namespace stratum_guard::check::testing {

// A fresh directory under /tmp, removed with everything in it when the object goes.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;  // owns the directory
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  // Writes `contents` to path()/relative (creating folders) and returns the full path.
  std::string Write(const std::string& relative, const std::string& contents) const;

 private:
  std::filesystem::path path_;
};

struct ProcessResult {
  int exit_code = -1;  // -1 when killed after the timeout
  std::string out;
  std::string err;
};

// Runs the real stratum-guard binary with `args`, feeding `stdin_text` on its standard input.
// Killed after 60 s, so a hang fails the test instead of the suite.
ProcessResult RunBinary(const std::vector<std::string>& args, const std::string& stdin_text = "");

// Parses text as a manifest named `file`, format sniffed.
ReadResult Parse(const std::string& text, const std::string& file = "test.yaml");

// A stand-in for the policy engine: a deny finding for every container whose image contains
// "xmrig", a warn finding for every container whose image contains "warnme".
policy::Verdict FakeVerdict(const policy::Workload& workload);

// The source tree (for test/fixtures and examples).
std::filesystem::path SourceDir();

}  // namespace stratum_guard::check::testing
