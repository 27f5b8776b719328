#include "server/json.h"

#include <gtest/gtest.h>

#include <string>

namespace stratum_guard::server {
namespace {

std::string Nested(int depth) {
  return std::string(static_cast<std::size_t>(depth), '[') +
         std::string(static_cast<std::size_t>(depth), ']');
}

TEST(ParseJsonInPlaceTest, ParsesAnObject) {
  std::string text = R"({"a":[1,"two",{"b":null}],"c":true})";
  rapidjson::Document doc;
  ASSERT_EQ(ParseJsonInPlace(text, doc), "");
  ASSERT_TRUE(doc.IsObject());
  EXPECT_STREQ(doc["a"][1].GetString(), "two");
}

TEST(ParseJsonInPlaceTest, AcceptsNestingUpToTheLimit) {
  std::string text = Nested(128);
  rapidjson::Document doc;
  EXPECT_EQ(ParseJsonInPlace(text, doc, 128), "");
}

TEST(ParseJsonInPlaceTest, RefusesNestingPastTheLimit) {
  std::string text = Nested(129);
  rapidjson::Document doc;
  EXPECT_NE(ParseJsonInPlace(text, doc, 128).find("deeper than 128"), std::string::npos);
}

TEST(ParseJsonInPlaceTest, DeepHostileNestingNeitherRecursesNorCrashes) {
  // A million open brackets: a recursive parser would overflow the stack.
  std::string text(1'000'000, '[');
  rapidjson::Document doc;
  EXPECT_NE(ParseJsonInPlace(text, doc).find("deeper"), std::string::npos);
  std::string objects;
  for (int i = 0; i < 200'000; ++i) objects += "{\"a\":";
  rapidjson::Document doc2;
  EXPECT_NE(ParseJsonInPlace(objects, doc2).find("deeper"), std::string::npos);
}

TEST(ParseJsonInPlaceTest, ReportsMalformedJsonWithItsOffset) {
  for (std::string text : {std::string("{\"a\":"), std::string("{'a':1}"), std::string(""),
                           std::string("{} {}"), std::string("nul")}) {
    rapidjson::Document doc;
    EXPECT_NE(ParseJsonInPlace(text, doc).find("malformed JSON"), std::string::npos) << text;
  }
}

TEST(ParseJsonInPlaceTest, RefusesInvalidUtf8AndNulBytes) {
  std::string bad_utf8 = "{\"a\":\"\xff\xfe\"}";
  rapidjson::Document doc;
  EXPECT_NE(ParseJsonInPlace(bad_utf8, doc), "");
  std::string nul("{}\0{", 4);
  rapidjson::Document doc2;
  EXPECT_NE(ParseJsonInPlace(nul, doc2).find("NUL"), std::string::npos);
}

}  // namespace
}  // namespace stratum_guard::server
