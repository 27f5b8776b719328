#pragma once

#include <rapidjson/document.h>
#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace stratum_guard::testing {

// The real binary as a child process, for end-to-end tests. Its stderr and stdout (JSON log
// lines) are collected by a reader thread. The child is killed (SIGKILL) if it still runs
// when this object goes away (a failed assertion returned early), and with
// PR_SET_PDEATHSIG if the test process dies, so no test leaves a server behind. On a failed
// test the collected lines are printed.
class ChildProcess {
 public:
  // Starts `binary` with `args`. Throws std::runtime_error if it cannot.
  ChildProcess(const std::string& binary, const std::vector<std::string>& args);
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }

  // Waits until a line satisfies `match` (lines already seen count). Returns it, or nullopt
  // after `timeout` or when the child's output ended.
  std::optional<std::string> WaitForLine(const std::function<bool(const std::string&)>& match,
                                         std::chrono::milliseconds timeout);
  // Waits for a JSON line with "msg" equal to `msg` and every `fields` member equal as a string.
  std::optional<std::string> WaitForLog(
      const std::string& msg, const std::vector<std::pair<std::string, std::string>>& fields,
      std::chrono::milliseconds timeout);
  // Waits for {"msg":"listening","listener":"<listener>","address":"HOST:PORT"} and returns
  // the port, or 0 on timeout.
  unsigned short WaitForListening(const std::string& listener,
                                  std::chrono::milliseconds timeout = std::chrono::seconds(20));

  std::vector<std::string> Lines() const;
  // Lines parsed as JSON objects with "msg" == msg.
  std::vector<std::string> LogsWithMsg(const std::string& msg) const;

  void Signal(int signal_number);
  // Waits for the child to exit and its output to be read in full. Returns its exit code (or
  // 128 + signal when killed by a signal), or nullopt on timeout (the child keeps running).
  std::optional<int> WaitExit(std::chrono::milliseconds timeout);

 private:
  void ReadLoop(int fd);

  pid_t pid_ = -1;
  std::optional<int> exit_code_;
  std::thread reader_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<std::string> lines_;
  bool output_ended_ = false;
};

// Parses a JSON log line; returns false when it is not a JSON object.
bool ParseLogLine(const std::string& line, rapidjson::Document* document);

}  // namespace stratum_guard::testing
