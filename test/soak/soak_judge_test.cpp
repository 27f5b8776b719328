#include "test/soak/soak_judge.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <stdexcept>

namespace stratum_guard::soak {
namespace {

constexpr std::uint64_t kLimitKib = 256 * 1024;

std::vector<RssSample> Samples(const std::vector<std::uint64_t>& mib) {
  std::vector<RssSample> out;
  for (std::size_t i = 0; i < mib.size(); ++i) out.push_back({double(i), mib[i] * 1024});
  return out;
}

TEST(SoakJudgeRss, SettledUnderTheLimitPasses) {
  // Warm-up, then a peak that comes and goes at the same height.
  auto j = JudgeRss(Samples({10, 30, 50, 60, 55, 62, 58, 61, 57}), kLimitKib, 0.10);
  EXPECT_TRUE(j.passed) << j.reason;
  EXPECT_EQ(j.min_kib, 10u * 1024);
  EXPECT_EQ(j.peak_kib, 62u * 1024);
  EXPECT_EQ(j.end_kib, 57u * 1024);
  EXPECT_EQ(j.middle_peak_kib, 62u * 1024);
  EXPECT_EQ(j.last_peak_kib, 61u * 1024);
}

TEST(SoakJudgeRss, GrowthInTheFirstThirdIsWarmUp) {
  EXPECT_TRUE(
      JudgeRss(Samples({5, 10, 100, 100, 100, 100, 100, 100, 100}), kLimitKib, 0.10).passed);
}

TEST(SoakJudgeRss, StillGrowingInTheLastThirdFails) {
  auto j = JudgeRss(Samples({10, 20, 30, 40, 50, 60, 70, 80, 90}), kLimitKib, 0.10);
  EXPECT_FALSE(j.passed);
  EXPECT_NE(j.reason.find("did not settle"), std::string::npos) << j.reason;
  EXPECT_NE(j.reason.find("90 MiB"), std::string::npos) << j.reason;
}

TEST(SoakJudgeRss, GrowthJustOverTheBoundFailsAndJustUnderPasses) {
  // Middle peak 100 MiB: 110 MiB is the bound at 10%.
  EXPECT_TRUE(
      JudgeRss(Samples({50, 50, 50, 100, 100, 100, 110, 110, 110}), kLimitKib, 0.10).passed);
  EXPECT_FALSE(
      JudgeRss(Samples({50, 50, 50, 100, 100, 100, 111, 110, 110}), kLimitKib, 0.10).passed);
}

TEST(SoakJudgeRss, ReachingTheLimitFailsEvenWhenSettled) {
  auto j = JudgeRss(Samples({10, 256, 10, 10, 10, 10, 10, 10, 10}), kLimitKib, 0.10);
  EXPECT_FALSE(j.passed);
  EXPECT_NE(j.reason.find("limit of 256 MiB"), std::string::npos) << j.reason;
}

TEST(SoakJudgeRss, TooFewSamplesFail) {
  auto j = JudgeRss(Samples({10, 10, 10, 10, 10, 10, 10, 10}), kLimitKib, 0.10);
  EXPECT_FALSE(j.passed);
  EXPECT_NE(j.reason.find("only 8 RSS samples"), std::string::npos) << j.reason;
  EXPECT_FALSE(JudgeRss({}, kLimitKib, 0.10).passed);
}

TEST(SoakJudgeDeletes, EachMinerOnceNoBenignPasses) {
  // A 404 after the 200 is the sweeper retrying an answer it lost: allowed.
  auto j = JudgeDeletes({"a/m1", "b/m2"}, {"a/web"},
                        {{"a/m1", 200}, {"b/m2", 409}, {"b/m2", 200}, {"a/m1", 404}});
  EXPECT_TRUE(j.passed);
  EXPECT_TRUE(j.problems.empty());
}

TEST(SoakJudgeDeletes, AMinerDeletedTwiceFails) {
  auto j = JudgeDeletes({"a/m1"}, {}, {{"a/m1", 200}, {"a/m1", 200}});
  EXPECT_FALSE(j.passed);
  ASSERT_EQ(j.problems.size(), 1u);
  EXPECT_EQ(j.problems[0], "miner a/m1 deleted 2 times, expected exactly once");
}

TEST(SoakJudgeDeletes, AMinerNeverDeletedFails) {
  auto j = JudgeDeletes({"a/m1", "a/m2"}, {}, {{"a/m1", 200}, {"a/m2", 503}});
  EXPECT_FALSE(j.passed);
  ASSERT_EQ(j.problems.size(), 1u);
  EXPECT_EQ(j.problems[0], "miner a/m2 deleted 0 times, expected exactly once");
}

TEST(SoakJudgeDeletes, ABenignPodTouchedFailsEvenWhenRefused) {
  auto j = JudgeDeletes({}, {"a/web"}, {{"a/web", 404}});
  EXPECT_FALSE(j.passed);
  ASSERT_EQ(j.problems.size(), 1u);
  EXPECT_EQ(j.problems[0], "benign pod a/web got 1 DELETE calls");
}

TEST(SoakJudgeDeletes, APodNeverAddedFails) {
  auto j = JudgeDeletes({}, {}, {{"x/ghost", 200}});
  EXPECT_FALSE(j.passed);
  ASSERT_EQ(j.problems.size(), 1u);
  EXPECT_EQ(j.problems[0], "pod x/ghost, never added, got 1 DELETE calls");
}

TEST(SoakMemoryQuantity, ParsesTheForms) {
  EXPECT_EQ(ParseMemoryQuantity("256Mi"), 256ull << 20);
  EXPECT_EQ(ParseMemoryQuantity("1Gi"), 1ull << 30);
  EXPECT_EQ(ParseMemoryQuantity("500M"), 500'000'000ull);
  EXPECT_EQ(ParseMemoryQuantity("134217728"), 134217728ull);
}

TEST(SoakMemoryQuantity, RefusesWhatDoesNotParse) {
  EXPECT_EQ(ParseMemoryQuantity(""), std::nullopt);
  EXPECT_EQ(ParseMemoryQuantity("Mi"), std::nullopt);
  EXPECT_EQ(ParseMemoryQuantity("256MB"), std::nullopt);
  EXPECT_EQ(ParseMemoryQuantity("-1Mi"), std::nullopt);
  EXPECT_EQ(ParseMemoryQuantity("99999999999999999999Gi"), std::nullopt);
  EXPECT_EQ(ParseMemoryQuantity("17179869184Gi"), std::nullopt);  // overflows 64 bits
}

TEST(SoakManifestLimits, ReadsTheShippedDeployment) {
  std::ifstream in(STRATUM_GUARD_SOURCE_DIR "/manifests/base/deployment.yaml");
  std::stringstream text;
  text << in.rdbuf();
  ManifestLimits limits = ReadManifestLimits(text.str());
  EXPECT_EQ(limits.memory_limit_bytes, 256ull << 20);
  EXPECT_EQ(limits.termination_grace_seconds, 30);
}

TEST(SoakManifestLimits, NamesWhatIsMissing) {
  try {
    ReadManifestLimits("spec:\n  template:\n    spec:\n      containers: [{name: a}]\n");
    FAIL() << "no error";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("terminationGracePeriodSeconds"), std::string::npos);
  }
  try {
    ReadManifestLimits(
        "spec:\n  template:\n    spec:\n      terminationGracePeriodSeconds: 30\n"
        "      containers: [{name: a}]\n");
    FAIL() << "no error";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("limits.memory"), std::string::npos);
  }
  EXPECT_THROW(
      ReadManifestLimits("spec:\n  template:\n    spec:\n      terminationGracePeriodSeconds: 30\n"
                         "      containers: [{resources: {limits: {memory: lots}}}]\n"),
      std::runtime_error);
  EXPECT_THROW(ReadManifestLimits("spec: [unclosed"), std::runtime_error);
}

TEST(SoakJudgeExit, CleanAndInTimePasses) { EXPECT_TRUE(JudgeExit(0, 1.5, 30).passed); }

TEST(SoakJudgeExit, EachWayOfFailingFails) {
  EXPECT_EQ(JudgeExit(std::nullopt, 35, 30).reason.find("still running"), 0u);
  EXPECT_EQ(JudgeExit(1, 2, 30).reason, "exit code 1 after SIGTERM");
  EXPECT_EQ(JudgeExit(137, 2, 30).reason, "exit code 137 after SIGTERM");
  EXPECT_FALSE(JudgeExit(0, 30.5, 30).passed);
}

}  // namespace
}  // namespace stratum_guard::soak
