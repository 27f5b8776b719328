#include "policy/policy.h"

namespace stratum_guard::policy {
namespace embedded {
std::string_view DefaultPolicyText();
}

PolicyError::PolicyError(std::string source, int line, std::string rule_id, std::string problem)
    : std::runtime_error(source + ":" + std::to_string(line) + ": " + problem),
      source_(std::move(source)),
      line_(line),
      rule_id_(std::move(rule_id)),
      problem_(std::move(problem)) {}

struct Policy::Impl {
  std::vector<RuleInfo> rules;
};
Policy::Policy(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Policy::~Policy() = default;
std::shared_ptr<const Policy> Policy::Compile(std::string_view, std::string_view source) {
  throw PolicyError(std::string(source), 0, "", "policy engine not built yet");
}
std::shared_ptr<const Policy> Policy::Default() { return Compile(DefaultText(), "<default>"); }
std::string_view Policy::DefaultText() { return embedded::DefaultPolicyText(); }
Verdict Policy::Evaluate(const Workload&) const { return {}; }
const std::vector<RuleInfo>& Policy::rules() const { return impl_->rules; }

}  // namespace stratum_guard::policy
