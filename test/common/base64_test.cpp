#include "common/base64.h"

#include <gtest/gtest.h>

namespace stratum_guard::common {
namespace {

TEST(Base64Test, EncodesWithPadding) {
  EXPECT_EQ(EncodeBase64(""), "");
  EXPECT_EQ(EncodeBase64("h"), "aA==");
  EXPECT_EQ(EncodeBase64("he"), "aGU=");
  EXPECT_EQ(EncodeBase64("hello"), "aGVsbG8=");
  EXPECT_EQ(EncodeBase64("hello!"), "aGVsbG8h");
  EXPECT_EQ(EncodeBase64(std::string("\xff\x00\xfe", 3)), "/wD+");
}

TEST(Base64Test, DecodesWhatItEncodes) {
  std::string bytes;
  for (int i = 0; i < 256; ++i) bytes.push_back(static_cast<char>(i));
  for (std::size_t n = 0; n <= bytes.size(); n += 37) {
    EXPECT_EQ(DecodeBase64(EncodeBase64(bytes.substr(0, n))), bytes.substr(0, n)) << n;
  }
}

TEST(Base64Test, IgnoresWhitespaceAndRejectsTheRest) {
  EXPECT_EQ(DecodeBase64("aGVs\nbG8h"), "hello!");
  EXPECT_EQ(DecodeBase64(" aGVsbG8= \r\n"), "hello");
  EXPECT_FALSE(DecodeBase64("aGVsbG8"));   // not a multiple of 4
  EXPECT_FALSE(DecodeBase64("aGV*bG8="));  // bad character
  EXPECT_FALSE(DecodeBase64("aG=sbG8="));  // data after padding
  EXPECT_FALSE(DecodeBase64("aG==="));     // too much padding
  EXPECT_FALSE(DecodeBase64("aGVsbG8-"));  // the URL-safe alphabet is not base64
}

}  // namespace
}  // namespace stratum_guard::common
