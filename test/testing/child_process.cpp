#include "test/testing/child_process.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <exception>
#include <iostream>
#include <stdexcept>

#include "test/testing/eventually.h"

namespace stratum_guard::testing {

bool ParseLogLine(const std::string& line, rapidjson::Document* document) {
  document->Parse(line.c_str());
  return !document->HasParseError() && document->IsObject();
}

ChildProcess::ChildProcess(const std::string& binary, const std::vector<std::string>& args) {
  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
  std::vector<std::string> storage;
  storage.push_back(binary);
  storage.insert(storage.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& s : storage) argv.push_back(s.data());
  argv.push_back(nullptr);
  pid_t parent = getpid();
  pid_ = fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    // Only async-signal-safe calls between fork and exec.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    dup2(pipe_fds[1], STDOUT_FILENO);
    dup2(pipe_fds[1], STDERR_FILENO);
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(pipe_fds[1]);
  reader_ = std::thread([this, fd = pipe_fds[0]] { ReadLoop(fd); });
}

ChildProcess::~ChildProcess() {
  if (!exit_code_) {
    kill(pid_, SIGKILL);
    WaitExit(std::chrono::seconds(10));
  }
  if (reader_.joinable()) reader_.join();
  // An exception leaving the test body (a request to a server that died) is recorded as a
  // failure only after this runs: print then too, or a sanitizer report in the child is lost.
  if (::testing::Test::HasFailure() || std::uncaught_exceptions() > 0) {
    std::lock_guard lock(mutex_);
    std::cerr << "---- output of the child process (" << lines_.size() << " lines, last 80) ----\n";
    std::size_t from = lines_.size() > 80 ? lines_.size() - 80 : 0;
    for (std::size_t i = from; i < lines_.size(); ++i) std::cerr << lines_[i] << "\n";
    std::cerr << "---- end ----\n";
  }
}

void ChildProcess::ReadLoop(int fd) {
  std::string pending;
  char buf[8192];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    pending.append(buf, static_cast<std::size_t>(n));
    std::size_t start = 0;
    std::vector<std::string> complete;
    for (std::size_t nl; (nl = pending.find('\n', start)) != std::string::npos; start = nl + 1) {
      complete.push_back(pending.substr(start, nl - start));
    }
    pending.erase(0, start);
    if (!complete.empty()) {
      std::lock_guard lock(mutex_);
      for (auto& line : complete) lines_.push_back(std::move(line));
      changed_.notify_all();
    }
  }
  close(fd);
  std::lock_guard lock(mutex_);
  if (!pending.empty()) lines_.push_back(pending);
  output_ended_ = true;
  changed_.notify_all();
}

std::optional<std::string> ChildProcess::WaitForLine(
    const std::function<bool(const std::string&)>& match, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  std::unique_lock lock(mutex_);
  std::size_t checked = 0;
  for (;;) {
    for (; checked < lines_.size(); ++checked) {
      if (match(lines_[checked])) return lines_[checked];
    }
    if (output_ended_) return std::nullopt;
    if (changed_.wait_until(lock, deadline) == std::cv_status::timeout) {
      for (; checked < lines_.size(); ++checked) {
        if (match(lines_[checked])) return lines_[checked];
      }
      return std::nullopt;
    }
  }
}

namespace {

bool LogMatches(const std::string& line, const std::string& msg,
                const std::vector<std::pair<std::string, std::string>>& fields) {
  rapidjson::Document doc;
  if (!ParseLogLine(line, &doc)) return false;
  auto m = doc.FindMember("msg");
  if (m == doc.MemberEnd() || !m->value.IsString() || msg != m->value.GetString()) return false;
  for (const auto& [key, value] : fields) {
    auto f = doc.FindMember(key.c_str());
    if (f == doc.MemberEnd() || !f->value.IsString() || value != f->value.GetString()) {
      return false;
    }
  }
  return true;
}

}  // namespace

std::optional<std::string> ChildProcess::WaitForLog(
    const std::string& msg, const std::vector<std::pair<std::string, std::string>>& fields,
    std::chrono::milliseconds timeout) {
  return WaitForLine([&](const std::string& line) { return LogMatches(line, msg, fields); },
                     timeout);
}

unsigned short ChildProcess::WaitForListening(const std::string& listener,
                                              std::chrono::milliseconds timeout) {
  std::optional<std::string> line = WaitForLog("listening", {{"listener", listener}}, timeout);
  if (!line) return 0;
  rapidjson::Document doc;
  ParseLogLine(*line, &doc);
  std::string address = doc["address"].GetString();
  return static_cast<unsigned short>(std::stoi(address.substr(address.rfind(':') + 1)));
}

std::vector<std::string> ChildProcess::Lines() const {
  std::lock_guard lock(mutex_);
  return lines_;
}

std::vector<std::string> ChildProcess::LogsWithMsg(const std::string& msg) const {
  std::vector<std::string> out;
  for (const std::string& line : Lines()) {
    if (LogMatches(line, msg, {})) out.push_back(line);
  }
  return out;
}

void ChildProcess::Signal(int signal_number) {
  if (!exit_code_) kill(pid_, signal_number);
}

std::optional<int> ChildProcess::WaitExit(std::chrono::milliseconds timeout) {
  if (exit_code_) return exit_code_;
  int status = 0;
  pid_t reaped = 0;
  Eventually(
      [&] {
        reaped = waitpid(pid_, &status, WNOHANG);
        return reaped == pid_ || (reaped < 0 && errno != EINTR);
      },
      timeout);
  if (reaped != pid_) return std::nullopt;
  exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  // The child is gone but the reader may still be draining the pipe: callers that read
  // Lines() after the exit expect all of it. Bounded, in case a grandchild holds the pipe.
  std::unique_lock lock(mutex_);
  changed_.wait_for(lock, std::chrono::seconds(5), [this] { return output_ended_; });
  return exit_code_;
}

}  // namespace stratum_guard::testing
