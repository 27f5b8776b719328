#include "kube/rate_limiter.h"

#include <gtest/gtest.h>

namespace stratum_guard::kube {
namespace {

using std::chrono::milliseconds;

TEST(TokenBucketTest, BurstThenSteadyRate) {
  common::SimulatedClock clock;
  TokenBucket bucket(clock, 10);
  for (int i = 0; i < 10; ++i) EXPECT_FALSE(bucket.TryTake()) << i;
  auto wait = bucket.TryTake();
  ASSERT_TRUE(wait);
  EXPECT_EQ(*wait, milliseconds(6000));  // one token per 6 s at 10/minute
  clock.Advance(milliseconds(5999));
  EXPECT_TRUE(bucket.TryTake());
  clock.Advance(milliseconds(1));
  EXPECT_FALSE(bucket.TryTake());
}

TEST(TokenBucketTest, NeverMoreThanTheRateOverTime) {
  common::SimulatedClock clock;
  TokenBucket bucket(clock, 10);
  auto start = clock.Now();
  for (int i = 0; i < 40; ++i) ASSERT_TRUE(bucket.Take(nullptr));
  // 10 at once, then 30 more at one per 6 s.
  EXPECT_EQ(clock.Now() - start, std::chrono::seconds(180));
}

TEST(TokenBucketTest, RefillCapsAtCapacity) {
  common::SimulatedClock clock;
  TokenBucket bucket(clock, 3);
  for (int i = 0; i < 3; ++i) bucket.TryTake();
  clock.Advance(std::chrono::hours(1));
  for (int i = 0; i < 3; ++i) EXPECT_FALSE(bucket.TryTake());
  EXPECT_TRUE(bucket.TryTake());
}

TEST(TokenBucketTest, TakeGivesUpWhenCancelled) {
  common::SimulatedClock clock;
  TokenBucket bucket(clock, 1);
  EXPECT_TRUE(bucket.Take(nullptr));
  EXPECT_FALSE(bucket.Take([] { return true; }));
  EXPECT_EQ(clock.slept(), milliseconds(0));
}

TEST(BackoffTest, DoublesUpToMaxAndResets) {
  Backoff backoff(milliseconds(100), milliseconds(1000));
  EXPECT_EQ(backoff.Next(), milliseconds(100));
  EXPECT_EQ(backoff.Next(), milliseconds(200));
  EXPECT_EQ(backoff.Next(), milliseconds(400));
  EXPECT_EQ(backoff.Next(), milliseconds(800));
  EXPECT_EQ(backoff.Next(), milliseconds(1000));
  EXPECT_EQ(backoff.Next(), milliseconds(1000));
  backoff.Reset();
  EXPECT_EQ(backoff.Next(), milliseconds(100));
}

}  // namespace
}  // namespace stratum_guard::kube
