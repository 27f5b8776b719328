#include "server/json.h"

#include <rapidjson/error/en.h>
#include <rapidjson/reader.h>

#include <cstdint>
#include <cstring>
#include <string_view>

namespace stratum_guard::server {
namespace {

// Past this nesting limit the parser runs iteratively. Below it, RapidJSON's recursive parser
// (faster) recurses at most max_depth + 1 frames of a few hundred bytes: the handler refuses the
// next level before the parser descends into it.
constexpr int kMaxRecursiveDepth = 512;

constexpr std::uint64_t kLowBits = 0x0101010101010101ULL;
constexpr std::uint64_t kHighBits = 0x8080808080808080ULL;

// Whether all eight bytes of `word` are ASCII and, if `refuse_nul`, none is NUL. The NUL test
// is the classic "has a zero byte" one: (w - 0x01..) & ~w sets the high bit of a byte that
// was zero (and only of bytes at or above the first zero, which is all the test needs).
bool PlainAscii(std::uint64_t word, bool refuse_nul) {
  std::uint64_t flags = word;
  if (refuse_nul) flags |= (word - kLowBits) & ~word;
  return (flags & kHighBits) == 0;
}

std::uint64_t Load64(const unsigned char* p) {
  std::uint64_t word;
  std::memcpy(&word, p, sizeof word);
  return word;
}

// Offset of the first byte of `text` that does not start a well-formed UTF-8 sequence (Unicode
// 15, table 3-7: no overlong forms, no surrogates, nothing past U+10FFFF) or, if `refuse_nul`,
// is NUL; npos when there is none. ASCII is checked 32 and then 8 bytes at a time: admission
// reviews are almost all ASCII.
std::size_t FirstBadByte(std::string_view text, bool refuse_nul) {
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  const std::size_t n = text.size();
  std::size_t i = 0;
  while (i < n) {
    if (n - i >= 32 && PlainAscii(Load64(s + i), refuse_nul) &&
        PlainAscii(Load64(s + i + 8), refuse_nul) && PlainAscii(Load64(s + i + 16), refuse_nul) &&
        PlainAscii(Load64(s + i + 24), refuse_nul)) {
      i += 32;
      continue;
    }
    if (n - i >= 8 && PlainAscii(Load64(s + i), refuse_nul)) {
      i += 8;
      continue;
    }
    const unsigned char c = s[i];
    if (c == 0 && refuse_nul) return i;
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::size_t length = 0;
    unsigned char low = 0x80;  // allowed range of the second byte
    unsigned char high = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
      length = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      length = 3;
      if (c == 0xE0) low = 0xA0;   // overlong
      if (c == 0xED) high = 0x9F;  // UTF-16 surrogates
    } else if (c >= 0xF0 && c <= 0xF4) {
      length = 4;
      if (c == 0xF0) low = 0x90;   // overlong
      if (c == 0xF4) high = 0x8F;  // past U+10FFFF
    } else {
      return i;
    }
    if (n - i < length || s[i + 1] < low || s[i + 1] > high) return i;
    for (std::size_t k = 2; k < length; ++k) {
      if ((s[i + k] & 0xC0) != 0x80) return i;
    }
    i += length;
  }
  return std::string_view::npos;
}

// A \u escape of a UTF-16 surrogate: RapidJSON 1.1 pairs a high surrogate with the low one that
// must follow, but decodes a lone low surrogate (\udc00) into bytes that are not UTF-8.
bool MayEscapeSurrogate(std::string_view text) {
  for (std::size_t at = text.find("\\u"); at != std::string_view::npos;
       at = text.find("\\u", at + 2)) {
    if (at + 2 < text.size() && (text[at + 2] == 'd' || text[at + 2] == 'D')) return true;
  }
  return false;
}

// Forwards SAX events to the document while counting nesting and values, so that the depth and
// value limits are enforced during parsing rather than after a hostile document has been built
// (and, for the recursive parser, before it recurses). When `check_strings` is set it also refuses
// strings that are not UTF-8 after unescaping.
class BoundedHandler {
 public:
  BoundedHandler(rapidjson::Document& document, int max_depth, std::size_t max_values,
                 bool check_strings)
      : document_(document),
        max_depth_(max_depth),
        values_left_(max_values),
        check_strings_(check_strings) {}

  bool Null() { return Count() && document_.Null(); }
  bool Bool(bool b) { return Count() && document_.Bool(b); }
  bool Int(int i) { return Count() && document_.Int(i); }
  bool Uint(unsigned u) { return Count() && document_.Uint(u); }
  bool Int64(int64_t i) { return Count() && document_.Int64(i); }
  bool Uint64(uint64_t u) { return Count() && document_.Uint64(u); }
  bool Double(double d) { return Count() && document_.Double(d); }
  bool RawNumber(const char* s, rapidjson::SizeType n, bool copy) {
    return Count() && document_.RawNumber(s, n, copy);
  }
  bool String(const char* s, rapidjson::SizeType n, bool copy) {
    return Count() && CheckString(s, n) && document_.String(s, n, copy);
  }
  bool Key(const char* s, rapidjson::SizeType n, bool copy) {
    return Count() && CheckString(s, n) && document_.Key(s, n, copy);
  }
  bool StartObject() { return Count() && Enter() && document_.StartObject(); }
  bool EndObject(rapidjson::SizeType n) {
    --depth_;
    return document_.EndObject(n);
  }
  bool StartArray() { return Count() && Enter() && document_.StartArray(); }
  bool EndArray(rapidjson::SizeType n) {
    --depth_;
    return document_.EndArray(n);
  }

  bool too_deep() const { return too_deep_; }
  bool too_many() const { return too_many_; }
  // The refused string (in situ: it starts where its JSON text did), or nullptr.
  const char* bad_string() const { return bad_string_; }

 private:
  bool Enter() {
    if (++depth_ > max_depth_) {
      too_deep_ = true;
      return false;
    }
    return true;
  }
  // Every value (a key too) takes a slot on the document's stack and then in its allocator:
  // refusing the one past the limit bounds the parse's memory, not only its result.
  bool Count() {
    if (values_left_ == 0) {
      too_many_ = true;
      return false;
    }
    --values_left_;
    return true;
  }
  bool CheckString(const char* s, rapidjson::SizeType n) {
    // An escaped \u0000 is a legal NUL inside a string.
    if (!check_strings_ || FirstBadByte({s, n}, false) == std::string_view::npos) return true;
    bad_string_ = s;
    return false;
  }

  rapidjson::Document& document_;
  int max_depth_;
  std::size_t values_left_;
  bool check_strings_;
  int depth_ = 0;
  bool too_deep_ = false;
  bool too_many_ = false;
  const char* bad_string_ = nullptr;
};

}  // namespace

std::string ParseJsonInPlace(std::string& text, rapidjson::Document& document, int max_depth,
                             std::size_t max_values) {
  // UTF-8 is checked over the whole text before parsing, instead of RapidJSON's
  // kParseValidateEncodingFlag, which checks string bytes one at a time and cost as much as the
  // rest of the parse. Outside strings JSON allows only ASCII, which the parser enforces, so
  // every string of a document that parses is UTF-8 as written; only \u escapes can still make
  // one that is not (see MayEscapeSurrogate), and then each string is checked after unescaping.
  // The same pass refuses NUL: the insitu stream ends at the first one, which would silently
  // ignore whatever follows.
  if (std::size_t bad = FirstBadByte(text, true); bad != std::string_view::npos) {
    return "malformed JSON at offset " + std::to_string(bad) +
           (text[bad] == '\0' ? ": NUL byte" : ": invalid UTF-8");
  }
  BoundedHandler handler(document, max_depth, max_values, MayEscapeSurrogate(text));
  rapidjson::Reader reader;
  rapidjson::ParseResult result;
  auto generate = [&](rapidjson::Document&) {
    rapidjson::InsituStringStream stream(text.data());
    if (max_depth <= kMaxRecursiveDepth) {
      result = reader.Parse<rapidjson::kParseInsituFlag>(stream, handler);
    } else {
      result = reader.Parse<rapidjson::kParseInsituFlag | rapidjson::kParseIterativeFlag>(stream,
                                                                                          handler);
    }
    return !result.IsError();
  };
  document.Populate(generate);
  if (handler.too_deep()) {
    return "JSON nested deeper than " + std::to_string(max_depth) + " levels";
  }
  if (handler.too_many()) {
    return "JSON has more than " + std::to_string(max_values) + " values";
  }
  if (handler.bad_string() != nullptr) {
    return "malformed JSON at offset " +
           std::to_string(static_cast<std::size_t>(handler.bad_string() - text.data())) +
           ": string is not UTF-8 once unescaped";
  }
  if (result.IsError()) {
    return std::string("malformed JSON at offset ") + std::to_string(result.Offset()) + ": " +
           rapidjson::GetParseError_En(result.Code());
  }
  return {};
}

}  // namespace stratum_guard::server
