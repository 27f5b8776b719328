#include "common/clock.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "test/testing/eventually.h"

namespace stratum_guard::common {
namespace {

using namespace std::chrono_literals;
using std::chrono::milliseconds;

TEST(SimulatedClockTest, SleepAdvancesUnlessCancelled) {
  SimulatedClock clock;
  auto t0 = clock.Now();
  auto w0 = clock.WallNow();
  EXPECT_TRUE(clock.SleepFor(milliseconds(1500), nullptr));
  EXPECT_EQ(clock.Now() - t0, milliseconds(1500));
  EXPECT_EQ(clock.WallNow() - w0, milliseconds(1500));
  EXPECT_FALSE(clock.SleepFor(milliseconds(1500), [] { return true; }));
  EXPECT_EQ(clock.Now() - t0, milliseconds(1500));
}

TEST(SystemClockTest, SleepStopsEarlyWhenCancelled) {
  SystemClock clock;
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_FALSE(clock.SleepFor(std::chrono::minutes(10), [] { return true; }));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::minutes(1));
  EXPECT_TRUE(clock.SleepFor(milliseconds(1), nullptr));
}

TEST(StopSignalTest, WakesWaiters) {
  StopSignal stop;
  EXPECT_FALSE(stop.WaitFor(milliseconds(1)));
  stop.Stop();
  EXPECT_TRUE(stop.stopped());
  EXPECT_TRUE(stop.WaitFor(std::chrono::minutes(10)));
}

// The cancel check runs whenever the sleeper looks again, so advancing from inside it walks a
// single thread through the wait deterministically.
TEST(SimulatedClockTest, AWaitingSleeperReturnsOnlyOnceAdvancedPastItsEnd) {
  SimulatedClock clock(SimulatedClock::Sleep::kWaitsForAdvance);
  const Clock::Steady start = clock.Now();
  int looks = 0;
  EXPECT_TRUE(clock.SleepFor(1000ms, [&] {
    ++looks;
    clock.Advance(300ms);
    return false;
  }));
  EXPECT_EQ(looks, 4);  // 300, 600, 900: still asleep; 1200: past the end
  EXPECT_EQ(clock.Now() - start, 1200ms);
  EXPECT_EQ(clock.slept(), 0ms);  // sleeping moved no time
}

TEST(SimulatedClockTest, AWaitingSleeperReturnsFalseWhenCancelled) {
  SimulatedClock clock(SimulatedClock::Sleep::kWaitsForAdvance);
  const Clock::Steady start = clock.Now();
  int looks = 0;
  EXPECT_FALSE(clock.SleepFor(1000ms, [&] {
    clock.Advance(300ms);
    return ++looks == 2;
  }));
  EXPECT_EQ(clock.Now() - start, 600ms);
}

TEST(SimulatedClockTest, AnotherThreadsAdvanceWakesAWaitingSleeper) {
  SimulatedClock clock(SimulatedClock::Sleep::kWaitsForAdvance);
  const Clock::Steady start = clock.Now();
  std::atomic<bool> woke{false};
  Clock::Steady woke_at;
  std::thread sleeper([&] {
    clock.SleepFor(1000ms, nullptr);
    woke_at = clock.Now();
    woke = true;
  });
  EXPECT_TRUE(testing::Eventually([&] {
    if (!woke) clock.Advance(100ms);
    return woke.load();
  }));
  sleeper.join();
  EXPECT_GE(woke_at - start, 1000ms);
}

}  // namespace
}  // namespace stratum_guard::common
