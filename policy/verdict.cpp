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

std::string_view DecisionName(Decision decision) {
  switch (decision) {
    case Decision::kAllowed:
      return "allowed";
    case Decision::kDenied:
      return "denied";
    case Decision::kWarned:
      return "warned";
    case Decision::kError:
      return "error";
  }
  return "error";
}

Decision Enforce(Decision decision, Enforcement enforcement) {
  if (decision == Decision::kError || enforcement == Enforcement::kEnforce) return decision;
  if (enforcement == Enforcement::kAudit) return Decision::kAllowed;
  return decision == Decision::kDenied ? Decision::kWarned : decision;
}

Decision Verdict::decision() const {
  if (Failed()) return Decision::kError;
  Decision decision = Decision::kAllowed;
  for (const Finding& f : findings) {
    if (f.action == Action::kDeny) return Decision::kDenied;
    if (f.action == Action::kWarn) decision = Decision::kWarned;
  }
  return decision;
}

}  // namespace stratum_guard::policy
