#include "check/check.h"

#include <utility>

namespace stratum_guard::check {
namespace {

std::string StringMember(const rapidjson::Value& object, const char* name) {
  auto it = object.FindMember(name);
  if (it == object.MemberEnd() || !it->value.IsString()) return {};
  return {it->value.GetString(), it->value.GetStringLength()};
}

std::string_view TypeName(const rapidjson::Value& v) {
  switch (v.GetType()) {
    case rapidjson::kNullType:
      return "null";
    case rapidjson::kFalseType:
    case rapidjson::kTrueType:
      return "a boolean";
    case rapidjson::kObjectType:
      return "a mapping";
    case rapidjson::kArrayType:
      return "a list";
    case rapidjson::kStringType:
      return "a string";
    case rapidjson::kNumberType:
      return "a number";
  }
  return "a value";
}

}  // namespace

std::string_view OutcomeName(Outcome outcome) {
  switch (outcome) {
    case Outcome::kAllowed:
      return "allowed";
    case Outcome::kWarned:
      return "warned";
    case Outcome::kDenied:
      return "denied";
    case Outcome::kNotJudged:
      return "not judged";
    case Outcome::kSkipped:
      return "skipped";
    case Outcome::kError:
      return "error";
  }
  return "skipped";
}

Evaluator EvaluatorFor(std::shared_ptr<const policy::Policy> policy) {
  return [policy = std::move(policy)](const policy::Workload& workload) {
    return policy->Evaluate(workload);
  };
}

Judgement Judge(const ManifestObject& object, const Evaluator& evaluate,
                std::string_view default_namespace) {
  Judgement j;
  j.file = object.file;
  j.document = object.document;
  j.item_path = object.item_path;
  j.line = object.line;
  const rapidjson::Value& v = *object.object;
  if (!v.IsObject()) {
    j.note = "the document is " + std::string(TypeName(v)) + ", not a Kubernetes object";
    return j;
  }
  j.api_version = StringMember(v, "apiVersion");
  j.kind = StringMember(v, "kind");
  if (auto metadata = v.FindMember("metadata");
      metadata != v.MemberEnd() && metadata->value.IsObject()) {
    j.namespace_ = StringMember(metadata->value, "namespace");
    j.name = StringMember(metadata->value, "name");
    if (j.name.empty()) j.name = StringMember(metadata->value, "generateName");
  }
  if (j.namespace_.empty()) j.namespace_ = default_namespace;
  if (j.kind.empty()) {
    j.note = "no kind: not a Kubernetes object";
    return j;
  }
  std::optional<policy::Workload> workload = policy::ExtractWorkload(j.kind, v);
  if (!workload) {
    j.outcome = Outcome::kNotJudged;
    j.note = j.kind + " carries no pod template";
    return j;
  }
  workload->namespace_ = j.namespace_;  // views j's string, alive until Evaluate returns
  j.verdict = evaluate(*workload);
  if (j.verdict.Failed()) {
    j.outcome = Outcome::kError;
    j.note = j.verdict.error;
    return j;
  }
  j.outcome = j.verdict.Denied()   ? Outcome::kDenied
              : j.verdict.Warned() ? Outcome::kWarned
                                   : Outcome::kAllowed;
  for (const policy::Finding& f : j.verdict.findings)
    j.finding_lines.push_back(object.LineOf(f.path));
  for (const policy::Finding& f : j.verdict.exempted) {
    j.exempted_lines.push_back(object.LineOf(f.path));
  }
  return j;
}

Report Check(const ReadResult& read, const Evaluator& evaluate,
             std::string_view default_namespace) {
  Report report;
  report.files = read.files;
  report.errors = read.errors;
  report.warnings = read.warnings;
  report.judgements.reserve(read.objects.size());
  for (const ManifestObject& object : read.objects) {
    report.judgements.push_back(Judge(object, evaluate, default_namespace));
  }
  return report;
}

Summary Report::Summarize() const {
  Summary s;
  s.files = files;
  s.errors = static_cast<int>(errors.size());
  s.objects = static_cast<int>(judgements.size());
  for (const Judgement& j : judgements) {
    switch (j.outcome) {
      case Outcome::kAllowed:
        ++s.allowed;
        break;
      case Outcome::kWarned:
        ++s.warned;
        break;
      case Outcome::kDenied:
        ++s.denied;
        break;
      case Outcome::kNotJudged:
        ++s.not_judged;
        break;
      case Outcome::kSkipped:
        ++s.skipped;
        break;
      case Outcome::kError:
        ++s.errors;
        break;
    }
  }
  s.judged = s.allowed + s.warned + s.denied;
  return s;
}

int Report::ExitCode() const {
  const Summary s = Summarize();
  if (s.errors > 0) return 2;
  return s.denied > 0 ? 1 : 0;
}

}  // namespace stratum_guard::check
