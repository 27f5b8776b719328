#include "kube/kube_api.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <cstdio>
#include <ctime>
#include <utility>

namespace stratum_guard::kube {

std::string_view WatchEventTypeName(WatchEventType type) {
  switch (type) {
    case WatchEventType::kAdded:
      return "ADDED";
    case WatchEventType::kModified:
      return "MODIFIED";
    case WatchEventType::kDeleted:
      return "DELETED";
    case WatchEventType::kBookmark:
      return "BOOKMARK";
    case WatchEventType::kError:
      return "ERROR";
  }
  return "ERROR";
}

std::string_view MetadataString(const rapidjson::Value& object, std::string_view name) {
  const rapidjson::Value* metadata = common::JsonMember(object, "metadata");
  if (metadata == nullptr) return {};
  return common::JsonString(*metadata, name);
}

KubeError DecodePodList(const rapidjson::Value& list, const PodVisitor& visit, ListPage* page) {
  const rapidjson::Value* items = common::JsonMember(list, "items");
  if (items != nullptr && !items->IsArray() && !items->IsNull()) {
    return KubeError::Decode("pod list: items is not an array");
  }
  page->resource_version = std::string(MetadataString(list, "resourceVersion"));
  page->continue_token = std::string(MetadataString(list, "continue"));
  if (items == nullptr || items->IsNull()) return {};
  for (const auto& pod : items->GetArray()) visit(pod);
  return {};
}

KubeError DecodeWatchEvent(std::string& line, const WatchVisitor& visit, bool* more) {
  rapidjson::Document event;
  event.ParseInsitu(line.data());
  if (event.HasParseError() || !event.IsObject()) {
    return KubeError::Decode("watch: an event is not a JSON object");
  }
  std::string_view type = common::JsonString(event, "type");
  const rapidjson::Value* object = common::JsonMember(event, "object");
  if (object == nullptr) return KubeError::Decode("watch: event without object");
  static constexpr std::pair<std::string_view, WatchEventType> kTypes[] = {
      {"ADDED", WatchEventType::kAdded},
      {"MODIFIED", WatchEventType::kModified},
      {"DELETED", WatchEventType::kDeleted},
      {"BOOKMARK", WatchEventType::kBookmark},
      {"ERROR", WatchEventType::kError}};
  for (const auto& [name, t] : kTypes) {
    if (name == type) {
      *more = visit(t, *object);
      return {};
    }
  }
  return KubeError::Decode("watch: unknown event type \"" + std::string(type) + "\"");
}

namespace {

void TimeParts(common::Clock::Wall time, std::tm* tm, long* micros) {
  auto since = time.time_since_epoch();
  auto secs = std::chrono::floor<std::chrono::seconds>(since);
  *micros = static_cast<long>(
      std::chrono::duration_cast<std::chrono::microseconds>(since - secs).count());
  std::time_t t = static_cast<std::time_t>(secs.count());
  gmtime_r(&t, tm);
}

}  // namespace

std::string FormatMicroTime(common::Clock::Wall time) {
  std::tm tm{};
  long micros = 0;
  TimeParts(time, &tm, &micros);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, micros);
  return buf;
}

std::string FormatTime(common::Clock::Wall time) {
  std::tm tm{};
  long micros = 0;
  TimeParts(time, &tm, &micros);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
  return buf;
}

std::optional<common::Clock::Wall> ParseTime(std::string_view text) {
  int year, mon, day, hour, min, sec;
  int consumed = 0;
  std::string s(text);
  if (std::sscanf(s.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &year, &mon, &day, &hour, &min, &sec,
                  &consumed) != 6) {
    return std::nullopt;
  }
  std::string_view rest = text.substr(static_cast<std::size_t>(consumed));
  long micros = 0;
  if (!rest.empty() && rest.front() == '.') {
    rest.remove_prefix(1);
    int digits = 0;
    while (!rest.empty() && rest.front() >= '0' && rest.front() <= '9') {
      if (digits < 6) micros = micros * 10 + (rest.front() - '0');
      ++digits;
      rest.remove_prefix(1);
    }
    if (digits == 0) return std::nullopt;
    for (int i = digits; i < 6; ++i) micros *= 10;
  }
  // RFC 3339's offsets ("+02:00") besides 'Z': credential plugins write either.
  int offset_minutes = 0;
  if (rest.size() == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':') {
    int oh = 0;
    int om = 0;
    if (std::sscanf(std::string(rest.substr(1)).c_str(), "%2d:%2d", &oh, &om) != 2) {
      return std::nullopt;
    }
    offset_minutes = (rest[0] == '+' ? 1 : -1) * (oh * 60 + om);
  } else if (rest != "Z") {
    return std::nullopt;
  }
  std::tm tm{};
  tm.tm_year = year - 1900;
  tm.tm_mon = mon - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = min;
  tm.tm_sec = sec;
  std::time_t t = timegm(&tm);
  return common::Clock::Wall(std::chrono::seconds(t)) + std::chrono::microseconds(micros) -
         std::chrono::minutes(offset_minutes);
}

std::string LeaseToJson(const Lease& lease) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> w(buffer);
  w.StartObject();
  w.Key("apiVersion");
  w.String("coordination.k8s.io/v1");
  w.Key("kind");
  w.String("Lease");
  w.Key("metadata");
  w.StartObject();
  w.Key("name");
  w.String(lease.name);
  w.Key("namespace");
  w.String(lease.namespace_);
  if (!lease.resource_version.empty()) {
    w.Key("resourceVersion");
    w.String(lease.resource_version);
  }
  w.EndObject();
  w.Key("spec");
  w.StartObject();
  // An empty holder is how a released lease looks (client-go writes "" on release).
  w.Key("holderIdentity");
  w.String(lease.holder_identity);
  w.Key("leaseDurationSeconds");
  w.Int(lease.lease_duration_seconds);
  if (!lease.acquire_time.empty()) {
    w.Key("acquireTime");
    w.String(lease.acquire_time);
  }
  if (!lease.renew_time.empty()) {
    w.Key("renewTime");
    w.String(lease.renew_time);
  }
  w.Key("leaseTransitions");
  w.Int(lease.lease_transitions);
  w.EndObject();
  w.EndObject();
  return {buffer.GetString(), buffer.GetSize()};
}

bool LeaseFromJson(const rapidjson::Value& object, Lease* out) {
  const rapidjson::Value* metadata = common::JsonMember(object, "metadata");
  if (metadata == nullptr || !metadata->IsObject()) return false;
  Lease lease;
  lease.name = common::JsonString(*metadata, "name");
  lease.namespace_ = common::JsonString(*metadata, "namespace");
  lease.resource_version = common::JsonString(*metadata, "resourceVersion");
  if (const rapidjson::Value* spec = common::JsonMember(object, "spec"); spec && spec->IsObject()) {
    lease.holder_identity = common::JsonString(*spec, "holderIdentity");
    lease.acquire_time = common::JsonString(*spec, "acquireTime");
    lease.renew_time = common::JsonString(*spec, "renewTime");
    if (const auto* d = common::JsonMember(*spec, "leaseDurationSeconds"); d && d->IsInt()) {
      lease.lease_duration_seconds = d->GetInt();
    }
    if (const auto* t = common::JsonMember(*spec, "leaseTransitions"); t && t->IsInt()) {
      lease.lease_transitions = t->GetInt();
    }
  }
  *out = std::move(lease);
  return true;
}

std::string DeleteOptionsJson(const std::string& uid, std::optional<std::int64_t> grace) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> w(buffer);
  w.StartObject();
  w.Key("kind");
  w.String("DeleteOptions");
  w.Key("apiVersion");
  w.String("v1");
  w.Key("preconditions");
  w.StartObject();
  w.Key("uid");
  w.String(uid);
  w.EndObject();
  if (grace) {
    w.Key("gracePeriodSeconds");
    w.Int64(*grace);
  }
  w.EndObject();
  return {buffer.GetString(), buffer.GetSize()};
}

}  // namespace stratum_guard::kube
