#include "registry/auth.h"

#include <rapidjson/document.h>

#include <cctype>

#include "common/base64.h"
#include "common/json.h"

namespace stratum_guard::registry {
namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool IsTokenChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

void SkipSpace(std::string_view s, std::size_t& i) {
  while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
}

}  // namespace

std::optional<Challenge> ParseChallenge(std::string_view header) {
  std::size_t i = 0;
  SkipSpace(header, i);
  std::size_t start = i;
  while (i < header.size() && IsTokenChar(header[i])) ++i;
  if (i == start) return std::nullopt;
  Challenge c;
  c.scheme = Lower(header.substr(start, i - start));
  // auth-param = token "=" ( token / quoted-string ), separated by commas; a second challenge
  // starts with a token not followed by '=' and ends the first.
  while (i < header.size()) {
    SkipSpace(header, i);
    while (i < header.size() && (header[i] == ',' || header[i] == ' ')) ++i;
    std::size_t name_start = i;
    while (i < header.size() && IsTokenChar(header[i])) ++i;
    if (i == name_start) break;
    std::string name = Lower(header.substr(name_start, i - name_start));
    SkipSpace(header, i);
    if (i >= header.size() || header[i] != '=') break;
    ++i;
    SkipSpace(header, i);
    std::string value;
    if (i < header.size() && header[i] == '"') {
      ++i;
      while (i < header.size() && header[i] != '"') {
        if (header[i] == '\\' && i + 1 < header.size()) ++i;
        value += header[i++];
      }
      if (i < header.size()) ++i;  // the closing quote
    } else {
      while (i < header.size() && IsTokenChar(header[i])) value += header[i++];
    }
    c.params.emplace(std::move(name), std::move(value));
  }
  return c;
}

std::string NormaliseRegistryKey(std::string_view key) {
  if (auto scheme = key.find("://"); scheme != std::string_view::npos) {
    key = key.substr(scheme + 3);
  }
  key = key.substr(0, key.find('/'));
  std::string host = Lower(key);
  if (host == "index.docker.io" || host == "registry-1.docker.io" ||
      host == "registry.hub.docker.com") {
    return "docker.io";
  }
  return host;
}

bool DockerConfig::Parse(std::string_view json, std::string* error) {
  rapidjson::Document doc;
  doc.Parse<rapidjson::kParseIterativeFlag>(json.data(), json.size());
  const rapidjson::Value* auths = doc.HasParseError() ? nullptr : common::JsonMember(doc, "auths");
  if (auths == nullptr || !auths->IsObject()) {
    *error = "not a docker config: no \"auths\" object";
    return false;
  }
  std::map<std::string, RegistryCredentials, std::less<>> read;
  for (const auto& member : auths->GetObject()) {
    std::string host =
        NormaliseRegistryKey({member.name.GetString(), member.name.GetStringLength()});
    RegistryCredentials cred;
    std::string_view auth = common::JsonString(member.value, "auth");
    if (!auth.empty()) {
      std::optional<std::string> decoded = common::DecodeBase64(auth);
      std::size_t colon = decoded ? decoded->find(':') : std::string::npos;
      if (colon == std::string::npos) {
        *error = "docker config entry \"" + host + "\": \"auth\" is not base64 of user:password";
        return false;
      }
      cred.username = decoded->substr(0, colon);
      cred.password = decoded->substr(colon + 1);
    } else {
      cred.username = common::JsonString(member.value, "username");
      cred.password = common::JsonString(member.value, "password");
    }
    read.emplace(std::move(host), std::move(cred));
  }
  by_host_ = std::move(read);
  return true;
}

bool ParsePullSecret(std::string_view secret_json, DockerConfig* config, std::string* error) {
  rapidjson::Document doc;
  doc.Parse<rapidjson::kParseIterativeFlag>(secret_json.data(), secret_json.size());
  if (doc.HasParseError() || !doc.IsObject()) {
    *error = "not a Secret: the answer is not a JSON object";
    return false;
  }
  std::string_view type = common::JsonString(doc, "type");
  const bool legacy = type == "kubernetes.io/dockercfg";
  if (type != "kubernetes.io/dockerconfigjson" && !legacy) {
    *error = "a Secret of type \"" + std::string(type) +
             "\", not kubernetes.io/dockerconfigjson or kubernetes.io/dockercfg";
    return false;
  }
  std::string_view key = legacy ? ".dockercfg" : ".dockerconfigjson";
  const rapidjson::Value* data = common::JsonMember(doc, "data");
  std::string_view encoded = data == nullptr ? std::string_view() : common::JsonString(*data, key);
  std::optional<std::string> json = common::DecodeBase64(encoded);
  if (encoded.empty() || !json) {
    *error = "data[\"" + std::string(key) + "\"] is missing or not base64";
    return false;
  }
  // A .dockercfg is what .dockerconfigjson holds under "auths".
  if (legacy) *json = R"({"auths":)" + *json + "}";
  return config->Parse(*json, error);
}

void DockerConfig::Merge(const DockerConfig& other) {
  for (const auto& [host, cred] : other.by_host_) by_host_.emplace(host, cred);
}

RegistryCredentials DockerConfig::Lookup(std::string_view registry) const {
  if (by_host_.empty()) return {};  // the common case, asked once per container per review
  auto it = by_host_.find(NormaliseRegistryKey(registry));
  return it == by_host_.end() ? RegistryCredentials{} : it->second;
}

}  // namespace stratum_guard::registry
