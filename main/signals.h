#pragma once

#include <signal.h>

#include <string_view>

namespace stratum_guard::cli {

// SIGTERM and SIGINT, taken synchronously with sigwait(): a stop request is then ordinary code
// on an ordinary thread, not a signal handler. Construct it before any thread starts: the
// constructor blocks both signals in the calling thread, every thread started later inherits
// that mask, and so the signals wait for Wait() instead of landing on a random thread.
class StopSignals {
 public:
  StopSignals();
  StopSignals(const StopSignals&) = delete;  // one owner of the process's signal mask
  StopSignals& operator=(const StopSignals&) = delete;

  // Blocks until SIGTERM or SIGINT arrives; returns its name.
  std::string_view Wait();
  // Sends SIGTERM to this process, which wakes Wait(): how a part that failed stops the rest.
  static void Raise();

 private:
  sigset_t set_;
};

}  // namespace stratum_guard::cli
