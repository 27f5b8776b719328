#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "check/manifest_reader.h"
#include "policy/policy.h"
#include "policy/verdict.h"
#include "policy/workload.h"

namespace stratum_guard::check {

// Judges manifest objects with a policy, offline: what `stratum-guard check` does between
// reading files and printing the report.

// What happened to one object.
enum class Outcome {
  kAllowed,    // judged; no deny or warn finding (audit findings may be listed)
  kWarned,     // judged; some warn finding and no deny
  kDenied,     // judged; some deny finding
  kNotJudged,  // its kind carries no pod template (Service, ConfigMap, custom resources)
  kSkipped,    // not a Kubernetes object at all (no kind, not a mapping): a warning
  kError,      // the policy failed to evaluate it (note says why): neither allowed nor denied
};
std::string_view OutcomeName(Outcome outcome);  // "allowed", "warned", "denied", ...

struct Judgement {
  std::string file;
  int document = 0;       // 0-based, as in ManifestObject
  std::string item_path;  // "items[2]" for an item of a List
  int line = 0;           // 1-based line of the object
  std::string api_version;
  std::string kind;
  std::string namespace_;  // metadata.namespace, or the default namespace given to Check
  std::string name;        // metadata.name (or generateName)
  Outcome outcome = Outcome::kSkipped;
  std::string note;  // why it was not judged, skipped or errored; empty for judged objects
  policy::Verdict verdict;
  // 1-based line of each finding's field (parallel to verdict.findings / verdict.exempted),
  // the object's line when the field's own line is unknown (JSON input).
  std::vector<int> finding_lines;
  std::vector<int> exempted_lines;
};

struct Summary {
  int files = 0;    // files read (and stdin)
  int objects = 0;  // objects found, whatever their outcome
  int judged = 0;   // allowed + warned + denied
  int denied = 0;
  int warned = 0;
  int allowed = 0;
  int not_judged = 0;
  int skipped = 0;
  // Files or documents that could not be read or parsed, and objects the policy failed to
  // evaluate.
  int errors = 0;
};

struct Report {
  std::vector<Judgement> judgements;  // in reading order
  std::vector<ReadError> errors;
  std::vector<ReadError> warnings;  // read warnings (duplicate keys); never change the exit code
  int files = 0;

  Summary Summarize() const;
  // 2 when any path could not be read or parsed or any object errored, else 1 when any object
  // is denied, else 0.
  int ExitCode() const;
};

// Judges one workload. Production code passes EvaluatorFor(policy); tests may pass a fake.
using Evaluator = std::function<policy::Verdict(const policy::Workload&)>;
Evaluator EvaluatorFor(std::shared_ptr<const policy::Policy> policy);

// Judges one object. Objects without a namespace take `default_namespace` (as kubectl
// applies them into the current namespace), so namespace exemptions can be tried offline.
Judgement Judge(const ManifestObject& object, const Evaluator& evaluate,
                std::string_view default_namespace = {});

// Judges everything that was read and carries the read errors over.
Report Check(const ReadResult& read, const Evaluator& evaluate,
             std::string_view default_namespace = {});

}  // namespace stratum_guard::check
