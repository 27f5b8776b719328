#include "common/text.h"

#include <gtest/gtest.h>

#include <string>

namespace stratum_guard::common {
namespace {

TEST(TruncateUtf8Test, NeverSplitsACodePoint) {
  const std::string text = "ab\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80z";  // a b é € 😀 z
  for (std::size_t n = 0; n <= text.size() + 1; ++n) {
    std::string cut = TruncateUtf8(text, n);
    EXPECT_LE(cut.size(), n) << n;
    std::string_view kept = Utf8Prefix(text, n < 3 ? n : n - 3);
    // What is kept of the text ends on a boundary: the byte after it is not a continuation.
    if (kept.size() < text.size()) {
      EXPECT_NE(static_cast<unsigned char>(text[kept.size()]) & 0xC0, 0x80) << n;
    }
  }
}

TEST(TruncateUtf8Test, KeepsWhatFitsAndMarksTheCut) {
  EXPECT_EQ(TruncateUtf8("hello", 5), "hello");
  EXPECT_EQ(TruncateUtf8("hello world", 8), "hello...");
  EXPECT_EQ(TruncateUtf8("hello world", 8, "\xE2\x80\xA6"), "hello\xE2\x80\xA6");
}

// Below the ellipsis' own size there is no room for it: the text is cut bare, and the size
// arithmetic does not wrap around (max_bytes - 3 once did, in the policy's copy).
TEST(TruncateUtf8Test, LimitsSmallerThanTheEllipsis) {
  EXPECT_EQ(TruncateUtf8("hello", 0), "");
  EXPECT_EQ(TruncateUtf8("hello", 2), "he");
  EXPECT_EQ(TruncateUtf8("\xC3\xA9\xC3\xA9", 1), "");
  EXPECT_EQ(TruncateUtf8("hello", 3), "...");
}

}  // namespace
}  // namespace stratum_guard::common
