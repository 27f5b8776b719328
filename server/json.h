#pragma once

#include <rapidjson/document.h>

#include <string>

namespace stratum_guard::server {

// Nesting deeper than this is refused. A Kubernetes object nests a few dozen levels at most
// (CRD schemas are the deepest); the limit bounds memory and time per request.
inline constexpr int kDefaultMaxJsonDepth = 128;

// Parses `text` in place (RapidJSON's insitu mode: the document's strings point into `text`,
// which must outlive the document and is modified). The parser is iterative (no recursion on
// untrusted input) and validates UTF-8; objects and arrays nested deeper than `max_depth` are
// refused. Returns an empty string on success, else a one-line reason for a 400 response.
std::string ParseJsonInPlace(std::string& text, rapidjson::Document& document,
                             int max_depth = kDefaultMaxJsonDepth);

}  // namespace stratum_guard::server
