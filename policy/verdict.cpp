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

std::string_view EnforcementName(Enforcement enforcement) {
  switch (enforcement) {
    case Enforcement::kEnforce:
      return "enforce";
    case Enforcement::kWarn:
      return "warn";
    case Enforcement::kAudit:
      return "audit";
  }
  return "enforce";
}

std::optional<Enforcement> ParseEnforcement(std::string_view name) {
  for (Enforcement e : {Enforcement::kEnforce, Enforcement::kWarn, Enforcement::kAudit}) {
    if (name == EnforcementName(e)) return e;
  }
  return std::nullopt;
}

std::string_view ExemptedByName(ExemptedBy by) {
  switch (by) {
    case ExemptedBy::kNone:
      return "";
    case ExemptedBy::kNamespace:
      return "namespace";
    case ExemptedBy::kImage:
      return "image";
  }
  return "";
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
