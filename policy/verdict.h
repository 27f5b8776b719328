#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace stratum_guard::policy {

// What a rule does when it fires. Ordered by severity.
enum class Action { kAudit = 0, kWarn = 1, kDeny = 2 };
std::string_view ActionName(Action action);  // "audit", "warn", "deny"

struct Finding {
  std::string rule_id;     // "stratum-url"
  Action action = Action::kAudit;
  std::string container;   // container name
  std::string field;       // relative to the container: "args[1]", "image", "env[POOL]"
  std::string path;        // full JSON path: "spec.template.spec.containers[0].args[1]"
  std::string evidence;    // what matched, truncated to a readable length
  // One line for a human, without the object's name or the rule id, e.g.
  // `container "app" args[1] has Stratum pool URL "stratum+tcp://pool.example:3333"`.
  std::string message;
};

struct Verdict {
  // In a stable order: by container position, then field position, then rule id.
  std::vector<Finding> findings;
  // Findings that an exemption silenced, kept for logs and audits; they never decide anything.
  std::vector<Finding> exempted;

  bool Denied() const;
  bool Warned() const;  // some warn finding and no deny
  // The strongest action among findings, or nullopt-like: false when there are none.
  bool Empty() const { return findings.empty(); }
};

}  // namespace stratum_guard::policy
