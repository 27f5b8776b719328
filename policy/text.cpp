#include "policy/text.h"

#include <array>
#include <cstdint>
#include <cstring>

#include "common/text.h"

namespace stratum_guard::policy::text {
namespace {

bool IsRegistry(std::string_view component) {
  // Docker's rule: the first component names a registry when it has a dot or a port, or is
  // "localhost"; otherwise the reference is a Docker Hub repository.
  return component.find_first_of(".:") != std::string_view::npos || component == "localhost";
}

bool IsVarStart(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_'; }
bool IsVarChar(char c) { return IsVarStart(c) || (c >= '0' && c <= '9'); }

// Words after which a shell still looks for the program to run.
bool IsWrapper(std::string_view w) {
  static constexpr std::array<std::string_view, 27> kWrappers = {
      "nohup",  "exec",    "sudo", "nice",   "env",   "setsid",  "timeout", "time", "command",
      "then",   "do",      "else", "if",     "while", "until",   "!",       "{",    "xargs",
      "stdbuf", "taskset", "chrt", "ionice", "doas",  "su-exec", "gosu",    "tini", "dumb-init"};
  for (std::string_view k : kWrappers) {
    if (w == k) return true;
  }
  return false;
}

bool IsAssignment(std::string_view w) {
  if (w.empty() || !IsVarStart(w[0])) return false;
  for (std::size_t i = 1; i < w.size(); ++i) {
    if (w[i] == '=') return true;
    if (!IsVarChar(w[i])) return false;
  }
  return false;
}

bool LooksNumeric(std::string_view w) {
  if (w.empty()) return false;
  for (char c : w) {
    if (!((c >= '0' && c <= '9') || c == '.' || c == 's' || c == 'm')) return false;
  }
  return true;
}

// Decoded bytes count as text when at least 90% are printable ASCII or whitespace: garbage from
// decoding an ordinary long word almost never is.
bool LooksLikeText(std::string_view s) {
  if (s.size() < 4) return false;
  std::size_t printable = 0;
  for (unsigned char c : s) {
    if ((c >= 0x20 && c < 0x7f) || c == '\n' || c == '\t' || c == '\r') ++printable;
  }
  return printable * 10 >= s.size() * 9;
}

// Every env value of at least 16 bytes is walked byte by byte for base64 runs: a table lookup
// instead of five range tests per byte (issue 18's profile: about half of that walk).
constexpr std::array<std::int8_t, 256> kBase64Values = [] {
  std::array<std::int8_t, 256> values{};
  values.fill(-1);
  for (int c = 'A'; c <= 'Z'; ++c) values[c] = static_cast<std::int8_t>(c - 'A');
  for (int c = 'a'; c <= 'z'; ++c) values[c] = static_cast<std::int8_t>(c - 'a' + 26);
  for (int c = '0'; c <= '9'; ++c) values[c] = static_cast<std::int8_t>(c - '0' + 52);
  values['+'] = values['-'] = 62;  // standard and URL-safe alphabets alike
  values['/'] = values['_'] = 63;
  return values;
}();

int Base64Value(char c) { return kBase64Values[static_cast<unsigned char>(c)]; }

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Byte classes of SplitWords.
constexpr std::uint8_t kBreak = 1;
constexpr std::uint8_t kScriptBreak = 2;

// Outside script mode, skips eight bytes at a time while none of them can end a word (no byte
// below 0x21, no quote), and returns where the byte-by-byte scan must resume. Env values and
// arguments are mostly long runs of word bytes.
std::size_t SkipWordBytes(std::string_view text, std::size_t i) {
  constexpr std::uint64_t kOnes = 0x0101010101010101ULL;
  constexpr std::uint64_t kHighs = 0x8080808080808080ULL;
  auto has_zero = [](std::uint64_t v) { return ((v - kOnes) & ~v & kHighs) != 0; };
  while (text.size() - i >= 8) {
    std::uint64_t w;
    std::memcpy(&w, text.data() + i, sizeof w);
    // Some byte below 0x21 (whitespace among them) or equal to '"' or '\''.
    if ((((w - kOnes * 0x21) & ~w & kHighs) != 0) || has_zero(w ^ (kOnes * '"')) ||
        has_zero(w ^ (kOnes * '\''))) {
      break;
    }
    i += 8;
  }
  return i;
}

constexpr std::size_t kMinBase64Blob = 16;
constexpr std::size_t kMinHexBlob = 16;

}  // namespace

ImageRef ParseImage(std::string_view image) {
  ImageRef ref;
  if (std::size_t at = image.find('@'); at != std::string_view::npos) {
    ref.digest = image.substr(at + 1);
    image = image.substr(0, at);
  }
  std::size_t slash = image.rfind('/');
  std::size_t colon = image.rfind(':');
  if (colon != std::string_view::npos && (slash == std::string_view::npos || colon > slash)) {
    ref.tag = image.substr(colon + 1);
    image = image.substr(0, colon);
  }
  if (std::size_t first = image.find('/');
      first != std::string_view::npos && IsRegistry(image.substr(0, first))) {
    ref.registry = image.substr(0, first);
    image = image.substr(first + 1);
  }
  ref.repository = image;
  slash = image.rfind('/');
  ref.name = slash == std::string_view::npos ? image : image.substr(slash + 1);
  return ref;
}

std::string NormalizedRepository(std::string_view image) {
  ImageRef ref = ParseImage(image);
  std::string out;
  if (ref.registry.empty() || ref.registry == "docker.io" || ref.registry == "index.docker.io" ||
      ref.registry == "registry-1.docker.io") {
    out = "docker.io/";
    if (ref.repository.find('/') == std::string_view::npos) out += "library/";
  } else {
    out = ref.registry;
    out += '/';
  }
  out += ref.repository;
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::string NormalizedImage(std::string_view image) {
  ImageRef ref = ParseImage(image);
  std::string out = NormalizedRepository(image);
  if (!ref.tag.empty()) {
    out += ':';
    out += ref.tag;
  }
  if (!ref.digest.empty()) {
    out += '@';
    out += ref.digest;
  }
  return out;
}

void SplitWords(std::string_view text, bool script, std::vector<Word>& out) {
  // Byte classes, looked up once per byte: this loop reads every byte of every string the
  // policy scans. kBreak: ends a word in both modes (whitespace, quotes); kScriptBreak: ends a
  // word in script mode only (; & | ( ) `, and $ when `$(` follows).
  static constexpr std::array<std::uint8_t, 256> kClass = [] {
    std::array<std::uint8_t, 256> c{};
    for (unsigned char b : std::string_view(" \t\n\r\v\f'\"")) c[b] = kBreak;
    for (unsigned char b : std::string_view(";&|()`$")) c[b] = kScriptBreak;
    return c;
  }();
  const std::uint8_t stop = script ? (kBreak | kScriptBreak) : kBreak;
  auto cls = [&text](std::size_t k) { return kClass[static_cast<unsigned char>(text[k])]; };
  bool command_position = script;
  bool in_wrapper = false;  // after a wrapper, its options and numbers keep the position
  std::size_t i = 0;
  const std::size_t n = text.size();
  while (i < n) {
    const std::uint8_t k = cls(i) & stop;
    if (k == kBreak) {
      if (script && text[i] == '\n') {
        command_position = true;
        in_wrapper = false;
      }
      ++i;
      continue;
    }
    if (k == kScriptBreak) {
      if (text[i] != '$') {
        command_position = true;
        in_wrapper = false;
        ++i;
        continue;
      }
      if (i + 1 < n && text[i + 1] == '(') {
        command_position = true;
        in_wrapper = false;
        i += 2;
        continue;
      }
    }
    // A word starts here (a `$` not followed by `(` belongs to it).
    std::size_t start = i++;
    if (!script) i = SkipWordBytes(text, i);
    while (i < n) {
      const std::uint8_t d = cls(i) & stop;
      if (d == 0) {
        ++i;
        continue;
      }
      if (d == kScriptBreak && text[i] == '$' && !(i + 1 < n && text[i + 1] == '(')) {
        ++i;
        continue;
      }
      break;
    }
    std::string_view w = text.substr(start, i - start);
    out.push_back({w, command_position});
    if (!script || !command_position) continue;
    if (IsAssignment(w)) continue;  // FOO=bar xmrig: the position stays
    if (IsWrapper(w) || w == "export") {
      in_wrapper = w != "export";
      continue;
    }
    if (in_wrapper && (w[0] == '-' || LooksNumeric(w))) continue;
    command_position = false;
    in_wrapper = false;
  }
}

bool IsCommandWrapper(std::string_view word) { return IsWrapper(word); }

std::string_view Basename(std::string_view word) {
  while (!word.empty() && word.back() == '/') word.remove_suffix(1);
  std::size_t slash = word.rfind('/');
  return slash == std::string_view::npos ? word : word.substr(slash + 1);
}

std::string ExpandKubelet(std::string_view text, const Lookup& lookup) {
  std::string out;
  out.reserve(text.size());
  std::size_t i = 0;
  while (i < text.size()) {
    char c = text[i];
    if (c != '$' || i + 1 >= text.size()) {
      out += c;
      ++i;
      continue;
    }
    char next = text[i + 1];
    if (next == '$') {  // escaped: $$ is one literal $
      out += '$';
      i += 2;
      continue;
    }
    if (next == '(') {
      std::size_t close = text.find(')', i + 2);
      if (close != std::string_view::npos) {
        std::string_view name = text.substr(i + 2, close - i - 2);
        if (auto value = lookup(name)) {
          out += *value;
        } else {
          out.append(text.substr(i, close - i + 1));
        }
        i = close + 1;
        continue;
      }
    }
    out += c;
    ++i;
  }
  return out;
}

std::optional<std::string> ExpandShell(std::string_view text, const Lookup& lookup) {
  std::string out;
  bool expanded = false;
  std::size_t i = 0;
  while (i < text.size()) {
    char c = text[i];
    if (c != '$' || i + 1 >= text.size()) {
      out += c;
      ++i;
      continue;
    }
    if (text[i + 1] == '{') {
      std::size_t close = text.find('}', i + 2);
      if (close != std::string_view::npos) {
        std::string_view body = text.substr(i + 2, close - i - 2);
        std::size_t name_end = 0;
        while (name_end < body.size() && IsVarChar(body[name_end])) ++name_end;
        std::string_view name = body.substr(0, name_end);
        std::string_view rest = body.substr(name_end);
        std::optional<std::string_view> value;
        if (!name.empty() && (rest.empty() || rest.starts_with(":-") || rest.starts_with("-"))) {
          value = lookup(name);
          if (!value && !rest.empty()) value = rest.substr(rest[0] == ':' ? 2 : 1);
        }
        if (value) {
          out += *value;
          expanded = true;
        } else {
          out.append(text.substr(i, close - i + 1));
        }
        i = close + 1;
        continue;
      }
    } else if (IsVarStart(text[i + 1])) {
      std::size_t end = i + 1;
      while (end < text.size() && IsVarChar(text[end])) ++end;
      std::string_view name = text.substr(i + 1, end - i - 1);
      if (auto value = lookup(name)) {
        out += *value;
        expanded = true;
      } else {
        out.append(text.substr(i, end - i));
      }
      i = end;
      continue;
    }
    out += c;
    ++i;
  }
  if (!expanded) return std::nullopt;
  return out;
}

void DecodeBase64Blobs(std::string_view text, std::size_t* budget, std::vector<std::string>& out) {
  std::size_t i = 0;
  while (i < text.size() && *budget > 0) {
    if (Base64Value(text[i]) < 0) {
      ++i;
      continue;
    }
    std::size_t start = i;
    while (i < text.size() && Base64Value(text[i]) >= 0) ++i;
    std::size_t end = i;
    while (i < text.size() && text[i] == '=') ++i;
    if (end - start < kMinBase64Blob) continue;
    // A path like /usr/local/bin/something is a run of base64 characters too; its decoding is
    // garbage and LooksLikeText drops it.
    std::string decoded;
    decoded.reserve((end - start) * 3 / 4);
    std::uint32_t acc = 0;
    int bits = 0;
    for (std::size_t k = start; k < end && decoded.size() < *budget; ++k) {
      acc = (acc << 6) | static_cast<std::uint32_t>(Base64Value(text[k]));
      bits += 6;
      if (bits >= 8) {
        bits -= 8;
        decoded += static_cast<char>((acc >> bits) & 0xff);
      }
    }
    *budget -= std::min(*budget, decoded.size());
    if (LooksLikeText(decoded)) out.push_back(std::move(decoded));
  }
}

void DecodeHexBlobs(std::string_view text, std::size_t* budget, std::vector<std::string>& out) {
  std::size_t i = 0;
  while (i < text.size() && *budget > 0) {
    // \x73\x74... escapes, as printf and echo -e take them.
    if (text[i] == '\\' && i + 3 < text.size() && text[i + 1] == 'x') {
      std::string decoded;
      while (i + 3 < text.size() && text[i] == '\\' && text[i + 1] == 'x' &&
             HexValue(text[i + 2]) >= 0 && HexValue(text[i + 3]) >= 0 && decoded.size() < *budget) {
        decoded += static_cast<char>(HexValue(text[i + 2]) * 16 + HexValue(text[i + 3]));
        i += 4;
      }
      if (decoded.empty()) {
        ++i;
        continue;
      }
      *budget -= std::min(*budget, decoded.size());
      if (decoded.size() >= 4 && LooksLikeText(decoded)) out.push_back(std::move(decoded));
      continue;
    }
    if (HexValue(text[i]) < 0) {
      ++i;
      continue;
    }
    std::size_t start = i;
    while (i < text.size() && HexValue(text[i]) >= 0) ++i;
    std::size_t len = (i - start) & ~std::size_t{1};
    if (len < kMinHexBlob) continue;
    std::string decoded;
    for (std::size_t k = start; k + 1 < start + len && decoded.size() < *budget; k += 2) {
      decoded += static_cast<char>(HexValue(text[k]) * 16 + HexValue(text[k + 1]));
    }
    *budget -= std::min(*budget, decoded.size());
    if (LooksLikeText(decoded)) out.push_back(std::move(decoded));
  }
}

std::string Truncate(std::string_view text, std::size_t max_bytes) {
  std::string out = common::TruncateUtf8(text, max_bytes, "\xE2\x80\xA6");  // U+2026
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
  }
  return out;
}

std::string_view ToLower(std::string_view text, std::string& buffer) {
  buffer.assign(text);
  for (char& c : buffer) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return buffer;
}

}  // namespace stratum_guard::policy::text
