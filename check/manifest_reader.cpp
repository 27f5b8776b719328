#include "check/manifest_reader.h"

#include <rapidjson/error/en.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/exceptions.h>
#include <yaml-cpp/mark.h>
#include <yaml-cpp/parser.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <iterator>
#include <sstream>
#include <stdexcept>
#include <unordered_map>
#include <utility>

#include "common/files.h"

namespace stratum_guard::check {
namespace {

namespace fs = std::filesystem;

// A problem found while building a document, with the yaml-cpp mark (0-based) where it is.
class BuildError : public std::runtime_error {
 public:
  BuildError(const YAML::Mark& mark, const std::string& message)
      : std::runtime_error(message), line(mark.line + 1), column(mark.column + 1) {}
  int line;
  int column;
};

// --- YAML scalars, resolved as kubectl does (sigs.k8s.io/yaml on go-yaml v2, YAML 1.1) -------

bool IsOneOf(std::string_view s, std::initializer_list<std::string_view> words) {
  return std::find(words.begin(), words.end(), s) != words.end();
}

bool AllOf(std::string_view s, bool (*pred)(char)) {
  return !s.empty() && std::all_of(s.begin(), s.end(), pred);
}
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsHexDigit(char c) { return IsDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
bool IsOctDigit(char c) { return c >= '0' && c <= '7'; }

// [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?
bool LooksLikeFloat(std::string_view s) {
  size_t i = 0;
  if (i < s.size() && (s[i] == '-' || s[i] == '+')) ++i;
  size_t int_digits = 0;
  while (i < s.size() && IsDigit(s[i])) ++i, ++int_digits;
  size_t frac_digits = 0;
  bool dot = false;
  if (i < s.size() && s[i] == '.') {
    dot = true;
    ++i;
    while (i < s.size() && IsDigit(s[i])) ++i, ++frac_digits;
  }
  if (int_digits == 0 && frac_digits == 0) return false;
  bool exponent = false;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    exponent = true;
    ++i;
    if (i < s.size() && (s[i] == '-' || s[i] == '+')) ++i;
    size_t exp_digits = 0;
    while (i < s.size() && IsDigit(s[i])) ++i, ++exp_digits;
    if (exp_digits == 0) return false;
  }
  return i == s.size() && (dot || exponent);
}

// Sets `out` to the JSON value of a plain (unquoted, untagged) YAML scalar.
void ResolvePlainScalar(const std::string& text, rapidjson::Value& out,
                        rapidjson::Document::AllocatorType& alloc) {
  std::string_view s = text;
  if (IsOneOf(s, {"", "~", "null", "Null", "NULL"})) {
    out.SetNull();
    return;
  }
  if (IsOneOf(s, {"true", "True", "TRUE", "yes", "Yes", "YES", "y", "Y", "on", "On", "ON"})) {
    out.SetBool(true);
    return;
  }
  if (IsOneOf(s, {"false", "False", "FALSE", "no", "No", "NO", "n", "N", "off", "Off", "OFF"})) {
    out.SetBool(false);
    return;
  }
  std::string_view digits = s;
  bool negative = false;
  if (!digits.empty() && (digits[0] == '-' || digits[0] == '+')) {
    negative = digits[0] == '-';
    digits.remove_prefix(1);
  }
  int base = 0;
  if (AllOf(digits, IsDigit)) {
    base = 10;
  } else if (digits.size() > 2 && digits.substr(0, 2) == "0x" &&
             AllOf(digits.substr(2), IsHexDigit)) {
    base = 16;
    digits.remove_prefix(2);
  } else if (digits.size() > 2 && digits.substr(0, 2) == "0o" &&
             AllOf(digits.substr(2), IsOctDigit)) {
    base = 8;
    digits.remove_prefix(2);
  }
  if (base != 0) {
    std::uint64_t magnitude = 0;
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), magnitude, base);
    if (ec == std::errc() && end == digits.data() + digits.size()) {
      if (!negative) {
        out.SetUint64(magnitude);
        return;
      }
      if (magnitude <= static_cast<std::uint64_t>(INT64_MAX) + 1) {
        out.SetInt64(magnitude == static_cast<std::uint64_t>(INT64_MAX) + 1
                         ? INT64_MIN
                         : -static_cast<std::int64_t>(magnitude));
        return;
      }
    }
    if (base == 10) {  // too large for 64 bits: a JSON number all the same
      out.SetDouble(std::strtod(text.c_str(), nullptr));
      return;
    }
  }
  if (LooksLikeFloat(s)) {
    double d = std::strtod(text.c_str(), nullptr);
    if (std::isfinite(d)) {
      out.SetDouble(d);
      return;
    }
  }
  // Everything else (including .inf and .nan, which JSON cannot carry) stays a string.
  out.SetString(text.data(), static_cast<rapidjson::SizeType>(text.size()), alloc);
}

void ResolveScalar(const std::string& tag, const std::string& text, rapidjson::Value& out,
                   rapidjson::Document::AllocatorType& alloc) {
  // yaml-cpp tags plain scalars "?" and quoted or block scalars "!". Explicit core-schema tags
  // other than !!str resolve like plain scalars; any other tag keeps the text.
  if (tag == "?" || tag == "tag:yaml.org,2002:int" || tag == "tag:yaml.org,2002:float" ||
      tag == "tag:yaml.org,2002:bool" || tag == "tag:yaml.org,2002:null") {
    ResolvePlainScalar(text, out, alloc);
  } else {
    out.SetString(text.data(), static_cast<rapidjson::SizeType>(text.size()), alloc);
  }
}

// --- YAML events -> rapidjson, with an explicit stack ----------------------------------------

struct YamlDocument {
  std::shared_ptr<rapidjson::Document> json;
  std::shared_ptr<LineIndex> lines;
  int line = 0;
};

// Builds one rapidjson::Document per YAML document from yaml-cpp's events. The stack is
// explicit, so nesting is bounded by kMaxDepth rather than by the C++ stack; aliases are copied
// and counted against kMaxNodes (an "alias bomb" ends with an error instead of eating memory);
// `<<` merge keys are applied as go-yaml does; of duplicate keys the last wins, as kubectl
// (1.32) stores it, with a warning: judging the first value would judge an object the API
// server never sees.
class JsonBuilder : public YAML::EventHandler {
 public:
  std::vector<YamlDocument>& documents() { return documents_; }
  // Duplicate keys seen so far: where the second one is, and the message.
  std::vector<std::pair<YAML::Mark, std::string>>& warnings() { return warnings_; }

  void OnDocumentStart(const YAML::Mark& mark) override {
    // yaml-cpp 0.7 never gets past a stray ',' at the top level (a file of one ",", found by
    // fuzz_manifest_reader): it emits empty documents at the same place forever, until memory
    // runs out. A document that starts where the one before it started consumed nothing.
    if (!documents_.empty() && mark.pos == last_start_) {
      throw BuildError(mark, "the YAML parser cannot get past this point (a stray ','?)");
    }
    last_start_ = mark.pos;
    doc_ = std::make_shared<rapidjson::Document>();
    lines_ = std::make_shared<LineIndex>();
    stack_.clear();
    anchors_.clear();
    nodes_ = 0;
    root_line_ = mark.line + 1;
  }

  void OnDocumentEnd() override {
    documents_.push_back({std::move(doc_), std::move(lines_), root_line_});
  }

  void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    Count(mark);
    AddNode(mark, rapidjson::Value(), anchor, 1, "null", true);
  }

  void OnScalar(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                const std::string& text) override {
    Count(mark);
    rapidjson::Value value;
    ResolveScalar(tag, text, value, doc_->GetAllocator());
    // A plain `<<` key is a merge key; a quoted one is an ordinary key.
    AddNode(mark, std::move(value), anchor, 1, text, true, tag == "?" && text == "<<");
  }

  void OnAlias(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    auto it = anchors_.find(anchor);
    if (it == anchors_.end()) throw BuildError(mark, "alias to an unknown anchor");
    const Anchored& anchored = it->second;
    if (nodes_ + anchored.nodes > kMaxNodes) {
      throw BuildError(mark, "document expands to more than " + std::to_string(kMaxNodes) +
                                 " nodes through aliases");
    }
    nodes_ += anchored.nodes;
    rapidjson::Value copy(anchored.value, doc_->GetAllocator());
    AddNode(mark, std::move(copy), 0, anchored.nodes, anchored.text, anchored.scalar);
  }

  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value) override {
    StartCollection(mark, anchor, /*is_map=*/false);
  }
  void OnSequenceEnd() override { EndCollection(); }

  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                  YAML::EmitterStyle::value) override {
    StartCollection(mark, anchor, /*is_map=*/true);
  }
  void OnMapEnd() override { EndCollection(); }

 private:
  struct Anchored {
    rapidjson::Value value;
    long nodes = 1;
    std::string text;  // for scalars used as keys
    bool scalar = false;
  };

  struct Frame {
    bool is_map = false;
    rapidjson::Value value;
    YAML::Mark mark;
    YAML::anchor_t anchor = 0;
    long nodes_before = 0;
    std::string path;
    rapidjson::SizeType index = 0;  // next sequence index
    // Maps: the key waiting for its value, and every explicit key with its line.
    bool has_key = false;
    bool key_is_merge = false;
    bool key_is_duplicate = false;  // the value replaces the earlier one
    std::string key;
    std::unordered_map<std::string, int> keys;
    std::vector<rapidjson::Value> merges;
  };

  std::string ChildPath(const Frame& frame) const {
    if (frame.is_map) return frame.path.empty() ? frame.key : frame.path + "." + frame.key;
    return frame.path + "[" + std::to_string(frame.index) + "]";
  }

  void Count(const YAML::Mark& mark) {
    if (++nodes_ > kMaxNodes) {
      throw BuildError(mark, "document has more than " + std::to_string(kMaxNodes) + " nodes");
    }
  }

  void StartCollection(const YAML::Mark& mark, YAML::anchor_t anchor, bool is_map) {
    if (!stack_.empty() && stack_.back().is_map && !stack_.back().has_key) {
      throw BuildError(mark, "a mapping key must be a scalar");
    }
    if (static_cast<int>(stack_.size()) >= kMaxDepth) {
      throw BuildError(mark, "nesting deeper than " + std::to_string(kMaxDepth) + " levels");
    }
    Frame frame;
    frame.is_map = is_map;
    if (is_map) {
      frame.value.SetObject();
    } else {
      frame.value.SetArray();
    }
    frame.mark = mark;
    frame.anchor = anchor;
    frame.nodes_before = nodes_;
    Count(mark);
    if (stack_.empty()) {
      root_line_ = mark.line + 1;
    } else {
      frame.path = ChildPath(stack_.back());
      if (!stack_.back().is_map) (*lines_)[frame.path] = mark.line + 1;
    }
    stack_.push_back(std::move(frame));
  }

  void EndCollection() {
    Frame frame = std::move(stack_.back());
    stack_.pop_back();
    auto& alloc = doc_->GetAllocator();
    // Merge keys: explicit keys win, then earlier merged mappings over later ones.
    for (rapidjson::Value& merge : frame.merges) {
      auto merge_one = [&](rapidjson::Value& source) {
        if (!source.IsObject()) {
          throw BuildError(frame.mark, "a merge key (<<) takes a mapping or a list of mappings");
        }
        for (auto& member : source.GetObject()) {
          std::string name(member.name.GetString(), member.name.GetStringLength());
          if (frame.keys.count(name) != 0) continue;
          frame.keys.emplace(name, frame.mark.line + 1);
          frame.value.AddMember(rapidjson::Value(member.name, alloc),
                                rapidjson::Value(member.value, alloc), alloc);
        }
      };
      if (merge.IsArray()) {
        for (auto& item : merge.GetArray()) merge_one(item);
      } else {
        merge_one(merge);
      }
    }
    AddNode(frame.mark, std::move(frame.value), frame.anchor, nodes_ - frame.nodes_before, "",
            false);
  }

  // Places a finished node (already counted in the budget; `nodes` is its size) as the document
  // root, a map key or value, or a sequence item, and remembers it under its anchor.
  void AddNode(const YAML::Mark& mark, rapidjson::Value value, YAML::anchor_t anchor, long nodes,
               const std::string& text, bool scalar, bool merge_key = false) {
    auto& alloc = doc_->GetAllocator();
    if (anchor != 0) {
      Anchored& a = anchors_[anchor];
      a.value.CopyFrom(value, alloc);
      a.nodes = nodes;
      a.text = text;
      a.scalar = scalar;
    }
    if (stack_.empty()) {
      static_cast<rapidjson::Value&>(*doc_) = value;
      (*lines_)[""] = root_line_;
      return;
    }
    Frame& parent = stack_.back();
    if (!parent.is_map) {
      if (scalar) (*lines_)[ChildPath(parent)] = mark.line + 1;
      parent.value.PushBack(value, alloc);
      ++parent.index;
      return;
    }
    if (!parent.has_key) {
      if (!scalar) throw BuildError(mark, "a mapping key must be a scalar");
      parent.has_key = true;
      parent.key_is_merge = merge_key;
      parent.key = text;
      if (merge_key) return;
      auto [it, inserted] = parent.keys.emplace(text, mark.line + 1);
      parent.key_is_duplicate = !inserted;
      if (!inserted) {
        warnings_.emplace_back(mark, "duplicate key \"" + text + "\" (first at line " +
                                         std::to_string(it->second) +
                                         "): the last value is used, as kubectl does");
      }
      (*lines_)[ChildPath(parent)] = mark.line + 1;
      return;
    }
    parent.has_key = false;
    if (parent.key_is_merge) {
      parent.merges.push_back(std::move(value));
      return;
    }
    if (parent.key_is_duplicate) {
      auto member = parent.value.FindMember(rapidjson::Value(rapidjson::StringRef(
          parent.key.data(), static_cast<rapidjson::SizeType>(parent.key.size()))));
      if (member != parent.value.MemberEnd()) {
        member->value = std::move(value);
        return;
      }
    }
    parent.value.AddMember(
        rapidjson::Value(parent.key.data(), static_cast<rapidjson::SizeType>(parent.key.size()),
                         alloc),
        value, alloc);
  }

  std::vector<YamlDocument> documents_;
  std::vector<std::pair<YAML::Mark, std::string>> warnings_;
  std::shared_ptr<rapidjson::Document> doc_;
  std::shared_ptr<LineIndex> lines_;
  std::vector<Frame> stack_;
  std::unordered_map<YAML::anchor_t, Anchored> anchors_;
  long nodes_ = 0;
  int root_line_ = 0;
  int last_start_ = -1;
};

// --- objects out of documents ----------------------------------------------------------------

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// Emits the object(s) of one document: the document itself, or the items of a List (nested
// Lists too), depth first in document order.
void AddObjects(std::shared_ptr<const rapidjson::Document> root,
                std::shared_ptr<const LineIndex> lines, const std::string& file, int document,
                int line, ReadResult* result) {
  if (root->IsNull()) return;  // an empty document, as kubectl skips it
  struct Pending {
    const rapidjson::Value* value;
    std::string item_path;
  };
  std::vector<Pending> pending = {{root.get(), ""}};
  while (!pending.empty()) {
    Pending p = std::move(pending.back());
    pending.pop_back();
    const rapidjson::Value& v = *p.value;
    if (v.IsObject()) {
      auto kind = v.FindMember("kind");
      auto items = v.FindMember("items");
      if (kind != v.MemberEnd() && kind->value.IsString() &&
          EndsWith({kind->value.GetString(), kind->value.GetStringLength()}, "List") &&
          items != v.MemberEnd() && items->value.IsArray()) {
        const auto& array = items->value;
        for (rapidjson::SizeType i = array.Size(); i > 0; --i) {
          std::string path = (p.item_path.empty() ? "" : p.item_path + ".") + "items[" +
                             std::to_string(i - 1) + "]";
          pending.push_back({&array[i - 1], std::move(path)});
        }
        continue;
      }
    }
    ManifestObject object;
    object.file = file;
    object.document = document;
    object.item_path = std::move(p.item_path);
    object.line = line;
    if (lines != nullptr && !object.item_path.empty()) {
      if (auto it = lines->find(object.item_path); it != lines->end()) object.line = it->second;
    }
    object.root = root;
    object.object = p.value;
    object.lines = lines;
    result->objects.push_back(std::move(object));
  }
}

void ParseYaml(std::string_view text, const std::string& file, ReadResult* result) {
  std::istringstream in{std::string(text)};
  JsonBuilder builder;
  std::size_t emitted = 0;
  auto emit = [&] {
    auto& docs = builder.documents();
    for (; emitted < docs.size(); ++emitted) {
      AddObjects(docs[emitted].json, docs[emitted].lines, file, static_cast<int>(emitted),
                 docs[emitted].line, result);
    }
    for (auto& [mark, message] : builder.warnings()) {
      result->warnings.push_back({file, mark.line + 1, mark.column + 1, std::move(message)});
    }
    builder.warnings().clear();
  };
  try {
    YAML::Parser parser(in);
    while (parser.HandleNextDocument(builder)) emit();
  } catch (const BuildError& e) {
    emit();
    result->errors.push_back({file, e.line, e.column, e.what()});
  } catch (const YAML::Exception& e) {
    emit();
    const bool known = !e.mark.is_null();
    result->errors.push_back(
        {file, known ? e.mark.line + 1 : 0, known ? e.mark.column + 1 : 0, "YAML: " + e.msg});
  } catch (const std::exception& e) {
    emit();
    result->errors.push_back({file, 0, 0, std::string("YAML: ") + e.what()});
  }
}

void LineAndColumn(std::string_view text, std::size_t offset, int* line, int* column) {
  offset = std::min(offset, text.size());
  std::string_view before = text.substr(0, offset);
  *line = 1 + static_cast<int>(std::count(before.begin(), before.end(), '\n'));
  std::size_t last_newline = before.rfind('\n');
  *column =
      static_cast<int>(last_newline == std::string_view::npos ? offset + 1 : offset - last_newline);
}

bool IsBlank(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

void ParseJson(std::string_view text, const std::string& file, ReadResult* result) {
  // A NUL-terminated copy, since rapidjson::StringStream reads up to NUL.
  std::string copy(text);
  std::size_t pos = copy.compare(0, 3, "\xEF\xBB\xBF") == 0 ? 3 : 0;
  int document = 0;
  while (true) {
    while (pos < copy.size() && IsBlank(copy[pos])) ++pos;
    if (pos >= copy.size()) break;
    auto doc = std::make_shared<rapidjson::Document>();
    rapidjson::StringStream stream(copy.c_str() + pos);
    // Iterative parsing: no recursion, whatever the nesting.
    doc->ParseStream<rapidjson::kParseIterativeFlag | rapidjson::kParseStopWhenDoneFlag>(stream);
    if (doc->HasParseError()) {
      int line = 0;
      int column = 0;
      LineAndColumn(copy, pos + doc->GetErrorOffset(), &line, &column);
      result->errors.push_back(
          {file, line, column,
           std::string("JSON: ") + rapidjson::GetParseError_En(doc->GetParseError())});
      return;
    }
    int line = 0;
    int column = 0;
    LineAndColumn(copy, pos, &line, &column);
    pos += stream.Tell();
    AddObjects(doc, nullptr, file, document++, line, result);
  }
}

Format FormatOf(const std::string& file) {
  std::string ext = fs::path(file).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (ext == ".json") return Format::kJson;
  if (ext == ".yaml" || ext == ".yml") return Format::kYaml;
  return Format::kAuto;
}

bool IsManifestFile(const fs::path& path) {
  std::string ext = path.extension().string();
  return ext == ".yaml" || ext == ".yml" || ext == ".json";
}

}  // namespace

int ManifestObject::LineOf(std::string_view path) const {
  if (lines == nullptr) return line;
  std::string full = item_path;
  if (!path.empty()) {
    if (!full.empty() && path.front() != '[') full += '.';
    full += path;
  }
  while (true) {
    if (auto it = lines->find(full); it != lines->end()) return it->second;
    if (full.size() <= item_path.size()) return line;
    std::size_t cut = full.find_last_of(".[");
    if (cut == std::string::npos) return line;
    full.resize(cut);
  }
}

void ParseManifest(std::string_view text, const std::string& file, Format format,
                   ReadResult* result) {
  if (format == Format::kAuto) {
    std::size_t first = text.find_first_not_of(" \t\r\n");
    bool json = first != std::string_view::npos && (text[first] == '{' || text[first] == '[');
    format = json ? Format::kJson : Format::kYaml;
  }
  if (format == Format::kJson) {
    ParseJson(text, file, result);
  } else {
    ParseYaml(text, file, result);
  }
}

std::vector<std::string> ExpandPath(const std::string& path, std::vector<ReadError>* errors) {
  if (path == "-") return {path};
  std::error_code ec;
  fs::file_status status = fs::status(path, ec);
  if (ec || !fs::exists(status)) {
    errors->push_back({path, 0, 0, ec ? ec.message() : "no such file or directory"});
    return {};
  }
  if (!fs::is_directory(status)) return {path};
  std::vector<std::string> files;
  fs::recursive_directory_iterator it(path, ec), end;
  if (ec) {
    errors->push_back({path, 0, 0, ec.message()});
    return {};
  }
  for (; it != end; it.increment(ec)) {
    if (ec) break;
    std::error_code file_ec;
    if (it->is_regular_file(file_ec) && IsManifestFile(it->path())) {
      files.push_back(it->path().string());
    }
  }
  if (ec) errors->push_back({path, 0, 0, ec.message()});
  std::sort(files.begin(), files.end());
  return files;
}

ReadResult ReadManifests(const std::vector<std::string>& paths, std::istream& stdin_stream) {
  ReadResult result;
  for (const std::string& path : paths) {
    for (const std::string& file : ExpandPath(path, &result.errors)) {
      std::string text;
      if (file == "-") {
        text.assign(std::istreambuf_iterator<char>(stdin_stream), std::istreambuf_iterator<char>());
        if (stdin_stream.bad()) {
          result.errors.push_back({file, 0, 0, "cannot read standard input"});
          continue;
        }
      } else {
        std::string error;
        std::optional<std::string> contents = common::ReadFile(file, &error);
        if (!contents) {
          // ReadFile's message already names the path.
          std::string prefix = file + ": ";
          if (error.compare(0, prefix.size(), prefix) == 0) error.erase(0, prefix.size());
          result.errors.push_back({file, 0, 0, error});
          continue;
        }
        text = std::move(*contents);
      }
      ++result.files;
      ParseManifest(text, file, file == "-" ? Format::kAuto : FormatOf(file), &result);
    }
  }
  return result;
}

}  // namespace stratum_guard::check
