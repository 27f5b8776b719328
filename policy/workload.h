#pragma once

#include <rapidjson/document.h>

#include <array>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace stratum_guard::policy {

// The plain data the policy judges: the containers of one pod template, found inside any
// Kubernetes object that carries one. Views point into the JSON value passed to
// ExtractWorkload, which must outlive the Workload.

enum class ContainerType { kContainer, kInitContainer, kEphemeralContainer };

struct EnvVar {
  std::string_view name;
  std::string_view value;   // literal `value`; empty when has_value is false
  bool has_value = false;   // false for valueFrom (secret, configmap, field refs)
  bool from_image = false;  // the image config's Env, not the pod spec (ApplyImageConfig)
};

struct Container {
  ContainerType type = ContainerType::kContainer;
  std::string_view name;
  std::string_view image;
  std::vector<std::string_view> command;
  std::vector<std::string_view> args;
  std::vector<EnvVar> env;
  // JSON path of this container inside the object, e.g. "spec.template.spec.containers[1]".
  std::string path;
  // Set by ApplyImageConfig when what runs comes from the image: findings then name the image
  // config's field ("image config Entrypoint[0]") instead of the pod spec's.
  bool command_from_image = false;
  bool args_from_image = false;
};

struct Workload {
  std::string_view kind;        // "Deployment", "Pod", ...
  std::string_view namespace_;  // metadata.namespace; callers may fill it from the request
  std::string_view name;        // metadata.name, or metadata.generateName when name is empty
  std::string pod_spec_path;    // e.g. "spec.template.spec", "spec.jobTemplate.spec.template.spec"
  std::vector<Container> containers;
  // imagePullSecrets[].name of the pod spec: where the kubelet finds the registry credentials
  // of private images, and so does image inspection (registry/credentials.h).
  std::vector<std::string_view> image_pull_secrets;
};

// The kinds whose objects carry a pod spec; a constant, so that the metrics can size their
// series cache by it.
inline constexpr std::array<std::string_view, 9> kPodTemplateKinds = {
    "Pod",       "PodTemplate", "Deployment", "ReplicaSet",           "StatefulSet",
    "DaemonSet", "Job",         "CronJob",    "ReplicationController"};
std::span<const std::string_view> PodTemplateKinds();
bool CarriesPodTemplate(std::string_view kind);

// Finds the pod spec of `object` (a parsed Kubernetes object of `kind`) and collects its
// containers, initContainers and ephemeralContainers. Returns nullopt when the kind carries no
// pod template. Tolerates missing or mistyped fields (they are skipped): the API server has
// validated the object already, and a manifest on disk may be partial.
std::optional<Workload> ExtractWorkload(std::string_view kind, const rapidjson::Value& object);

// Completes `c` with its image's configuration, read from the registry, by the kubelet's rules:
// `command` replaces the Entrypoint, and `args` replace the Cmd; with a command and no args the
// Cmd is not run. The image's Env ("NAME=value") comes first, and a variable the container sets
// itself replaces the image's. Views point into the three lists, which must outlive `c`.
void ApplyImageConfig(Container& c, std::span<const std::string> entrypoint,
                      std::span<const std::string> cmd, std::span<const std::string> env);

}  // namespace stratum_guard::policy
