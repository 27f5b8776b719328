#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

namespace stratum_guard::common {

// Writes whole lines to a file descriptor from a background thread, so that the thread that
// logs (a webhook loop answering the API server) never waits on write(2): one log line per
// admission used to cost a syscall on the request path, and a stuck log pipe (a stalled
// collector) would have stalled admissions with it.
//
// Lines are batched: the writer wakes on the first line after a quiet spell, lingers
// `linger` to collect the lines that follow, and writes them in one call. Order is kept,
// including against Append(..., urgent=true), which writes everything pending plus its line
// before returning (for errors that may precede an exit). When more than `max_pending`
// bytes wait (the descriptor blocks), new lines are dropped and counted; the next write
// starts with a line that says how many were lost.
//
// Thread-safe. The destructor writes what is pending and joins the thread.
class LineWriter {
 public:
  struct Options {
    std::chrono::microseconds linger{1000};
    std::size_t max_pending = 16 << 20;
    // The line that reports `dropped` lost lines, '\n' included (none: only dropped() tells).
    std::function<std::string(std::uint64_t dropped)> drop_notice;
  };
  explicit LineWriter(int fd) : LineWriter(fd, Options{}) {}
  LineWriter(int fd, Options options);
  ~LineWriter();
  LineWriter(const LineWriter&) = delete;
  LineWriter& operator=(const LineWriter&) = delete;

  // `line` must end with '\n'.
  void Append(std::string_view line, bool urgent = false);
  // Returns once every line appended before the call has been written (or dropped).
  void Flush();
  std::uint64_t dropped() const;

 private:
  void Run();
  // Writes what is pending; the caller holds write_mutex_.
  void WritePending();

  const int fd_;
  const Options options_;
  // Lock order: write_mutex_, then mutex_. Appenders take mutex_ only, so a blocked write
  // never blocks them.
  std::mutex write_mutex_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::string pending_;
  std::string writing_;  // touched under write_mutex_ only
  std::uint64_t dropped_ = 0;
  std::uint64_t dropped_unreported_ = 0;
  bool awake_ = false;  // the thread has been told there is work
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace stratum_guard::common
