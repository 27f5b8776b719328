#include "main/signals.h"

#include <pthread.h>
#include <unistd.h>

namespace stratum_guard::cli {

StopSignals::StopSignals() {
  sigemptyset(&set_);
  sigaddset(&set_, SIGTERM);
  sigaddset(&set_, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set_, nullptr);
}

std::string_view StopSignals::Wait() {
  int number = 0;
  while (sigwait(&set_, &number) != 0) {
  }
  return number == SIGINT ? "SIGINT" : "SIGTERM";
}

void StopSignals::Raise() { kill(getpid(), SIGTERM); }

}  // namespace stratum_guard::cli
