#pragma once

#include <string>
#include <string_view>

namespace stratum_guard::server::fixtures {

// JSON builders for AdmissionReviews in tests. Containers are given as JSON arrays.

inline constexpr std::string_view kV1 = "admission.k8s.io/v1";
inline constexpr std::string_view kV1beta1 = "admission.k8s.io/v1beta1";

// A container list with one container of `image` and `args` (a JSON array text).
inline std::string Containers(std::string_view image, std::string_view args_json = "[]",
                              std::string_view name = "app") {
  return "[{\"name\":\"" + std::string(name) + "\",\"image\":\"" + std::string(image) +
         "\",\"args\":" + std::string(args_json) + "}]";
}

inline std::string PodSpec(std::string_view containers_json) {
  return "{\"containers\":" + std::string(containers_json) + "}";
}

// The API group/version a kind lives in.
inline std::string_view ApiVersionOf(std::string_view kind) {
  if (kind == "Pod" || kind == "PodTemplate" || kind == "ReplicationController" ||
      kind == "Service" || kind == "ConfigMap") {
    return "v1";
  }
  if (kind == "Job" || kind == "CronJob") return "batch/v1";
  return "apps/v1";
}

inline std::string_view GroupOf(std::string_view kind) {
  std::string_view api = ApiVersionOf(kind);
  std::size_t slash = api.find('/');
  return slash == std::string_view::npos ? std::string_view() : api.substr(0, slash);
}

// An object of `kind` whose pod spec holds `containers_json`, in its kind's own layout.
inline std::string Object(std::string_view kind, std::string_view containers_json,
                          std::string_view name = "web", std::string_view namespace_ = "default") {
  std::string meta = "\"metadata\":{\"name\":\"" + std::string(name) + "\"";
  if (!namespace_.empty()) meta += ",\"namespace\":\"" + std::string(namespace_) + "\"";
  meta += "}";
  std::string head = "{\"apiVersion\":\"" + std::string(ApiVersionOf(kind)) + "\",\"kind\":\"" +
                     std::string(kind) + "\"," + meta + ",";
  std::string pod_spec = PodSpec(containers_json);
  std::string tmpl = "{\"metadata\":{},\"spec\":" + pod_spec + "}";
  if (kind == "Pod") return head + "\"spec\":" + pod_spec + "}";
  if (kind == "PodTemplate") return head + "\"template\":" + tmpl + "}";
  if (kind == "CronJob") {
    return head +
           "\"spec\":{\"schedule\":\"* * * * *\",\"jobTemplate\":{\"spec\":{\"template\":" + tmpl +
           "}}}}";
  }
  if (kind == "Service") return head + "\"spec\":{\"ports\":[{\"port\":3333}]}}";
  return head + "\"spec\":{\"template\":" + tmpl + "}}";
}

struct ReviewSpec {
  std::string_view api_version = kV1;
  std::string_view uid = "705ab4f5-6393-11e8-b7cc-42010a800002";
  std::string_view kind = "Deployment";
  std::string_view operation = "CREATE";
  std::string_view namespace_ = "default";
  std::string_view name = "web";
  std::string_view sub_resource;
  std::string object;        // JSON text, or empty for null
  std::string request_kind;  // JSON text of requestKind, or empty to mirror kind
  bool dry_run = false;
};

inline std::string Review(const ReviewSpec& spec) {
  std::string gvk = "{\"group\":\"" + std::string(GroupOf(spec.kind)) + "\",\"version\":\"" +
                    std::string(ApiVersionOf(spec.kind).substr(
                        ApiVersionOf(spec.kind).find('/') == std::string_view::npos
                            ? 0
                            : ApiVersionOf(spec.kind).find('/') + 1)) +
                    "\",\"kind\":\"" + std::string(spec.kind) + "\"}";
  std::string out = "{\"apiVersion\":\"" + std::string(spec.api_version) +
                    "\",\"kind\":\"AdmissionReview\",\"request\":{\"uid\":\"" +
                    std::string(spec.uid) + "\",\"kind\":" + gvk +
                    ",\"requestKind\":" + (spec.request_kind.empty() ? gvk : spec.request_kind) +
                    ",\"resource\":{\"group\":\"apps\",\"version\":\"v1\",\"resource\":\"x\"}";
  if (!spec.sub_resource.empty()) {
    out += ",\"subResource\":\"" + std::string(spec.sub_resource) + "\"";
  }
  out += ",\"name\":\"" + std::string(spec.name) + "\",\"namespace\":\"" +
         std::string(spec.namespace_) + "\",\"operation\":\"" + std::string(spec.operation) +
         "\",\"userInfo\":{\"username\":\"dev\"},\"object\":" +
         (spec.object.empty() ? std::string("null") : spec.object) +
         ",\"oldObject\":null,\"dryRun\":" + (spec.dry_run ? "true" : "false") + "}}";
  return out;
}

// A Deployment review with one container; the shorthand most tests need.
inline std::string DeploymentReview(std::string_view image, std::string_view args_json = "[]",
                                    std::string_view api_version = kV1,
                                    std::string_view uid = "uid-1") {
  ReviewSpec spec;
  spec.api_version = api_version;
  spec.uid = uid;
  spec.object = Object("Deployment", Containers(image, args_json));
  return Review(spec);
}

// Container args the default policy judges.
inline constexpr std::string_view kStratumArgs =
    R"(["--threads=2","stratum+tcp://pool.example:3333"])";
inline constexpr std::string_view kMinerFlagArgs = R"(["--donate-level","1"])";

}  // namespace stratum_guard::server::fixtures
