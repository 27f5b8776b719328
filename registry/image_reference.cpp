#include "registry/image_reference.h"

#include <algorithm>

namespace stratum_guard::registry {
namespace {

constexpr std::string_view kDockerHub = "docker.io";

bool IsLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

// path-component := alnum+ (separator alnum+)*, separator := [._] | __ | -+
bool ValidComponent(std::string_view c) {
  if (c.empty() || !IsLowerAlnum(c.front()) || !IsLowerAlnum(c.back())) return false;
  for (std::size_t i = 0; i < c.size(); ++i) {
    char ch = c[i];
    if (IsLowerAlnum(ch) || ch == '-') continue;
    if (ch != '.' && ch != '_') return false;
    // '.' and '_' stand alone between alphanumerics, except the double underscore.
    bool double_underscore = ch == '_' && c[i + 1] == '_' && IsLowerAlnum(c[i + 2]);
    if (!double_underscore && !IsLowerAlnum(c[i + 1])) return false;
    if (double_underscore) ++i;
  }
  return true;
}

// tag := [\w][\w.-]{0,127}
bool ValidTag(std::string_view t) {
  auto word = [](char c) { return IsLowerAlnum(c) || (c >= 'A' && c <= 'Z') || c == '_'; };
  if (t.empty() || t.size() > 128 || !word(t.front())) return false;
  return std::all_of(t.begin(), t.end(), [&](char c) { return word(c) || c == '.' || c == '-'; });
}

// Only sha256 is checked against content (the one algorithm registries use); its encoding is
// 64 lower-case hex digits.
bool ValidDigest(std::string_view d) {
  constexpr std::string_view kAlgorithm = "sha256:";
  if (!d.starts_with(kAlgorithm) || d.size() != kAlgorithm.size() + 64) return false;
  return std::all_of(d.begin() + kAlgorithm.size(), d.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

bool ValidHost(std::string_view h) {
  if (h.empty()) return false;
  return std::all_of(h.begin(), h.end(), [](char c) {
    return IsLowerAlnum(c) || (c >= 'A' && c <= 'Z') || c == '.' || c == '-' || c == ':' ||
           c == '[' || c == ']';
  });
}

std::optional<ImageReference> Fail(std::string* error, std::string message) {
  *error = std::move(message);
  return std::nullopt;
}

}  // namespace

std::string ImageReference::ToString() const {
  std::string out = registry + "/" + repository;
  if (!tag.empty()) out += ":" + tag;
  if (!digest.empty()) out += "@" + digest;
  return out;
}

std::optional<ImageReference> ParseImageReference(std::string_view image, std::string* error) {
  ImageReference ref;
  std::string_view rest = image;
  if (auto at = rest.find('@'); at != std::string_view::npos) {
    ref.digest = std::string(rest.substr(at + 1));
    rest = rest.substr(0, at);
    if (!ValidDigest(ref.digest)) {
      return Fail(error, "\"" + std::string(image) + "\": the digest is not sha256:<64 hex>");
    }
  }
  std::size_t last_slash = rest.rfind('/');
  std::size_t colon = rest.rfind(':');
  if (colon != std::string_view::npos &&
      (last_slash == std::string_view::npos || colon > last_slash)) {
    ref.tag = std::string(rest.substr(colon + 1));
    rest = rest.substr(0, colon);
    if (!ValidTag(ref.tag)) return Fail(error, "\"" + std::string(image) + "\": bad tag");
  }
  std::size_t slash = rest.find('/');
  std::string_view first = rest.substr(0, slash);
  if (slash != std::string_view::npos &&
      (first.find_first_of(".:") != std::string_view::npos || first == "localhost")) {
    if (!ValidHost(first)) return Fail(error, "\"" + std::string(image) + "\": bad registry host");
    ref.registry = std::string(first);
    rest = rest.substr(slash + 1);
  } else {
    ref.registry = std::string(kDockerHub);
  }
  if (ref.registry == "index.docker.io") ref.registry = std::string(kDockerHub);
  ref.repository = std::string(rest);
  if (ref.registry == kDockerHub && ref.repository.find('/') == std::string::npos) {
    ref.repository = "library/" + ref.repository;
  }
  std::string_view repo = ref.repository;
  while (true) {
    std::size_t next = repo.find('/');
    if (!ValidComponent(repo.substr(0, next))) {
      return Fail(error, "\"" + std::string(image) +
                             "\": the repository must be lower-case components separated by '/'");
    }
    if (next == std::string_view::npos) break;
    repo = repo.substr(next + 1);
  }
  if (ref.tag.empty() && ref.digest.empty()) ref.tag = "latest";
  return ref;
}

std::string ApiHost(std::string_view registry) {
  return registry == kDockerHub ? "registry-1.docker.io" : std::string(registry);
}

}  // namespace stratum_guard::registry
