#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "policy/verdict.h"
#include "policy/workload.h"

namespace stratum_guard::policy {

// A policy file that cannot be compiled. what() reads "FILE:LINE: rule ID: PROBLEM" (parts that
// do not apply are left out), ready to print.
class PolicyError : public std::runtime_error {
 public:
  PolicyError(std::string source, int line, std::string rule_id, std::string problem);
  const std::string& source() const { return source_; }
  int line() const { return line_; }  // 1-based; 0 when unknown
  const std::string& rule_id() const { return rule_id_; }
  const std::string& problem() const { return problem_; }

 private:
  std::string source_;
  int line_;
  std::string rule_id_;
  std::string problem_;
};

// The line every policy must end with (comments and blank lines may follow it). A file cut off
// anywhere, or read while it is still being written, lacks it and is refused, where it could
// otherwise load as a valid policy with rules or image lists silently missing.
inline constexpr std::string_view kPolicyEndKey = "end";
inline constexpr std::string_view kPolicyEndValue = "stratum-guard-policy";
inline constexpr std::string_view kPolicyEndLine = "end: stratum-guard-policy";

struct RuleInfo {
  std::string id;
  std::string description;
  Action action = Action::kDeny;
};

// A compiled, immutable policy. Compile() does all the work (YAML parsing, validation, RE2
// compilation, building literal sets); Evaluate() only reads, so one snapshot is shared by any
// number of threads through std::shared_ptr<const Policy> without locks. Exceptions are thrown
// only by Compile(); Evaluate() never throws: a fault inside it is a Verdict with an error.
class Policy {
 public:
  // `source` names the text in errors (a file path, or "<default>").
  static std::shared_ptr<const Policy> Compile(std::string_view yaml_text, std::string_view source);
  // The policy embedded in the binary (policy/default_policy.yaml).
  static std::shared_ptr<const Policy> Default();
  static std::string_view DefaultText();

  // Test seam: the default policy, except that every Evaluate() fails with `what`, as an engine
  // fault would. Lets tests walk each consumer's error path; never used by the binary.
  static std::shared_ptr<const Policy> FailingForTesting(std::string what);

  Verdict Evaluate(const Workload& workload) const;

  // The policy file's `enforcement:`, or nullopt when it has none (the consumers then enforce,
  // unless the --enforcement flag says otherwise).
  std::optional<Enforcement> enforcement() const;
  // The mode in force: the --enforcement flag when given, else the file's, else enforce.
  Enforcement EnforcementUnder(std::optional<Enforcement> flag) const {
    return flag.value_or(enforcement().value_or(Enforcement::kEnforce));
  }
  const std::vector<RuleInfo>& rules() const;
  std::size_t rule_count() const { return rules().size(); }

  ~Policy();
  Policy(const Policy&) = delete;  // a snapshot is shared by pointer, never copied
  Policy& operator=(const Policy&) = delete;

  struct Impl;

 private:
  explicit Policy(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace stratum_guard::policy
