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

TEST(FormatDurationTest, ReadsBackAsTheSameDuration) {
  EXPECT_EQ(FormatDuration(std::chrono::seconds(2)), "2s");
  EXPECT_EQ(FormatDuration(std::chrono::milliseconds(1500)), "1500ms");
  EXPECT_EQ(FormatDuration(std::chrono::milliseconds(0)), "0s");
  for (auto d : {std::chrono::milliseconds(250), std::chrono::milliseconds(90'000)}) {
    EXPECT_EQ(ParseDuration(FormatDuration(d)), d);
  }
}

}  // namespace
}  // namespace stratum_guard::common
