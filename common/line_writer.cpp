#include "common/line_writer.h"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <functional>

namespace stratum_guard::common {

namespace {

// The log writer starts with the first log line, before a command blocks SIGTERM and SIGINT
// for its sigwait(): a thread that leaves them unblocked takes a stop signal sent during
// startup, and its default action kills the process instead of draining it.
std::thread StartWithSignalsBlocked(std::function<void()> body) {
  sigset_t all;
  sigset_t previous;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &previous);
  std::thread thread(std::move(body));
  pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  return thread;
}

}  // namespace

LineWriter::LineWriter(int fd, Options options)
    : fd_(fd), options_(options), thread_(StartWithSignalsBlocked([this] { Run(); })) {}

LineWriter::~LineWriter() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  wake_.notify_one();
  thread_.join();
  std::lock_guard write_lock(write_mutex_);
  WritePending();
}

void LineWriter::Append(std::string_view line, bool urgent) {
  if (urgent) {
    std::lock_guard write_lock(write_mutex_);
    {
      std::lock_guard lock(mutex_);
      pending_ += line;
    }
    WritePending();
    return;
  }
  bool notify = false;
  {
    std::lock_guard lock(mutex_);
    if (pending_.size() + line.size() > options_.max_pending) {
      ++dropped_;
      ++dropped_unreported_;
      return;
    }
    pending_ += line;
    if (!awake_) notify = awake_ = true;
  }
  // Only the first line after a quiet spell wakes the thread; the rest join its batch.
  if (notify) wake_.notify_one();
}

void LineWriter::Flush() {
  std::lock_guard write_lock(write_mutex_);
  WritePending();
}

std::uint64_t LineWriter::dropped() const {
  std::lock_guard lock(mutex_);
  return dropped_;
}

void LineWriter::Run() {
  std::unique_lock lock(mutex_);
  for (;;) {
    wake_.wait(lock, [this] { return awake_ || stop_; });
    if (stop_) return;  // the destructor writes the rest
    // Linger so that the lines of the next requests join this write.
    wake_.wait_for(lock, options_.linger, [this] { return stop_; });
    awake_ = false;
    lock.unlock();
    {
      std::lock_guard write_lock(write_mutex_);
      WritePending();
    }
    lock.lock();
  }
}

void LineWriter::WritePending() {
  {
    std::lock_guard lock(mutex_);
    if (dropped_unreported_ > 0 && options_.drop_notice) {
      writing_ += options_.drop_notice(dropped_unreported_);
      dropped_unreported_ = 0;
    }
    writing_ += pending_;
    pending_.clear();
  }
  std::size_t off = 0;
  while (off < writing_.size()) {
    ssize_t n = ::write(fd_, writing_.data() + off, writing_.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // nowhere to write: the lines are lost, the process goes on
    off += static_cast<std::size_t>(n);
  }
  writing_.clear();
  // A burst must not keep its buffer for the life of the process.
  if (writing_.capacity() > (1 << 20)) writing_.shrink_to_fit();
}

}  // namespace stratum_guard::common
