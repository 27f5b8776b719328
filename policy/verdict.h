#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace stratum_guard::policy {

// What a rule does when it fires. Ordered by severity.
enum class Action { kAudit = 0, kWarn = 1, kDeny = 2 };
std::string_view ActionName(Action action);  // "audit", "warn", "deny"

// What the consumers do with a deny, whatever the rules say: `enforce` denies and deletes, `warn`
// turns every deny into a warning and deletes nothing, `audit` only logs, counts and reports.
// Lets a new install observe before it acts (docs/INSTALL.md, "Observe, then enforce").
enum class Enforcement { kEnforce, kWarn, kAudit };
std::string_view EnforcementName(Enforcement enforcement);  // "enforce", "warn", "audit"
std::optional<Enforcement> ParseEnforcement(std::string_view name);

// Which exemption silenced a finding. A namespace exemption is reported when both apply.
enum class ExemptedBy : std::uint8_t { kNone, kNamespace, kImage };
std::string_view ExemptedByName(ExemptedBy by);  // "", "namespace", "image"

struct Finding {
  std::string rule_id;  // "stratum-url"
  Action action = Action::kAudit;
  std::string container;  // container name
  std::string field;      // relative to the container: "args[1]", "image", "env[POOL]"
  std::string path;       // full JSON path: "spec.template.spec.containers[0].args[1]"
  std::string evidence;   // what matched, truncated to a readable length
  // One line for a human, without the object's name or the rule id, e.g.
  // `container "app" args[1] has Stratum pool URL "stratum+tcp://pool.example:3333"`.
  std::string message;
  ExemptedBy exempted_by = ExemptedBy::kNone;  // set on Verdict::exempted findings only
};

// What a verdict decides, the one step from findings to a decision that the webhook, the sweeper
// and `check` share: the strongest action among the findings (audit findings decide nothing),
// or an error when the evaluation failed.
enum class Decision { kAllowed, kDenied, kWarned, kError };
std::string_view DecisionName(Decision decision);  // "allowed", "denied", "warned", "error"
// The decision once the enforcement mode applies: `warn` makes a denial a warning, `audit`
// allows; an error stays an error (the failurePolicy decides it).
Decision Enforce(Decision decision, Enforcement enforcement);

// The policy's judgement of one workload, or an error: a failed evaluation has no findings and
// must never be read as "allowed" (the webhook answers 500, the sweeper skips the pod).
struct Verdict {
  // In a stable order: by container position, then field position, then rule id.
  std::vector<Finding> findings;
  // Findings that an exemption silenced, kept for logs and audits; they never decide anything.
  std::vector<Finding> exempted;
  // Why the evaluation failed; empty when it succeeded.
  std::string error;

  bool Failed() const { return !error.empty(); }
  // Nothing found: false for a failed evaluation, which found nothing because it never finished.
  bool Empty() const { return findings.empty() && !Failed(); }

  Decision decision() const;
  bool Denied() const { return decision() == Decision::kDenied; }
  bool Warned() const { return decision() == Decision::kWarned; }  // a warn finding, no deny
};

}  // namespace stratum_guard::policy
