#include "common/log.h"

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <chrono>
#include <ctime>
#include <string>
#include <utility>
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

TEST_F(LogTest, EscapesWhereverTheSpecialBytesAreAndCopiesTheRestAsIs) {
  const std::pair<std::string_view, std::string_view> cases[] = {
      {"", R"("")"},
      {"plain", R"("plain")"},
      {"\"start", R"("\"start")"},
      {"end\n", R"("end\n")"},
      {"mid\tdle\rx", R"("mid\tdle\rx")"},
      {"\"\\\"", R"("\"\\\"")"},
      {std::string_view("a\0b", 3), R"("a\u0000b")"},
      {"\x1f\x7f", "\"\\u001f\x7f\""},  // DEL is not a control character for JSON
      {"caf\xC3\xA9 \xE2\x9B\x8F", "\"caf\xC3\xA9 \xE2\x9B\x8F\""},  // UTF-8 passes through
  };
  for (const auto& [in, want] : cases) {
    std::string out = "prefix:";
    AppendJsonString(out, in);
    EXPECT_EQ(out, "prefix:" + std::string(want)) << testing::PrintToString(std::string(in));
  }
}

TEST_F(LogTest, StampsEachLineWithTheUtcTimeToTheMicrosecond) {
  const auto before = std::chrono::system_clock::now();
  Log(LogLevel::kInfo, "one");
  Log(LogLevel::kInfo, "two");
  const auto after = std::chrono::system_clock::now();
  ASSERT_EQ(lines_.size(), 2u);
  for (const std::string& line : lines_) {
    rapidjson::Document doc;
    doc.Parse(line.c_str());
    ASSERT_TRUE(doc.IsObject()) << line;
    const std::string ts = doc["ts"].GetString();
    std::tm tm{};
    int micros = -1;
    char zone = 0;
    ASSERT_EQ(std::sscanf(ts.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d.%6d%c", &tm.tm_year, &tm.tm_mon,
                          &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &micros, &zone),
              8)
        << ts;
    EXPECT_EQ(ts.size(), std::string("2026-11-28T21:15:00.123456Z").size()) << ts;
    EXPECT_EQ(zone, 'Z');
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    const auto stamped =
        std::chrono::system_clock::from_time_t(timegm(&tm)) + std::chrono::microseconds(micros);
    EXPECT_GE(stamped, std::chrono::time_point_cast<std::chrono::microseconds>(before)) << ts;
    EXPECT_LE(stamped, after) << ts;
  }
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
