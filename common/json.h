#pragma once

#include <rapidjson/document.h>

#include <string_view>

namespace stratum_guard::common {

// Readers over RapidJSON values that tolerate what untrusted JSON may hold: a missing member, a
// member of another type, or a value that is not an object all read as absent. Inline: the
// admission path calls them for every field it extracts.

// object[name], or nullptr when `object` is not an object or has no such member.
inline const rapidjson::Value* JsonMember(const rapidjson::Value& object, std::string_view name) {
  if (!object.IsObject()) return nullptr;
  auto it = object.FindMember(rapidjson::Value(
      rapidjson::StringRef(name.data(), static_cast<rapidjson::SizeType>(name.size()))));
  return it == object.MemberEnd() ? nullptr : &it->value;
}

// object[name] when it is a string, else "". The view points into the document.
inline std::string_view JsonString(const rapidjson::Value& object, std::string_view name) {
  const rapidjson::Value* v = JsonMember(object, name);
  if (v == nullptr || !v->IsString()) return {};
  return {v->GetString(), v->GetStringLength()};
}

}  // namespace stratum_guard::common
