#pragma once

#include <rapidjson/document.h>

#include <cstddef>
#include <string>

namespace stratum_guard::server {

// Nesting deeper than this is refused. A Kubernetes object nests a few dozen levels at most
// (CRD schemas are the deepest); the limit bounds memory and time per request.
inline constexpr int kDefaultMaxJsonDepth = 128;

// More values (scalars, keys, objects and arrays) than this are refused. A parse costs about
// 40 bytes per value at its peak (16 in the document, up to 24 on the parser's stack), so a
// document of small values ("[0,0,...]") costs 20 times its size; the limit bounds one parse to
// about 20 MiB whatever the body. The API server sends objects of at most 1.5 MiB (etcd's
// limit), two in an UPDATE: far fewer values than this even at 6 bytes a value.
inline constexpr std::size_t kDefaultMaxJsonValues = 512 * 1024;

// Parses `text` in place (RapidJSON's insitu mode: the document's strings point into `text`,
// which must outlive the document and is modified). Refuses NUL bytes, text that is not UTF-8
// (so every string of the document is UTF-8, \u escapes included), and objects and arrays nested
// deeper than `max_depth`, and documents of more than `max_values` values; both are checked
// while parsing, so recursion and memory stay bounded on hostile input. Returns an empty string
// on success, else a one-line reason for a 400 response.
std::string ParseJsonInPlace(std::string& text, rapidjson::Document& document,
                             int max_depth = kDefaultMaxJsonDepth,
                             std::size_t max_values = kDefaultMaxJsonValues);

}  // namespace stratum_guard::server
