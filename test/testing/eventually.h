#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <functional>

namespace stratum_guard::testing {

// How long a test waits for something that should happen soon: generous, because a loaded CI
// machine is slow, and free for a passing test, which stops waiting as soon as it holds.
inline constexpr std::chrono::milliseconds kEventuallyTimeout{30'000};

// Evaluates `condition` until it holds or `timeout` has passed (then once more, so a late
// success still counts). The pause between evaluations only bounds how often a condition is
// polled, never what a test relies on. The failure message says how long it waited; gtest
// prints the condition's source beside it:
//   ASSERT_TRUE(Eventually([&] { return server.pod_count() == 20; }));
::testing::AssertionResult Eventually(const std::function<bool()>& condition,
                                      std::chrono::milliseconds timeout = kEventuallyTimeout);

}  // namespace stratum_guard::testing
