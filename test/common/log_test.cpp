#include "common/log.h"

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <string>
#include <vector>

namespace stratum_guard::common {
namespace {

class LogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SetLogSink([this](std::string_view line) { lines_.emplace_back(line); });
    SetLogLevel(LogLevel::kInfo);
  }
  void TearDown() override {
    SetLogSink(nullptr);
    SetLogLevel(LogLevel::kInfo);
  }
  std::vector<std::string> lines_;
};

TEST_F(LogTest, WritesOneParsableJsonLinePerCall) {
  Log(LogLevel::kInfo, "decision", {{"uid", "a\"b\n"}, {"duration_us", 42}, {"denied", true}});
  ASSERT_EQ(lines_.size(), 1u);
  EXPECT_EQ(lines_[0].back(), '\n');
  EXPECT_EQ(lines_[0].find('\n'), lines_[0].size() - 1) << "a line must not contain raw newlines";
  rapidjson::Document doc;
  doc.Parse(lines_[0].c_str());
  ASSERT_FALSE(doc.HasParseError()) << lines_[0];
  EXPECT_STREQ(doc["msg"].GetString(), "decision");
  EXPECT_STREQ(doc["level"].GetString(), "info");
  EXPECT_STREQ(doc["uid"].GetString(), "a\"b\n");
  EXPECT_EQ(doc["duration_us"].GetInt(), 42);
  EXPECT_TRUE(doc["denied"].GetBool());
  EXPECT_TRUE(doc.HasMember("ts"));
}

TEST_F(LogTest, DropsLinesBelowTheLevel) {
  SetLogLevel(LogLevel::kWarn);
  Log(LogLevel::kInfo, "quiet");
  Log(LogLevel::kError, "loud");
  ASSERT_EQ(lines_.size(), 1u);
  EXPECT_NE(lines_[0].find("loud"), std::string::npos);
}

TEST_F(LogTest, EscapesControlCharacters) {
  std::string out;
  AppendJsonString(out, std::string_view("\x01x\\", 3));
  EXPECT_EQ(out, "\"\\u0001x\\\\\"");
}

TEST(ParseLogLevelTest, AcceptsKnownNamesOnly) {
  LogLevel level = LogLevel::kInfo;
  EXPECT_TRUE(ParseLogLevel("debug", &level));
  EXPECT_EQ(level, LogLevel::kDebug);
  EXPECT_TRUE(ParseLogLevel("warning", &level));
  EXPECT_EQ(level, LogLevel::kWarn);
  EXPECT_FALSE(ParseLogLevel("verbose", &level));
  EXPECT_EQ(level, LogLevel::kWarn);
}

}  // namespace
}  // namespace stratum_guard::common
