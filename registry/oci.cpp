#include "registry/oci.h"

#include <openssl/evp.h>
#include <rapidjson/document.h>
#include <rapidjson/error/en.h>

#include <array>

#include "common/json.h"

namespace stratum_guard::registry {
namespace {

using common::JsonMember;
using common::JsonString;

constexpr std::string_view kOciIndex = "application/vnd.oci.image.index.v1+json";
constexpr std::string_view kDockerList =
    "application/vnd.docker.distribution.manifest.list.v2+json";
constexpr std::string_view kOciManifest = "application/vnd.oci.image.manifest.v1+json";
constexpr std::string_view kDockerManifest = "application/vnd.docker.distribution.manifest.v2+json";
constexpr std::string_view kDockerSchema1 = "application/vnd.docker.distribution.manifest.v1";

// A document that is not JSON, or not an object, is one error with the parser's reason.
bool Parse(std::string_view body, rapidjson::Document* doc, std::string_view what,
           std::string* error) {
  // Iterative: a registry's body is untrusted, and deep nesting must not exhaust the stack.
  doc->Parse<rapidjson::kParseIterativeFlag>(body.data(), body.size());
  if (doc->HasParseError()) {
    *error = std::string(what) +
             " is not JSON: " + rapidjson::GetParseError_En(doc->GetParseError()) + " at byte " +
             std::to_string(doc->GetErrorOffset());
    return false;
  }
  if (!doc->IsObject()) {
    *error = std::string(what) + " is not a JSON object";
    return false;
  }
  return true;
}

// A JSON array of strings, or null/absent (an empty list). Anything else is malformed.
bool StringList(const rapidjson::Value& object, std::string_view name,
                std::vector<std::string>* out, std::string* error) {
  const rapidjson::Value* v = JsonMember(object, name);
  if (v == nullptr || v->IsNull()) return true;
  if (!v->IsArray()) {
    *error = "image config " + std::string(name) + " is not a list";
    return false;
  }
  for (const auto& item : v->GetArray()) {
    if (!item.IsString()) {
      *error = "image config " + std::string(name) + " holds a value that is not a string";
      return false;
    }
    out->emplace_back(item.GetString(), item.GetStringLength());
  }
  return true;
}

}  // namespace

const char kManifestAccept[] =
    "application/vnd.oci.image.index.v1+json, "
    "application/vnd.docker.distribution.manifest.list.v2+json, "
    "application/vnd.oci.image.manifest.v1+json, "
    "application/vnd.docker.distribution.manifest.v2+json";

std::optional<Manifest> DecodeManifest(std::string_view body, std::string_view content_type,
                                       std::string* error) {
  rapidjson::Document doc;
  if (!Parse(body, &doc, "the manifest", error)) return std::nullopt;
  std::string_view type = content_type.substr(0, content_type.find(';'));
  if (type.empty() || type == "application/json" || type == "text/plain") {
    type = JsonString(doc, "mediaType");
  }
  if (type.starts_with(kDockerSchema1) || JsonMember(doc, "fsLayers") != nullptr) {
    *error = "the manifest is Docker schema 1, which is not supported (push the image again)";
    return std::nullopt;
  }
  Manifest m;
  m.is_index = type == kOciIndex || type == kDockerList ||
               (type.empty() && JsonMember(doc, "manifests") != nullptr);
  if (m.is_index) {
    const rapidjson::Value* list = JsonMember(doc, "manifests");
    if (list == nullptr || !list->IsArray()) {
      *error = "the index has no list of manifests";
      return std::nullopt;
    }
    for (const auto& entry : list->GetArray()) {
      IndexEntry e;
      e.digest = JsonString(entry, "digest");
      e.media_type = JsonString(entry, "mediaType");
      if (e.digest.empty()) {
        *error = "an index entry has no digest";
        return std::nullopt;
      }
      if (const rapidjson::Value* p = JsonMember(entry, "platform")) {
        e.platform.os = JsonString(*p, "os");
        e.platform.architecture = JsonString(*p, "architecture");
        e.platform.variant = JsonString(*p, "variant");
      } else {
        e.platform = Platform{"", "", ""};
      }
      m.manifests.push_back(std::move(e));
    }
    return m;
  }
  if (!type.empty() && type != kOciManifest && type != kDockerManifest) {
    *error = "the manifest's media type \"" + std::string(type) + "\" is not an image manifest";
    return std::nullopt;
  }
  const rapidjson::Value* config = JsonMember(doc, "config");
  m.config_digest = config == nullptr ? "" : std::string(JsonString(*config, "digest"));
  if (m.config_digest.empty()) {
    *error = "the manifest names no config digest";
    return std::nullopt;
  }
  return m;
}

const IndexEntry* PickPlatform(const Manifest& index, const Platform& want) {
  for (const IndexEntry& e : index.manifests) {
    if (e.platform.os != want.os || e.platform.architecture != want.architecture) continue;
    if (!want.variant.empty() && !e.platform.variant.empty() &&
        want.variant != e.platform.variant) {
      continue;
    }
    return &e;
  }
  return nullptr;
}

std::optional<ImageConfig> DecodeImageConfig(std::string_view body, std::string* error) {
  rapidjson::Document doc;
  if (!Parse(body, &doc, "the image config", error)) return std::nullopt;
  ImageConfig out;
  // An image without a config section (FROM scratch with nothing set) runs nothing of its own.
  const rapidjson::Value* config = JsonMember(doc, "config");
  if (config == nullptr || config->IsNull()) return out;
  if (!config->IsObject()) {
    *error = "the image config's \"config\" is not an object";
    return std::nullopt;
  }
  if (!StringList(*config, "Entrypoint", &out.entrypoint, error) ||
      !StringList(*config, "Cmd", &out.cmd, error) ||
      !StringList(*config, "Env", &out.env, error)) {
    return std::nullopt;
  }
  return out;
}

std::string Sha256Digest(std::string_view bytes) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
  unsigned int len = 0;
  EVP_Digest(bytes.data(), bytes.size(), md.data(), &len, EVP_sha256(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "sha256:";
  for (unsigned int i = 0; i < len; ++i) {
    out += kHex[md[i] >> 4];
    out += kHex[md[i] & 0xf];
  }
  return out;
}

}  // namespace stratum_guard::registry
