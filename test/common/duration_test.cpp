#include "common/duration.h"

#include <gtest/gtest.h>

namespace stratum_guard::common {
namespace {

using std::chrono::milliseconds;

TEST(ParseDurationTest, AcceptsGoStyleUnits) {
  EXPECT_EQ(ParseDuration("250ms"), milliseconds(250));
  EXPECT_EQ(ParseDuration("10s"), milliseconds(10'000));
  EXPECT_EQ(ParseDuration("2m"), milliseconds(120'000));
  EXPECT_EQ(ParseDuration("1h30m"), milliseconds(5'400'000));
  EXPECT_EQ(ParseDuration("1.5s"), milliseconds(1'500));
}

TEST(ParseDurationTest, BareNumberIsSeconds) {
  EXPECT_EQ(ParseDuration("10"), milliseconds(10'000));
  EXPECT_EQ(ParseDuration("0.5"), milliseconds(500));
}

TEST(ParseDurationTest, RejectsGarbage) {
  EXPECT_FALSE(ParseDuration(""));
  EXPECT_FALSE(ParseDuration("s"));
  EXPECT_FALSE(ParseDuration("10x"));
  EXPECT_FALSE(ParseDuration("-5s"));
  EXPECT_FALSE(ParseDuration("5s10"));
  EXPECT_FALSE(ParseDuration("1..2s"));
}

TEST(FormatDurationTest, WritesTheShortestFormThatReadsBack) {
  EXPECT_EQ(FormatDuration(milliseconds(0)), "0s");
  EXPECT_EQ(FormatDuration(milliseconds(250)), "250ms");
  EXPECT_EQ(FormatDuration(milliseconds(10'000)), "10s");
  EXPECT_EQ(FormatDuration(milliseconds(120'000)), "2m");
  EXPECT_EQ(FormatDuration(milliseconds(5'400'000)), "1h30m");
  EXPECT_EQ(FormatDuration(milliseconds(60'500)), "1m500ms");
  for (long long ms : {1LL, 999LL, 1'000LL, 61'001LL, 3'600'000LL, 90'061'001LL}) {
    EXPECT_EQ(ParseDuration(FormatDuration(milliseconds(ms))), milliseconds(ms)) << ms;
  }
}

}  // namespace
}  // namespace stratum_guard::common
