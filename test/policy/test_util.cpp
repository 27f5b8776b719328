#include "test/policy/test_util.h"

#include <gtest/gtest.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace stratum_guard::policy::testing {

std::string PodJson(const std::vector<TestContainer>& containers, const std::string& ns) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> w(buffer);
  w.StartObject();
  w.Key("apiVersion");
  w.String("v1");
  w.Key("kind");
  w.String("Pod");
  w.Key("metadata");
  w.StartObject();
  w.Key("name");
  w.String("test");
  w.Key("namespace");
  w.String(ns.c_str());
  w.EndObject();
  w.Key("spec");
  w.StartObject();
  w.Key("containers");
  w.StartArray();
  for (const TestContainer& c : containers) {
    w.StartObject();
    w.Key("name");
    w.String(c.name.c_str());
    w.Key("image");
    w.String(c.image.c_str());
    if (!c.command.empty()) {
      w.Key("command");
      w.StartArray();
      for (const std::string& s : c.command)
        w.String(s.c_str(), static_cast<rapidjson::SizeType>(s.size()));
      w.EndArray();
    }
    if (!c.args.empty()) {
      w.Key("args");
      w.StartArray();
      for (const std::string& s : c.args)
        w.String(s.c_str(), static_cast<rapidjson::SizeType>(s.size()));
      w.EndArray();
    }
    if (!c.env.empty()) {
      w.Key("env");
      w.StartArray();
      for (const auto& [name, value] : c.env) {
        w.StartObject();
        w.Key("name");
        w.String(name.c_str());
        w.Key("value");
        w.String(value.c_str(), static_cast<rapidjson::SizeType>(value.size()));
        w.EndObject();
      }
      w.EndArray();
    }
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  w.EndObject();
  return buffer.GetString();
}

std::unique_ptr<ParsedWorkload> Parse(const std::string& json) {
  auto parsed = std::make_unique<ParsedWorkload>();
  parsed->document.Parse(json.c_str(), json.size());
  EXPECT_FALSE(parsed->document.HasParseError()) << json;
  std::string_view kind;
  if (parsed->document.IsObject() && parsed->document.HasMember("kind") &&
      parsed->document["kind"].IsString()) {
    kind = parsed->document["kind"].GetString();
  }
  auto workload = ExtractWorkload(kind, parsed->document);
  EXPECT_TRUE(workload.has_value()) << json;
  if (workload) parsed->workload = std::move(*workload);
  return parsed;
}

Verdict Evaluate(const Policy& policy, const std::vector<TestContainer>& containers,
                 const std::string& ns) {
  auto parsed = Parse(PodJson(containers, ns));
  return policy.Evaluate(parsed->workload);
}

Verdict EvaluateDefault(const std::vector<TestContainer>& containers, const std::string& ns) {
  return Evaluate(*Policy::Default(), containers, ns);
}

Verdict EvaluateDefault(const TestContainer& container) {
  return EvaluateDefault(std::vector<TestContainer>{container});
}

std::string Describe(const Verdict& verdict) {
  std::string out;
  for (const Finding& f : verdict.findings) {
    out += std::string(ActionName(f.action)) + " " + f.rule_id + " " + f.path + " [" + f.evidence +
           "] " + f.message + "\n";
  }
  for (const Finding& f : verdict.exempted) {
    out += "exempted " + f.rule_id + " " + f.path + " " + f.message + "\n";
  }
  return out.empty() ? "(no findings)" : out;
}

const Finding* FindingOf(const Verdict& verdict, const std::string& rule_id) {
  for (const Finding& f : verdict.findings) {
    if (f.rule_id == rule_id) return &f;
  }
  return nullptr;
}

}  // namespace stratum_guard::policy::testing
