#include "test/testing/eventually.h"

#include <thread>

namespace stratum_guard::testing {

namespace {
// Short enough that a test waits little past the moment its condition turns true, long enough
// that polling a server's /metrics does not load it.
constexpr std::chrono::milliseconds kPollInterval{10};
}  // namespace

::testing::AssertionResult Eventually(const std::function<bool()>& condition,
                                      std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return ::testing::AssertionSuccess();
    std::this_thread::sleep_for(kPollInterval);
  }
  if (condition()) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "still false after " << timeout.count() << " ms";
}

}  // namespace stratum_guard::testing
