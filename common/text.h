#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace stratum_guard::common {

// The longest prefix of `text` of at most `max_bytes` that does not end inside a UTF-8
// sequence (continuation bytes, 10xxxxxx, are never split from their lead byte).
std::string_view Utf8Prefix(std::string_view text, std::size_t max_bytes);

// `text` when it fits in `max_bytes`; otherwise its Utf8Prefix followed by `ellipsis`, the whole
// within `max_bytes` (the ellipsis is left out when not even it fits). Messages with a size
// limit (denials, warnings, evidence) are cut here and only here.
std::string TruncateUtf8(std::string_view text, std::size_t max_bytes,
                         std::string_view ellipsis = "...");

}  // namespace stratum_guard::common
