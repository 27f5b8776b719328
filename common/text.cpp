#include "common/text.h"

namespace stratum_guard::common {

std::string_view Utf8Prefix(std::string_view text, std::size_t max_bytes) {
  if (text.size() <= max_bytes) return text;
  std::size_t cut = max_bytes;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
  return text.substr(0, cut);
}

std::string TruncateUtf8(std::string_view text, std::size_t max_bytes, std::string_view ellipsis) {
  if (text.size() <= max_bytes) return std::string(text);
  if (max_bytes < ellipsis.size()) return std::string(Utf8Prefix(text, max_bytes));
  std::string out(Utf8Prefix(text, max_bytes - ellipsis.size()));
  out += ellipsis;
  return out;
}

}  // namespace stratum_guard::common
