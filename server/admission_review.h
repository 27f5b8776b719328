#pragma once

#include <rapidjson/document.h>

#include <cstddef>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "policy/policy.h"
#include "policy/verdict.h"

namespace stratum_guard::server {

// The AdmissionReview contract, as pure functions: decode a parsed review into a request
// struct, judge it with a policy snapshot, encode the answer. Nothing here knows sockets or HTTP,
// so every rule of the contract is tested without a server.

struct GroupVersionKind {
  std::string_view group;
  std::string_view version;
  std::string_view kind;
};

// The fields of request that decide anything. Views point into the parsed document.
struct AdmissionRequest {
  std::string_view api_version;  // "admission.k8s.io/v1" or ".../v1beta1": answered in kind
  std::string_view uid;
  GroupVersionKind kind;          // the kind of `object` as sent to this webhook
  GroupVersionKind request_kind;  // the kind the user sent (differs under matchPolicy: Equivalent)
  std::string_view sub_resource;
  std::string_view name;
  std::string_view namespace_;
  std::string_view operation;  // CREATE, UPDATE, DELETE, CONNECT
  std::string_view user;       // userInfo.username: who asked, for the log
  bool dry_run = false;
  const rapidjson::Value* object = nullptr;  // nullptr when absent or null
};

// Decodes a parsed AdmissionReview. Returns an empty string on success, else the reason the
// JSON is not an AdmissionReview (wrong apiVersion or kind, missing request or uid, mistyped
// fields), for a 400 response.
std::string DecodeAdmissionReview(const rapidjson::Value& review, AdmissionRequest* request);

using policy::Decision;
using policy::DecisionName;

struct JudgeOptions {
  std::string docs_url;  // "<docs_url>#<rule-id>" is where a denial points the developer
  // --enforcement: wins over the policy's `enforcement:`; nullopt lets the policy decide.
  std::optional<policy::Enforcement> enforcement;
};

struct Judgement {
  // kError: the policy failed to evaluate (`error` says why); the answer is a 500, not a review.
  Decision decision = Decision::kAllowed;
  policy::Enforcement enforcement = policy::Enforcement::kEnforce;  // the mode that applied
  // The kind that was judged ("Deployment"), or empty when the request carried nothing to
  // judge (DELETE, CONNECT, a kind without a pod template, another subresource).
  std::string_view judged_kind;
  std::string name;        // as shown to people: request.name, metadata.name or generateName
  std::string namespace_;  // metadata.namespace, else request.namespace
  std::string message;     // the denial's status message; empty unless denied
  std::vector<std::string> warnings;
  std::vector<policy::Finding> findings;  // every finding (deny, warn, audit) for logs/metrics
  std::vector<policy::Finding> exempted;  // findings an exemption silenced, for logs/metrics
  std::string error;                      // why the evaluation failed; empty unless kError
};

// Called with the workload before it is evaluated, to add what the object alone does not say:
// the image configs, when the webhook looks inside images. What it adds must stay alive until
// Judge returns.
using WorkloadHook = std::function<void(policy::Workload&)>;

// Judges the request with `policy` under the enforcement in force (options.enforcement, else the
// policy's, else enforce): `warn` answers every deny as a warning, `audit` allows without
// warnings. Never throws on any request content.
Judgement Judge(const AdmissionRequest& request, const policy::Policy& policy,
                const JudgeOptions& options, const WorkloadHook& before_evaluation = nullptr);

// The AdmissionReview answer (same apiVersion as the request, its uid, allowed, and for a
// denial status {code 403, reason Forbidden, message}; warnings when there are any).
std::string EncodeAdmissionResponse(const AdmissionRequest& request, const Judgement& judgement);

// Bounds on what reaches the developer. The API server truncates a warning past 256
// characters and drops warnings past 4,096 in total; kubectl prints each on a line.
inline constexpr std::size_t kWarningTargetLength = 120;
inline constexpr std::size_t kWarningsTotalLength = 4096;
inline constexpr std::size_t kDenyMessageMaxLength = 1024;

// `stratum-guard denied Deployment default/web: <first finding's message> (rule stratum-url).
// See <docs_url>#stratum-url`, plus `; and 2 more (rules a, b)` when several rules denied.
// Kept under kDenyMessageMaxLength bytes. `deny_findings` must not be empty.
std::string DenyMessage(std::string_view kind, std::string_view namespace_, std::string_view name,
                        std::span<const policy::Finding> deny_findings, std::string_view docs_url);

// One warning per finding, each at most kWarningTargetLength bytes, all together at most
// kWarningsTotalLength; when they do not all fit the last one says "and N more".
std::vector<std::string> WarningMessages(std::span<const policy::Finding> warn_findings);

}  // namespace stratum_guard::server
