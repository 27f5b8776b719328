#include "server/json.h"

#include <rapidjson/error/en.h>
#include <rapidjson/reader.h>

namespace stratum_guard::server {
namespace {

// Forwards SAX events to the document while counting nesting, so that the depth limit is
// enforced during parsing rather than after a hostile document has been built.
class DepthLimitedHandler {
 public:
  DepthLimitedHandler(rapidjson::Document& document, int max_depth)
      : document_(document), max_depth_(max_depth) {}

  bool Null() { return document_.Null(); }
  bool Bool(bool b) { return document_.Bool(b); }
  bool Int(int i) { return document_.Int(i); }
  bool Uint(unsigned u) { return document_.Uint(u); }
  bool Int64(int64_t i) { return document_.Int64(i); }
  bool Uint64(uint64_t u) { return document_.Uint64(u); }
  bool Double(double d) { return document_.Double(d); }
  bool RawNumber(const char* s, rapidjson::SizeType n, bool copy) {
    return document_.RawNumber(s, n, copy);
  }
  bool String(const char* s, rapidjson::SizeType n, bool copy) {
    return document_.String(s, n, copy);
  }
  bool Key(const char* s, rapidjson::SizeType n, bool copy) { return document_.Key(s, n, copy); }
  bool StartObject() { return Enter() && document_.StartObject(); }
  bool EndObject(rapidjson::SizeType n) {
    --depth_;
    return document_.EndObject(n);
  }
  bool StartArray() { return Enter() && document_.StartArray(); }
  bool EndArray(rapidjson::SizeType n) {
    --depth_;
    return document_.EndArray(n);
  }

  bool too_deep() const { return too_deep_; }

 private:
  bool Enter() {
    if (++depth_ > max_depth_) {
      too_deep_ = true;
      return false;
    }
    return true;
  }

  rapidjson::Document& document_;
  int max_depth_;
  int depth_ = 0;
  bool too_deep_ = false;
};

}  // namespace

std::string ParseJsonInPlace(std::string& text, rapidjson::Document& document, int max_depth) {
  constexpr unsigned kFlags = rapidjson::kParseInsituFlag | rapidjson::kParseIterativeFlag |
                              rapidjson::kParseValidateEncodingFlag;
  // The insitu stream ends at the first NUL, which would silently ignore whatever follows.
  if (text.find('\0') != std::string::npos) return "NUL byte in JSON text";
  rapidjson::Reader reader;
  DepthLimitedHandler handler(document, max_depth);
  rapidjson::ParseResult result;
  auto generate = [&](rapidjson::Document&) {
    rapidjson::InsituStringStream stream(text.data());
    result = reader.Parse<kFlags>(stream, handler);
    return !result.IsError();
  };
  document.Populate(generate);
  if (handler.too_deep()) {
    return "JSON nested deeper than " + std::to_string(max_depth) + " levels";
  }
  if (result.IsError()) {
    return std::string("malformed JSON at offset ") + std::to_string(result.Offset()) + ": " +
           rapidjson::GetParseError_En(result.Code());
  }
  return {};
}

}  // namespace stratum_guard::server
