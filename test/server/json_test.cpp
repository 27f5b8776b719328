#include "server/json.h"

#include <gtest/gtest.h>
#include <rapidjson/reader.h>

#include <string>
#include <string_view>

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

TEST(ParseJsonInPlaceTest, CountsEveryValueKeysIncludedUpToTheLimit) {
  // An object, its key, an array and its two elements: five values.
  const std::string five = R"({"a":[1,"x"]})";
  std::string text = five;
  rapidjson::Document doc;
  EXPECT_EQ(ParseJsonInPlace(text, doc, kDefaultMaxJsonDepth, 5), "");
  text = five;
  rapidjson::Document doc2;
  EXPECT_EQ(ParseJsonInPlace(text, doc2, kDefaultMaxJsonDepth, 4), "JSON has more than 4 values");
  for (std::string one :
       {"null", "true", "-1", "1", "1.5", "18446744073709551615", "\"s\"", "{}", "[]"}) {
    SCOPED_TRACE(one);
    std::string two = "[" + one + "]";
    rapidjson::Document d;
    EXPECT_EQ(ParseJsonInPlace(two, d, kDefaultMaxJsonDepth, 1), "JSON has more than 1 values");
  }
}

// The issue's amplification: an 8 MiB body of small values is refused while it is parsed, at
// the value limit, instead of being built into a document sixteen times its size.
TEST(ParseJsonInPlaceTest, RefusesAnArrayOfMillionsOfSmallValues) {
  std::string text = "[0";
  while (text.size() < (8u << 20) - 2) text += ",0";
  text += "]";
  rapidjson::Document doc;
  EXPECT_EQ(ParseJsonInPlace(text, doc),
            "JSON has more than " + std::to_string(kDefaultMaxJsonValues) + " values");
  // The same bytes as a few long strings are one value each, and pass.
  std::string strings =
      "[\"" + std::string(4u << 20, 'a') + "\",\"" + std::string(4u << 20, 'b') + "\"]";
  rapidjson::Document doc2;
  EXPECT_EQ(ParseJsonInPlace(strings, doc2), "");
}

TEST(ParseJsonInPlaceTest, ReportsMalformedJsonWithItsOffset) {
  for (std::string text : {std::string("{\"a\":"), std::string("{'a':1}"), std::string(""),
                           std::string("{} {}"), std::string("nul")}) {
    rapidjson::Document doc;
    EXPECT_NE(ParseJsonInPlace(text, doc).find("malformed JSON"), std::string::npos) << text;
  }
}

std::string StringMember(std::string_view raw) { return "{\"a\":\"" + std::string(raw) + "\"}"; }

std::string Parsed(std::string text) {
  rapidjson::Document doc;
  std::string error = ParseJsonInPlace(text, doc);
  if (!error.empty()) return "error: " + error;
  return std::string(doc["a"].GetString(), doc["a"].GetStringLength());
}

TEST(ParseJsonInPlaceTest, RefusesInvalidUtf8AndNulBytes) {
  std::string bad_utf8 = "{\"a\":\"\xff\xfe\"}";
  rapidjson::Document doc;
  EXPECT_EQ(ParseJsonInPlace(bad_utf8, doc), "malformed JSON at offset 6: invalid UTF-8");
  // A raw NUL anywhere, in a string or between tokens: every position of the 32- and 8-byte
  // fast paths and of the byte-by-byte tail.
  const std::string valid = "{\"key\": \"" + std::string(60, 'v') + "\", \"n\": [1, 2, 3]}";
  for (std::size_t at = 0; at < valid.size(); ++at) {
    std::string text = valid;
    text[at] = '\0';
    rapidjson::Document nul_doc;
    EXPECT_EQ(ParseJsonInPlace(text, nul_doc),
              "malformed JSON at offset " + std::to_string(at) + ": NUL byte")
        << at;
  }
  // The first bad byte is the one reported, whichever kind it is.
  std::string both("{\"a\":\"\xff\0\"}", 10);
  EXPECT_EQ(ParseJsonInPlace(both, doc), "malformed JSON at offset 6: invalid UTF-8");
  // An escaped NUL is a character like any other.
  EXPECT_EQ(Parsed(StringMember("a\\u0000b")), std::string("a\0b", 3));
  EXPECT_EQ(Parsed(StringMember("\\u0000\\udc00")).substr(0, 25), "error: malformed JSON at ");
}

TEST(ParseJsonInPlaceTest, AcceptsUtf8AndKeepsItsBytes) {
  EXPECT_EQ(Parsed(StringMember("h\xC3\xA9llo \xE6\x97\xA5\xE6\x9C\xAC \xF0\x9F\x98\x80")),
            "h\xC3\xA9llo \xE6\x97\xA5\xE6\x9C\xAC \xF0\x9F\x98\x80");
  // Escapes decode to UTF-8, a surrogate pair to one 4-byte sequence.
  EXPECT_EQ(Parsed(StringMember("\\u00e9\\ud83d\\ude00\\n")), "\xC3\xA9\xF0\x9F\x98\x80\n");
  // Code points at the edges of each sequence length.
  EXPECT_EQ(Parsed(StringMember("\x7F\xC2\x80\xDF\xBF\xE0\xA0\x80\xED\x9F\xBF\xEE\x80\x80"
                                "\xEF\xBF\xBF\xF0\x90\x80\x80\xF4\x8F\xBF\xBF")),
            "\x7F\xC2\x80\xDF\xBF\xE0\xA0\x80\xED\x9F\xBF\xEE\x80\x80\xEF\xBF\xBF"
            "\xF0\x90\x80\x80\xF4\x8F\xBF\xBF");
}

TEST(ParseJsonInPlaceTest, RefusesEachKindOfMalformedUtf8WithItsOffset) {
  // Each bad sequence comes after 13 bytes of ASCII: {"a":"12345678 (the 8-byte fast path).
  for (std::string_view bad : {
           std::string_view("\x80"),              // continuation byte without a lead
           std::string_view("\xC0\xAF"),          // overlong '/'
           std::string_view("\xC1\xBF"),          // overlong
           std::string_view("\xE0\x80\xAF"),      // overlong 3-byte
           std::string_view("\xF0\x80\x80\xAF"),  // overlong 4-byte
           std::string_view("\xED\xA0\x80"),      // UTF-16 high surrogate, encoded
           std::string_view("\xED\xBF\xBF"),      // UTF-16 low surrogate, encoded
           std::string_view("\xF4\x90\x80\x80"),  // past U+10FFFF
           std::string_view("\xF5\x80\x80\x80"),  // lead byte never used
           std::string_view("\xFF"),
           std::string_view("\xC3"),          // truncated by the closing quote
           std::string_view("\xE6\x97"),      // truncated
           std::string_view("\xE6\x41\xA5"),  // ASCII where a continuation byte belongs
       }) {
    std::string text = "{\"a\":\"12345678" + std::string(bad) + "\"}";
    rapidjson::Document doc;
    EXPECT_EQ(ParseJsonInPlace(text, doc), "malformed JSON at offset 14: invalid UTF-8")
        << testing::PrintToString(bad);
  }
  // Outside strings too, and as the very last byte.
  for (std::string text :
       {std::string("\xC3"), std::string("{} \xE6"), std::string("{\"a\":1}\xFF")}) {
    rapidjson::Document doc;
    EXPECT_NE(ParseJsonInPlace(text, doc).find("invalid UTF-8"), std::string::npos)
        << testing::PrintToString(text);
  }
}

TEST(ParseJsonInPlaceTest, RefusesEscapedLoneSurrogates) {
  // RapidJSON 1.1 decodes a lone low surrogate to ED B0 80, which is not UTF-8 and would reach
  // logs and the response (metadata.name is echoed in messages); a lone high surrogate it refuses.
  for (std::string_view escaped :
       {"x\\udc00", "\\uDFFF", "\\ud800", "\\uD83D\\u0041", "\\ude00\\ud83d"}) {
    std::string result = Parsed(StringMember(escaped));
    EXPECT_NE(result.find("error: malformed JSON at offset "), std::string::npos)
        << escaped << " -> " << testing::PrintToString(result);
  }
  // As a key too.
  std::string key = "{\"ok\":1,\"\\udc00\":1}";
  rapidjson::Document doc;
  EXPECT_EQ(ParseJsonInPlace(key, doc),
            "malformed JSON at offset 9: string is not UTF-8 once unescaped");
  // An escaped backslash before "ud..." is no escape: the text is accepted as written.
  EXPECT_EQ(Parsed(StringMember("\\\\udc00")), "\\udc00");
}

// Accepts exactly what RapidJSON's own validating parser (kParseValidateEncodingFlag, which the
// server used before) accepts, for every 1- and 2-byte string and every 3-byte string that
// starts with a multi-byte lead, and for 4-byte strings over every lead and second byte.
TEST(ParseJsonInPlaceTest, AcceptsTheSameStringsAsRapidJsonsValidatingParser) {
  auto validating_parser_accepts = [](const std::string& text) {
    rapidjson::Reader reader;
    rapidjson::BaseReaderHandler<> handler;
    rapidjson::StringStream stream(text.c_str());
    return !reader.Parse<rapidjson::kParseValidateEncodingFlag>(stream, handler).IsError();
  };
  int compared = 0;
  int accepted = 0;
  auto compare = [&](std::string_view bytes) {
    std::string text = StringMember(bytes);
    if (text.find('\0') != std::string::npos) return;  // refused for another reason
    bool expected = validating_parser_accepts(text);
    rapidjson::Document doc;
    std::string error = ParseJsonInPlace(text, doc);
    ++compared;
    accepted += error.empty() ? 1 : 0;
    ASSERT_EQ(error.empty(), expected) << testing::PrintToString(std::string(bytes)) << error;
  };
  std::string bytes;
  for (int a = 1; a < 256; ++a) {
    bytes.assign(1, static_cast<char>(a));
    ASSERT_NO_FATAL_FAILURE(compare(bytes));
    for (int b = 1; b < 256; ++b) {
      bytes.assign({static_cast<char>(a), static_cast<char>(b)});
      ASSERT_NO_FATAL_FAILURE(compare(bytes));
    }
  }
  for (int a = 0xC0; a < 256; ++a) {
    for (int b = 0x70; b < 0xD0; ++b) {
      for (int c = 0x70; c < 0xD0; ++c) {
        bytes.assign({static_cast<char>(a), static_cast<char>(b), static_cast<char>(c)});
        ASSERT_NO_FATAL_FAILURE(compare(bytes));
        if (a < 0xF0 || c != 0x80) continue;
        for (int d : {0x41, 0x80, 0xBF, 0xC0}) {
          bytes.push_back(static_cast<char>(d));
          ASSERT_NO_FATAL_FAILURE(compare(bytes));
          bytes.pop_back();
        }
      }
    }
  }
  EXPECT_GT(compared, 500'000);
  EXPECT_GT(accepted, 10'000);  // the comparison covered both answers
}

TEST(ParseJsonInPlaceTest, DeepNestingPastTheRecursiveLimitIsStillBounded) {
  // Past 512 levels the parser runs iteratively; the limit still holds.
  std::string ok = Nested(2000);
  rapidjson::Document doc;
  EXPECT_EQ(ParseJsonInPlace(ok, doc, 2000), "");
  std::string deep(1'000'000, '[');
  rapidjson::Document doc2;
  EXPECT_NE(ParseJsonInPlace(deep, doc2, 2000).find("deeper than 2000"), std::string::npos);
}

}  // namespace
}  // namespace stratum_guard::server
