#include "server/admission_review.h"

#include <algorithm>

#include "common/json.h"
#include "common/log.h"
#include "common/text.h"
#include "policy/workload.h"

namespace stratum_guard::server {
namespace {

constexpr std::string_view kV1 = "admission.k8s.io/v1";
constexpr std::string_view kV1beta1 = "admission.k8s.io/v1beta1";

std::string_view View(const rapidjson::Value& v) { return {v.GetString(), v.GetStringLength()}; }

// Reads an optional string member. A present member that is neither a string nor null is an
// error: the review is not what the API server sends.
bool OptionalString(const rapidjson::Value& object, std::string_view name, std::string_view* out,
                    std::string* error, std::string_view where) {
  const rapidjson::Value* v = common::JsonMember(object, name);
  if (v == nullptr || v->IsNull()) return true;
  if (!v->IsString()) {
    *error = std::string(where) + "." + std::string(name) + " must be a string";
    return false;
  }
  *out = View(*v);
  return true;
}

bool OptionalGvk(const rapidjson::Value& request, std::string_view name, GroupVersionKind* out,
                 std::string* error) {
  const rapidjson::Value* v = common::JsonMember(request, name);
  if (v == nullptr || v->IsNull()) return true;
  if (!v->IsObject()) {
    *error = "request." + std::string(name) + " must be an object";
    return false;
  }
  std::string where = "request." + std::string(name);
  return OptionalString(*v, "group", &out->group, error, where) &&
         OptionalString(*v, "version", &out->version, error, where) &&
         OptionalString(*v, "kind", &out->kind, error, where);
}

std::string_view MetadataString(const rapidjson::Value* object, std::string_view name) {
  if (object == nullptr) return {};
  const rapidjson::Value* metadata = common::JsonMember(*object, "metadata");
  if (metadata == nullptr) return {};
  const rapidjson::Value* v = common::JsonMember(*metadata, name);
  if (v == nullptr || !v->IsString()) return {};
  return View(*v);
}

// The kind to judge. `kind` describes the object as sent; `requestKind` what the user sent.
// Under matchPolicy: Equivalent they can differ in group or version (extensions/v1beta1 vs
// apps/v1 Deployment); either carrying a pod template means the object has one.
std::string_view KindToJudge(const AdmissionRequest& request) {
  if (policy::CarriesPodTemplate(request.kind.kind)) return request.kind.kind;
  if (policy::CarriesPodTemplate(request.request_kind.kind)) return request.request_kind.kind;
  if (request.kind.kind.empty() && request.request_kind.kind.empty() && request.object) {
    if (const rapidjson::Value* kind = common::JsonMember(*request.object, "kind");
        kind != nullptr && kind->IsString() && policy::CarriesPodTemplate(View(*kind))) {
      return View(*kind);
    }
  }
  return {};
}

std::string JoinRuleIds(std::span<const policy::Finding> findings, std::size_t max_bytes) {
  std::vector<std::string_view> ids;
  for (const policy::Finding& f : findings) {
    if (std::find(ids.begin(), ids.end(), f.rule_id) == ids.end()) ids.push_back(f.rule_id);
  }
  std::string out;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    std::string_view sep = out.empty() ? "" : ", ";
    if (out.size() + sep.size() + ids[i].size() > max_bytes) {
      out += sep;
      out += "...";
      break;
    }
    out += sep;
    out += ids[i];
  }
  return out;
}

std::string ObjectRef(std::string_view kind, std::string_view namespace_, std::string_view name) {
  std::string out(kind);
  out += ' ';
  if (!namespace_.empty()) {
    out += namespace_;
    out += '/';
  }
  out += name.empty() ? std::string_view("(unnamed)") : name;
  return out;
}

}  // namespace

std::string DecodeAdmissionReview(const rapidjson::Value& review, AdmissionRequest* request) {
  *request = AdmissionRequest{};
  if (!review.IsObject()) return "body is not a JSON object";
  const rapidjson::Value* api_version = common::JsonMember(review, "apiVersion");
  if (api_version == nullptr || !api_version->IsString() ||
      (View(*api_version) != kV1 && View(*api_version) != kV1beta1)) {
    return "apiVersion must be admission.k8s.io/v1 or admission.k8s.io/v1beta1";
  }
  request->api_version = View(*api_version);
  const rapidjson::Value* kind = common::JsonMember(review, "kind");
  if (kind == nullptr || !kind->IsString() || View(*kind) != "AdmissionReview") {
    return "kind must be AdmissionReview";
  }
  const rapidjson::Value* r = common::JsonMember(review, "request");
  if (r == nullptr || !r->IsObject()) return "request is missing or not an object";
  const rapidjson::Value* uid = common::JsonMember(*r, "uid");
  if (uid == nullptr || !uid->IsString() || uid->GetStringLength() == 0) {
    return "request.uid is missing or not a string";
  }
  request->uid = View(*uid);
  std::string error;
  if (!OptionalGvk(*r, "kind", &request->kind, &error) ||
      !OptionalGvk(*r, "requestKind", &request->request_kind, &error) ||
      !OptionalString(*r, "subResource", &request->sub_resource, &error, "request") ||
      !OptionalString(*r, "name", &request->name, &error, "request") ||
      !OptionalString(*r, "namespace", &request->namespace_, &error, "request") ||
      !OptionalString(*r, "operation", &request->operation, &error, "request")) {
    return error;
  }
  if (request->operation.empty()) return "request.operation is missing";
  if (const rapidjson::Value* user = common::JsonMember(*r, "userInfo");
      user != nullptr && !user->IsNull()) {
    if (!user->IsObject()) return "request.userInfo must be an object";
    if (!OptionalString(*user, "username", &request->user, &error, "request.userInfo")) {
      return error;
    }
  }
  if (const rapidjson::Value* dry_run = common::JsonMember(*r, "dryRun"); dry_run != nullptr) {
    if (dry_run->IsBool()) {
      request->dry_run = dry_run->GetBool();
    } else if (!dry_run->IsNull()) {
      return "request.dryRun must be a boolean";
    }
  }
  if (const rapidjson::Value* object = common::JsonMember(*r, "object"); object != nullptr) {
    if (object->IsObject()) {
      request->object = object;
    } else if (!object->IsNull()) {
      return "request.object must be an object";
    }
  }
  if ((request->operation == "CREATE" || request->operation == "UPDATE") &&
      request->object == nullptr) {
    return "request.object is missing for " + std::string(request->operation);
  }
  return {};
}

Judgement Judge(const AdmissionRequest& request, const policy::Policy& policy,
                const JudgeOptions& options, const WorkloadHook& before_evaluation) {
  Judgement j;
  j.name = std::string(request.name);
  if (j.name.empty()) j.name = std::string(MetadataString(request.object, "name"));
  if (j.name.empty()) j.name = std::string(MetadataString(request.object, "generateName"));
  j.namespace_ = std::string(MetadataString(request.object, "namespace"));
  if (j.namespace_.empty()) j.namespace_ = std::string(request.namespace_);
  j.enforcement = policy.EnforcementUnder(options.enforcement);

  // Removing or attaching to something cannot start a miner.
  if (request.operation == "DELETE" || request.operation == "CONNECT") return j;
  // Only the object itself and the ephemeral containers subresource carry containers a user
  // chose; status, scale, binding and the like are left alone.
  if (!request.sub_resource.empty() && request.sub_resource != "ephemeralcontainers") return j;
  if (request.object == nullptr) return j;
  std::string_view kind = KindToJudge(request);
  if (kind.empty()) return j;
  std::optional<policy::Workload> workload = policy::ExtractWorkload(kind, *request.object);
  if (!workload) return j;
  j.judged_kind = kind;
  workload->name = j.name;
  workload->namespace_ = j.namespace_;
  if (before_evaluation) before_evaluation(*workload);

  policy::Verdict verdict = policy.Evaluate(*workload);
  j.decision = policy::Enforce(verdict.decision(), j.enforcement);
  if (j.decision == Decision::kError) {
    j.error = std::move(verdict.error);
    return j;
  }
  std::vector<policy::Finding> denies;
  std::vector<policy::Finding> warns;
  for (const policy::Finding& f : verdict.findings) {
    if (f.action == policy::Action::kDeny) denies.push_back(f);
    if (f.action == policy::Action::kWarn) warns.push_back(f);
  }
  if (j.enforcement == policy::Enforcement::kWarn) {
    warns.insert(warns.begin(), denies.begin(), denies.end());
  }
  if (j.decision == Decision::kDenied) {
    j.message = DenyMessage(kind, j.namespace_, j.name, denies, options.docs_url);
  }
  // Warnings ride along with a denial too: they tell the developer what else to fix.
  if (j.enforcement != policy::Enforcement::kAudit) j.warnings = WarningMessages(warns);
  j.findings = std::move(verdict.findings);
  j.exempted = std::move(verdict.exempted);
  return j;
}

std::string DenyMessage(std::string_view kind, std::string_view namespace_, std::string_view name,
                        std::span<const policy::Finding> deny_findings, std::string_view docs_url) {
  const policy::Finding& first = deny_findings.front();
  std::string head = "stratum-guard denied ";
  head += common::TruncateUtf8(ObjectRef(kind, namespace_, name), 200);
  head += ": ";
  std::string tail = " (rule ";
  tail += common::TruncateUtf8(first.rule_id, 64);
  tail += ")";
  std::size_t others = deny_findings.size() - 1;
  if (others > 0) {
    tail += ", and " + std::to_string(others) + " more (rules " +
            JoinRuleIds(deny_findings.subspan(1), 200) + ")";
  }
  tail += ". See ";
  tail += common::TruncateUtf8(docs_url, 300);
  tail += '#';
  tail += common::TruncateUtf8(first.rule_id, 64);
  std::size_t budget =
      kDenyMessageMaxLength - std::min(kDenyMessageMaxLength - 16, head.size() + tail.size());
  return head + common::TruncateUtf8(first.message, budget) + tail;
}

std::vector<std::string> WarningMessages(std::span<const policy::Finding> warn_findings) {
  constexpr std::string_view kPrefix = "stratum-guard: ";
  std::vector<std::string> out;
  std::size_t total = 0;
  // Room kept for the closing "and N more" line.
  constexpr std::size_t kReserve = 64;
  for (std::size_t i = 0; i < warn_findings.size(); ++i) {
    const policy::Finding& f = warn_findings[i];
    std::string suffix = " (rule " + common::TruncateUtf8(f.rule_id, 40) + ")";
    std::size_t budget = kWarningTargetLength - kPrefix.size() - suffix.size();
    std::string line = std::string(kPrefix) + common::TruncateUtf8(f.message, budget) + suffix;
    bool last = i + 1 == warn_findings.size();
    if (total + line.size() > kWarningsTotalLength - (last ? 0 : kReserve)) {
      std::size_t rest = warn_findings.size() - i;
      out.push_back(common::TruncateUtf8("stratum-guard: and " + std::to_string(rest) +
                                             " more warnings (rules " +
                                             JoinRuleIds(warn_findings.subspan(i), 60) + ")",
                                         kWarningTargetLength));
      break;
    }
    total += line.size();
    out.push_back(std::move(line));
  }
  return out;
}

std::string EncodeAdmissionResponse(const AdmissionRequest& request, const Judgement& judgement) {
  // Appended straight into the answer, as the log lines are: a RapidJSON Writer cost a buffer,
  // its stack and a copy, three times the bytes' own work on a 134-byte answer (issue 18).
  const bool allowed = judgement.decision != Decision::kDenied;
  std::size_t size = 160 + request.api_version.size() + request.uid.size();
  if (!allowed) size += 96 + judgement.message.size();
  for (const std::string& warning : judgement.warnings) size += warning.size() + 4;
  std::string out;
  out.reserve(size);
  out += "{\"apiVersion\":";
  common::AppendJsonString(out, request.api_version);
  out += ",\"kind\":\"AdmissionReview\",\"response\":{\"uid\":";
  common::AppendJsonString(out, request.uid);
  out += allowed ? ",\"allowed\":true" : ",\"allowed\":false";
  if (!allowed) {
    out += ",\"status\":{\"status\":\"Failure\",\"code\":403,\"reason\":\"Forbidden\",\"message\":";
    common::AppendJsonString(out, judgement.message);
    out += '}';
  }
  if (!judgement.warnings.empty()) {
    out += ",\"warnings\":[";
    for (std::size_t i = 0; i < judgement.warnings.size(); ++i) {
      if (i > 0) out += ',';
      common::AppendJsonString(out, judgement.warnings[i]);
    }
    out += ']';
  }
  out += "}}";
  return out;
}

}  // namespace stratum_guard::server
