#pragma once

#include <rapidjson/document.h>

#include <istream>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace stratum_guard::check {

// Reads Kubernetes manifests the way `kubectl apply -f` does: YAML streams of one or more
// documents, JSON files (one or more concatenated values), `kind: List` (and any `*List` kind with
// an `items` array) expanded into its items. Reading never judges; check.h does.

// 1-based line (and column) of a problem; 0 when unknown.
struct ReadError {
  std::string file;
  int line = 0;
  int column = 0;
  std::string message;
};

// JSON path (as the policy writes it: "spec.template.spec.containers[0].args[1]") -> 1-based line
// of the YAML node, for every node of one YAML document. JSON input has none.
using LineIndex = std::map<std::string, int, std::less<>>;

// One Kubernetes object found in a manifest. Cheap to copy: the parsed document is shared by the
// objects of one List.
struct ManifestObject {
  std::string file;       // the path as given (or found in a directory), "-" for stdin
  int document = 0;       // 0-based index of the document in the file (YAML `---`, JSON value)
  std::string item_path;  // "items[2]" when the object came from a List ("items[0].items[1]"
                          // for nested ones), empty otherwise
  int line = 0;           // 1-based line where the object starts
  std::shared_ptr<const rapidjson::Document> root;  // the whole document
  const rapidjson::Value* object = nullptr;         // the object, inside *root; may be any type
  std::shared_ptr<const LineIndex> lines;           // null for JSON input

  // The line of `path` (relative to the object), or of its nearest ancestor that has one, or
  // of the object itself.
  int LineOf(std::string_view path) const;
};

struct ReadResult {
  std::vector<ManifestObject> objects;
  std::vector<ReadError> errors;
  // What was read, but not as written: a duplicate YAML key (the last value is used).
  std::vector<ReadError> warnings;
  int files = 0;  // files (and stdin) that were read, parsed or not
};

enum class Format { kAuto, kYaml, kJson };

// Limits that keep a hostile manifest from exhausting the stack or memory.
inline constexpr int kMaxDepth = 256;         // nesting of YAML maps and sequences
inline constexpr long kMaxNodes = 2'000'000;  // nodes of one YAML document, aliases expanded

// Parses one file's text. kAuto reads JSON when the first non-blank character is `{` or `[`,
// YAML otherwise. A parse error ends that file: the objects of the documents before it are
// kept, the error (with line and column) is appended to `result->errors`. Never throws.
void ParseManifest(std::string_view text, const std::string& file, Format format,
                   ReadResult* result);

// Reads every PATH: a file (format from its extension: .json is JSON, .yaml/.yml YAML, others
// sniffed), a directory (every *.yaml, *.yml and *.json file under it, recursively, in sorted
// path order; directory symlinks are not followed) or "-" for `stdin`. A path that cannot be
// read is an error and the others are still read. Never throws.
ReadResult ReadManifests(const std::vector<std::string>& paths, std::istream& stdin_stream);

// The files that ReadManifests would read for `path`, in order; an error when the path is missing.
std::vector<std::string> ExpandPath(const std::string& path, std::vector<ReadError>* errors);

}  // namespace stratum_guard::check
