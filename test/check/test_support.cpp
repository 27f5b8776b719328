#include "test/check/test_support.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "test/testing/eventually.h"

namespace stratum_guard::check::testing {

namespace fs = std::filesystem;

TempDir::TempDir() {
  std::string pattern = (fs::temp_directory_path() / "check_tests.XXXXXX").string();
  if (mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

std::string TempDir::Write(const std::string& relative, const std::string& contents) const {
  fs::path full = path_ / relative;
  fs::create_directories(full.parent_path());
  std::ofstream(full, std::ios::binary) << contents;
  return full.string();
}

namespace {
std::string Slurp(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}
}  // namespace

ProcessResult RunBinary(const std::vector<std::string>& args, const std::string& stdin_text) {
  TempDir io;
  const std::string in_path = io.Write("stdin", stdin_text);
  const std::string out_path = (io.path() / "stdout").string();
  const std::string err_path = (io.path() / "stderr").string();
  std::vector<std::string> argv_strings = {STRATUM_GUARD_BINARY};
  argv_strings.insert(argv_strings.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& s : argv_strings) argv.push_back(s.data());
  argv.push_back(nullptr);

  pid_t pid = fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    int in = open(in_path.c_str(), O_RDONLY);
    int out = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int err = open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (in < 0 || out < 0 || err < 0) _exit(127);
    dup2(in, 0);
    dup2(out, 1);
    dup2(err, 2);
    execv(argv[0], argv.data());
    _exit(127);
  }
  ProcessResult result;
  int status = 0;
  bool exited = stratum_guard::testing::Eventually(
      [&] { return waitpid(pid, &status, WNOHANG) == pid; }, std::chrono::seconds(60));
  if (!exited) {
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    status = -1;
  }
  if (status != -1 && WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
  result.out = Slurp(out_path);
  result.err = Slurp(err_path);
  return result;
}

ReadResult Parse(const std::string& text, const std::string& file) {
  ReadResult result;
  ParseManifest(text, file, Format::kAuto, &result);
  return result;
}

policy::Verdict FakeVerdict(const policy::Workload& workload) {
  policy::Verdict verdict;
  for (const policy::Container& c : workload.containers) {
    const bool deny = c.image.find("xmrig") != std::string_view::npos;
    const bool warn = c.image.find("warnme") != std::string_view::npos;
    if (!deny && !warn) continue;
    policy::Finding f;
    f.rule_id = deny ? "fake-miner-image" : "fake-warning";
    f.action = deny ? policy::Action::kDeny : policy::Action::kWarn;
    f.container = std::string(c.name);
    f.field = "image";
    f.path = c.path + ".image";
    f.evidence = std::string(c.image);
    f.message = "container \"" + f.container + "\" image \"" + f.evidence + "\"";
    verdict.findings.push_back(std::move(f));
  }
  return verdict;
}

fs::path SourceDir() { return STRATUM_GUARD_SOURCE_DIR; }

}  // namespace stratum_guard::check::testing
