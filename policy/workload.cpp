#include "policy/workload.h"

#include <algorithm>
#include <array>

#include "common/json.h"

namespace stratum_guard::policy {
namespace {

// Where each kind keeps its pod spec, as a chain of object members.
std::span<const std::string_view> PodSpecMembers(std::string_view kind) {
  static constexpr std::array<std::string_view, 1> kPod = {"spec"};
  static constexpr std::array<std::string_view, 2> kTemplate = {"template", "spec"};
  static constexpr std::array<std::string_view, 3> kWorkload = {"spec", "template", "spec"};
  static constexpr std::array<std::string_view, 5> kCronJob = {"spec", "jobTemplate", "spec",
                                                               "template", "spec"};
  if (kind == "Pod") return kPod;
  if (kind == "PodTemplate") return kTemplate;
  if (kind == "CronJob") return kCronJob;
  return kWorkload;
}

void CollectStrings(const rapidjson::Value* array, std::vector<std::string_view>& out) {
  if (array == nullptr || !array->IsArray()) return;
  out.reserve(array->Size());
  for (const auto& item : array->GetArray()) {
    // A non-string item keeps its slot empty so that indexes still match the JSON path.
    out.emplace_back(item.IsString() ? std::string_view(item.GetString(), item.GetStringLength())
                                     : std::string_view());
  }
}

void CollectContainers(const rapidjson::Value& pod_spec, std::string_view member,
                       ContainerType type, const std::string& spec_path,
                       std::vector<Container>& out) {
  const rapidjson::Value* list = common::JsonMember(pod_spec, member);
  if (list == nullptr || !list->IsArray()) return;
  int index = 0;
  for (const auto& item : list->GetArray()) {
    Container c;
    c.type = type;
    c.path = spec_path;
    c.path += '.';
    c.path += member;
    c.path += '[';
    c.path += std::to_string(index++);
    c.path += ']';
    if (item.IsObject()) {
      c.name = common::JsonString(item, "name");
      c.image = common::JsonString(item, "image");
      CollectStrings(common::JsonMember(item, "command"), c.command);
      CollectStrings(common::JsonMember(item, "args"), c.args);
      if (const rapidjson::Value* env = common::JsonMember(item, "env");
          env != nullptr && env->IsArray()) {
        c.env.reserve(env->Size());
        for (const auto& var : env->GetArray()) {
          EnvVar e;
          if (var.IsObject()) {
            e.name = common::JsonString(var, "name");
            const rapidjson::Value* value = common::JsonMember(var, "value");
            if (value != nullptr && value->IsString()) {
              e.value = {value->GetString(), value->GetStringLength()};
              e.has_value = true;
            }
          }
          c.env.push_back(e);
        }
      }
    }
    out.push_back(std::move(c));
  }
}

}  // namespace

std::span<const std::string_view> PodTemplateKinds() { return kPodTemplateKinds; }

bool CarriesPodTemplate(std::string_view kind) {
  return std::find(kPodTemplateKinds.begin(), kPodTemplateKinds.end(), kind) !=
         kPodTemplateKinds.end();
}

std::optional<Workload> ExtractWorkload(std::string_view kind, const rapidjson::Value& object) {
  if (!CarriesPodTemplate(kind)) return std::nullopt;
  Workload w;
  w.kind = kind;
  if (const rapidjson::Value* metadata = common::JsonMember(object, "metadata")) {
    w.namespace_ = common::JsonString(*metadata, "namespace");
    w.name = common::JsonString(*metadata, "name");
    if (w.name.empty()) w.name = common::JsonString(*metadata, "generateName");
  }
  const rapidjson::Value* spec = &object;
  for (std::string_view member : PodSpecMembers(kind)) {
    if (!w.pod_spec_path.empty()) w.pod_spec_path += '.';
    w.pod_spec_path += member;
    spec = spec ? common::JsonMember(*spec, member) : nullptr;
  }
  if (spec == nullptr || !spec->IsObject()) return w;  // a template without containers
  CollectContainers(*spec, "initContainers", ContainerType::kInitContainer, w.pod_spec_path,
                    w.containers);
  CollectContainers(*spec, "containers", ContainerType::kContainer, w.pod_spec_path, w.containers);
  CollectContainers(*spec, "ephemeralContainers", ContainerType::kEphemeralContainer,
                    w.pod_spec_path, w.containers);
  if (const rapidjson::Value* secrets = common::JsonMember(*spec, "imagePullSecrets");
      secrets != nullptr && secrets->IsArray()) {
    for (const rapidjson::Value& secret : secrets->GetArray()) {
      std::string_view name = common::JsonString(secret, "name");
      if (!name.empty()) w.image_pull_secrets.push_back(name);
    }
  }
  return w;
}

void ApplyImageConfig(Container& c, std::span<const std::string> entrypoint,
                      std::span<const std::string> cmd, std::span<const std::string> env) {
  const bool had_command = !c.command.empty();
  if (!had_command && !entrypoint.empty()) {
    c.command.assign(entrypoint.begin(), entrypoint.end());
    c.command_from_image = true;
  }
  if (!had_command && c.args.empty() && !cmd.empty()) {
    c.args.assign(cmd.begin(), cmd.end());
    c.args_from_image = true;
  }
  std::vector<EnvVar> merged;
  merged.reserve(env.size() + c.env.size());
  for (const std::string& entry : env) {
    std::string_view view = entry;
    std::size_t eq = view.find('=');
    std::string_view name = view.substr(0, eq);
    bool overridden = std::any_of(c.env.begin(), c.env.end(),
                                  [&](const EnvVar& own) { return own.name == name; });
    if (overridden || name.empty()) continue;
    std::string_view value =
        eq == std::string_view::npos ? std::string_view() : view.substr(eq + 1);
    merged.push_back({name, value, true, true});
  }
  merged.insert(merged.end(), c.env.begin(), c.env.end());
  c.env = std::move(merged);
}

}  // namespace stratum_guard::policy
