#pragma once

// Builders shared by the policy tests: pods from a few fields, evaluated with the default policy
// or any other.

#include <rapidjson/document.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "policy/policy.h"

namespace stratum_guard::policy::testing {

struct TestContainer {
  std::string name = "app";
  std::string image = "nginx:1.25";
  std::vector<std::string> command;
  std::vector<std::string> args;
  std::vector<std::pair<std::string, std::string>> env;  // literal values
};

// A Pod manifest (JSON) with these containers in spec.containers.
std::string PodJson(const std::vector<TestContainer>& containers,
                    const std::string& ns = "default");

// A parsed object and the workload that points into it.
struct ParsedWorkload {
  rapidjson::Document document;
  Workload workload;
};
// Parses JSON and extracts the workload of its `kind`; fails the test when it cannot.
std::unique_ptr<ParsedWorkload> Parse(const std::string& json);

Verdict Evaluate(const Policy& policy, const std::vector<TestContainer>& containers,
                 const std::string& ns = "default");
Verdict EvaluateDefault(const std::vector<TestContainer>& containers,
                        const std::string& ns = "default");
Verdict EvaluateDefault(const TestContainer& container);

// Everything in a verdict, one finding a line, for failure messages.
std::string Describe(const Verdict& verdict);
// The first finding of `rule_id`, or nullptr.
const Finding* FindingOf(const Verdict& verdict, const std::string& rule_id);

}  // namespace stratum_guard::policy::testing
