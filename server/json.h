#pragma once

#include <rapidjson/document.h>

#include <string>

namespace stratum_guard::server {

// Nesting deeper than this is refused. A Kubernetes object nests a few dozen levels at most
// (CRD schemas are the deepest); the limit bounds memory and time per request.
inline constexpr int kDefaultMaxJsonDepth = 128;

// Parses `text` in place (RapidJSON's insitu mode: the document's strings point into `text`,
// which must outlive the document and is modified). Refuses NUL bytes, text that is not UTF-8
// (so every string of the document is UTF-8, \u escapes included), and objects and arrays nested
// deeper than `max_depth`; the depth is checked while parsing, so recursion and memory stay
// bounded on hostile input. Returns an empty string on success, else a one-line
// reason for a 400 response.
std::string ParseJsonInPlace(std::string& text, rapidjson::Document& document,
                             int max_depth = kDefaultMaxJsonDepth);

}  // namespace stratum_guard::server
