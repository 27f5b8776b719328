#include "policy/verdict.h"

#include <algorithm>

namespace stratum_guard::policy {

std::string_view ActionName(Action action) {
  switch (action) {
    case Action::kAudit:
      return "audit";
    case Action::kWarn:
      return "warn";
    case Action::kDeny:
      return "deny";
  }
  return "audit";
}

bool Verdict::Denied() const {
  return std::any_of(findings.begin(), findings.end(),
                     [](const Finding& f) { return f.action == Action::kDeny; });
}

bool Verdict::Warned() const {
  return !Denied() && std::any_of(findings.begin(), findings.end(),
                                  [](const Finding& f) { return f.action == Action::kWarn; });
}

}  // namespace stratum_guard::policy
