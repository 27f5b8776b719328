#pragma once

#include <rapidjson/document.h>
#include <rapidjson/pointer.h>

#include <string>
#include <string_view>

#include "common/json.h"

namespace stratum_guard::testing {

// RFC 6902 JSON Patch on `doc`, as the API server applies application/json-patch+json: test,
// add, replace and remove on JSON Pointers (add on an object member sets it). Returns false, with
// `error`, at the first operation that fails; `doc` may then be partly patched. Header-only so
// that both fakes of the API (the in-process one and the HTTPS one) share it without a link.
inline bool ApplyJsonPatch(std::string_view patch_json, rapidjson::Document& doc,
                           std::string* error) {
  rapidjson::Document patch;
  patch.Parse(patch_json.data(), patch_json.size());
  if (patch.HasParseError() || !patch.IsArray()) {
    *error = "the patch is not a JSON array";
    return false;
  }
  for (const auto& op : patch.GetArray()) {
    const std::string name(common::JsonString(op, "op"));
    const std::string path(common::JsonString(op, "path"));
    rapidjson::Pointer pointer(path.c_str());
    if (!pointer.IsValid()) {
      *error = "invalid path " + path;
      return false;
    }
    const rapidjson::Value* value = common::JsonMember(op, "value");
    const rapidjson::Value* at = pointer.Get(doc);
    if (name == "test") {
      if (at == nullptr || value == nullptr || *at != *value) {
        *error = "testing value " + path + " failed";
        return false;
      }
    } else if (name == "add" || name == "replace") {
      if (value == nullptr || (name == "replace" && at == nullptr)) {
        *error = name + " " + path + ": no value or no such member";
        return false;
      }
      pointer.Set(doc, rapidjson::Value(*value, doc.GetAllocator()));
    } else if (name == "remove") {
      if (!pointer.Erase(doc)) {
        *error = "remove " + path + ": no such member";
        return false;
      }
    } else {
      *error = "unsupported operation " + name;
      return false;
    }
  }
  return true;
}

}  // namespace stratum_guard::testing
