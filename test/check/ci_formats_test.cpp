// `check -o sarif` and `-o junit`: each report is validated against what its consumers require,
// written down here from the published definitions (no network, no schema library): the required
// properties and types of the SARIF 2.1.0 JSON schema, and the common JUnit XML shape that
// GitLab, Jenkins and GitHub's test reporters read.
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "check/report.h"
#include "test/check/test_support.h"

namespace stratum_guard::check {
namespace {

using testing::FakeVerdict;
using testing::Parse;
using testing::RunBinary;
using testing::SourceDir;

// ---------------------------------------------------------------------------------------------
// SARIF 2.1.0: sarif-schema-2.1.0.json's required properties, types and enums for what the
// report writes (sarifLog, run, tool, toolComponent, reportingDescriptor, result, location,
// physicalLocation, artifactLocation, region, invocation, notification, message).

class SarifValidator {
 public:
  std::vector<std::string> Validate(const rapidjson::Value& log) {
    problems_.clear();
    if (!Object(log, "")) return problems_;
    if (Required(log, "", "version", &rapidjson::Value::IsString) &&
        std::string_view(log["version"].GetString()) != "2.1.0") {
      problems_.push_back("/version: must be \"2.1.0\"");
    }
    // Optional in the schema, but code scanning uploads are checked against it by its value.
    Required(log, "", "$schema", &rapidjson::Value::IsString);
    if (!Required(log, "", "runs", &rapidjson::Value::IsArray)) return problems_;
    for (rapidjson::SizeType i = 0; i < log["runs"].Size(); ++i) {
      Run(log["runs"][i], "/runs/" + std::to_string(i));
    }
    return problems_;
  }

 private:
  using Check = bool (rapidjson::Value::*)() const;

  bool Object(const rapidjson::Value& v, const std::string& at) {
    if (v.IsObject()) return true;
    problems_.push_back(at + ": must be an object");
    return false;
  }
  bool Required(const rapidjson::Value& v, const std::string& at, const char* key, Check type) {
    if (!v.HasMember(key)) {
      problems_.push_back(at + "/" + key + ": required");
      return false;
    }
    if (!(v[key].*type)()) {
      problems_.push_back(at + "/" + key + ": wrong type");
      return false;
    }
    return true;
  }
  bool Optional(const rapidjson::Value& v, const std::string& at, const char* key, Check type) {
    return v.HasMember(key) && Required(v, at, key, type);
  }
  void Level(const rapidjson::Value& v, const std::string& at) {
    static const std::set<std::string_view> kLevels = {"none", "note", "warning", "error"};
    if (Optional(v, at, "level", &rapidjson::Value::IsString) &&
        kLevels.count(v["level"].GetString()) == 0) {
      problems_.push_back(at + "/level: not one of none, note, warning, error");
    }
  }
  // message: an object with text or id (anyOf); the report always writes text.
  void Message(const rapidjson::Value& v, const std::string& at) {
    if (Required(v, at, "message", &rapidjson::Value::IsObject)) {
      Required(v["message"], at + "/message", "text", &rapidjson::Value::IsString);
    }
  }
  void Run(const rapidjson::Value& run, const std::string& at) {
    if (!Object(run, at)) return;
    if (Required(run, at, "tool", &rapidjson::Value::IsObject) &&
        Required(run["tool"], at + "/tool", "driver", &rapidjson::Value::IsObject)) {
      Driver(run["tool"]["driver"], at + "/tool/driver");
    }
    if (Optional(run, at, "invocations", &rapidjson::Value::IsArray)) {
      for (rapidjson::SizeType i = 0; i < run["invocations"].Size(); ++i) {
        const std::string here = at + "/invocations/" + std::to_string(i);
        const rapidjson::Value& inv = run["invocations"][i];
        if (!Object(inv, here)) continue;
        Required(inv, here, "executionSuccessful", &rapidjson::Value::IsBool);
        if (Optional(inv, here, "toolExecutionNotifications", &rapidjson::Value::IsArray)) {
          for (rapidjson::SizeType n = 0; n < inv["toolExecutionNotifications"].Size(); ++n) {
            const std::string note = here + "/toolExecutionNotifications/" + std::to_string(n);
            Message(inv["toolExecutionNotifications"][n], note);
            Level(inv["toolExecutionNotifications"][n], note);
            Locations(inv["toolExecutionNotifications"][n], note, false);
          }
        }
      }
    }
    // The schema makes results optional; a run that analysed something has the array.
    if (!Required(run, at, "results", &rapidjson::Value::IsArray)) return;
    for (rapidjson::SizeType i = 0; i < run["results"].Size(); ++i) {
      const std::string here = at + "/results/" + std::to_string(i);
      const rapidjson::Value& result = run["results"][i];
      if (!Object(result, here)) continue;
      Message(result, here);
      Required(result, here, "ruleId", &rapidjson::Value::IsString);
      if (Optional(result, here, "ruleIndex", &rapidjson::Value::IsInt) &&
          result["ruleIndex"].GetInt() < -1) {
        problems_.push_back(here + "/ruleIndex: minimum -1");
      }
      Level(result, here);
      Locations(result, here, true);
    }
  }
  void Driver(const rapidjson::Value& driver, const std::string& at) {
    Required(driver, at, "name", &rapidjson::Value::IsString);
    Optional(driver, at, "version", &rapidjson::Value::IsString);
    Optional(driver, at, "informationUri", &rapidjson::Value::IsString);
    if (!Optional(driver, at, "rules", &rapidjson::Value::IsArray)) return;
    std::set<std::string> ids;
    for (rapidjson::SizeType i = 0; i < driver["rules"].Size(); ++i) {
      const std::string here = at + "/rules/" + std::to_string(i);
      const rapidjson::Value& rule = driver["rules"][i];
      if (!Object(rule, here)) continue;
      if (Required(rule, here, "id", &rapidjson::Value::IsString) &&
          !ids.insert(rule["id"].GetString()).second) {
        problems_.push_back(here + "/id: duplicate");
      }
      if (Optional(rule, here, "shortDescription", &rapidjson::Value::IsObject)) {
        Required(rule["shortDescription"], here + "/shortDescription", "text",
                 &rapidjson::Value::IsString);
      }
      Optional(rule, here, "helpUri", &rapidjson::Value::IsString);
      if (Optional(rule, here, "defaultConfiguration", &rapidjson::Value::IsObject)) {
        Level(rule["defaultConfiguration"], here + "/defaultConfiguration");
      }
    }
  }
  void Locations(const rapidjson::Value& v, const std::string& at, bool required) {
    if (!(required ? Required(v, at, "locations", &rapidjson::Value::IsArray)
                   : Optional(v, at, "locations", &rapidjson::Value::IsArray))) {
      return;
    }
    for (rapidjson::SizeType i = 0; i < v["locations"].Size(); ++i) {
      const std::string here = at + "/locations/" + std::to_string(i) + "/physicalLocation";
      const rapidjson::Value& location = v["locations"][i];
      if (!Required(location, here.substr(0, here.rfind('/')), "physicalLocation",
                    &rapidjson::Value::IsObject)) {
        continue;
      }
      const rapidjson::Value& physical = location["physicalLocation"];
      if (Required(physical, here, "artifactLocation", &rapidjson::Value::IsObject) &&
          Required(physical["artifactLocation"], here + "/artifactLocation", "uri",
                   &rapidjson::Value::IsString) &&
          std::string_view(physical["artifactLocation"]["uri"].GetString()).empty()) {
        problems_.push_back(here + "/artifactLocation/uri: empty");
      }
      if (required && Required(physical, here, "region", &rapidjson::Value::IsObject) &&
          Required(physical["region"], here + "/region", "startLine", &rapidjson::Value::IsInt) &&
          physical["region"]["startLine"].GetInt() < 1) {
        problems_.push_back(here + "/region/startLine: minimum 1");
      }
    }
  }

  std::vector<std::string> problems_;
};

std::string Joined(const std::vector<std::string>& lines) {
  std::string s;
  for (const auto& line : lines) s += line + "\n";
  return s;
}

// Parses a SARIF report and asserts it is valid; the document for further checks.
rapidjson::Document ValidSarif(const std::string& text) {
  rapidjson::Document doc;
  doc.Parse(text.c_str());
  EXPECT_FALSE(doc.HasParseError()) << text;
  if (doc.HasParseError()) return doc;
  const auto problems = SarifValidator().Validate(doc);
  EXPECT_TRUE(problems.empty()) << Joined(problems) << text;
  return doc;
}

TEST(SarifValidatorTest, RejectsWhatTheSchemaForbids) {
  rapidjson::Document doc;
  doc.Parse(R"({"version": "2.0.0", "runs": [{"tool": {"driver": {"rules": [{"id": "a",
      "defaultConfiguration": {"level": "fatal"}}, {"id": "a"}]}}, "results": [{"ruleId": 3,
      "message": {}, "level": "warn", "locations": [{"physicalLocation": {"artifactLocation":
      {"uri": ""}, "region": {"startLine": 0}}}]}, {"message": {"text": "x"}}]}]})");
  ASSERT_FALSE(doc.HasParseError());
  const std::string problems = Joined(SarifValidator().Validate(doc));
  for (const char* expected : {
           "/version: must be \"2.1.0\"",
           "/$schema: required",
           "/runs/0/tool/driver/name: required",
           "/runs/0/tool/driver/rules/0/defaultConfiguration/level: not one of",
           "/runs/0/tool/driver/rules/1/id: duplicate",
           "/runs/0/results/0/message/text: required",
           "/runs/0/results/0/ruleId: wrong type",
           "/runs/0/results/0/level: not one of",
           "/runs/0/results/0/locations/0/physicalLocation/artifactLocation/uri: empty",
           "/runs/0/results/0/locations/0/physicalLocation/region/startLine: minimum 1",
           "/runs/0/results/1/ruleId: required",
           "/runs/0/results/1/locations: required",
       }) {
    EXPECT_NE(problems.find(expected), std::string::npos) << expected << "\n" << problems;
  }
}

// ---------------------------------------------------------------------------------------------
// JUnit XML: a minimal parser (elements, attributes, character data, the five predefined
// entities and character references; no DTD) that rejects what an XML parser rejects in the
// report's output: unescaped markup characters, mismatched tags, control characters.

struct XmlElement {
  std::string name;
  std::map<std::string, std::string> attributes;
  std::vector<XmlElement> children;
  std::string text;

  const XmlElement* Child(std::string_view child) const {
    for (const auto& c : children) {
      if (c.name == child) return &c;
    }
    return nullptr;
  }
  std::vector<const XmlElement*> All(std::string_view child) const {
    std::vector<const XmlElement*> out;
    for (const auto& c : children) {
      if (c.name == child) out.push_back(&c);
    }
    return out;
  }
  std::string Attr(const std::string& key) const {
    auto it = attributes.find(key);
    return it == attributes.end() ? "" : it->second;
  }
};

class XmlParser {
 public:
  explicit XmlParser(std::string_view text) : s_(text) {}

  std::optional<XmlElement> Document(std::string* error) {
    if (s_.starts_with("<?xml")) {
      const std::size_t end = s_.find("?>");
      if (end == std::string_view::npos) return Fail("unterminated XML declaration", error);
      pos_ = end + 2;
    }
    SkipSpace();
    XmlElement root;
    if (!Element(&root)) return Fail(error_, error);
    SkipSpace();
    if (pos_ != s_.size()) return Fail("content after the root element", error);
    return root;
  }

 private:
  std::optional<XmlElement> Fail(const std::string& what, std::string* error) {
    *error = what + " at byte " + std::to_string(pos_);
    return std::nullopt;
  }
  bool Error(std::string what) {
    if (error_.empty()) error_ = std::move(what);
    return false;
  }
  void SkipSpace() {
    while (pos_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[pos_]))) ++pos_;
  }
  std::string Name() {
    const std::size_t start = pos_;
    while (pos_ < s_.size() && (std::isalnum(static_cast<unsigned char>(s_[pos_])) ||
                                s_[pos_] == '-' || s_[pos_] == '_' || s_[pos_] == ':')) {
      ++pos_;
    }
    return std::string(s_.substr(start, pos_ - start));
  }
  // Character data up to `stop`, with references decoded.
  bool Chars(char stop, std::string* out) {
    while (pos_ < s_.size() && s_[pos_] != stop) {
      const char c = s_[pos_];
      if (c == '<') return Error("'<' in character data or an attribute");
      if (static_cast<unsigned char>(c) < 0x20 && c != '\t' && c != '\n' && c != '\r') {
        return Error("a control character");
      }
      if (c != '&') {
        *out += c;
        ++pos_;
        continue;
      }
      const std::size_t semi = s_.find(';', pos_);
      if (semi == std::string_view::npos) return Error("'&' without ';'");
      const std::string_view ref = s_.substr(pos_ + 1, semi - pos_ - 1);
      static const std::map<std::string_view, char> kEntities = {
          {"amp", '&'}, {"lt", '<'}, {"gt", '>'}, {"quot", '"'}, {"apos", '\''}};
      if (auto it = kEntities.find(ref); it != kEntities.end()) {
        *out += it->second;
      } else if (ref.starts_with('#') && ref.size() > 1) {
        const unsigned long code = std::stoul(std::string(ref.substr(ref[1] == 'x' ? 2 : 1)),
                                              nullptr, ref[1] == 'x' ? 16 : 10);
        if (code > 0x7F) return Error("a non-ASCII character reference (not needed here)");
        *out += static_cast<char>(code);
      } else {
        return Error("unknown entity &" + std::string(ref) + ";");
      }
      pos_ = semi + 1;
    }
    return true;
  }
  bool Element(XmlElement* element) {
    if (pos_ >= s_.size() || s_[pos_] != '<') return Error("expected '<'");
    ++pos_;
    element->name = Name();
    if (element->name.empty()) return Error("an element without a name");
    while (true) {
      SkipSpace();
      if (pos_ >= s_.size()) return Error("unterminated start tag");
      if (s_.substr(pos_, 2) == "/>") {
        pos_ += 2;
        return true;
      }
      if (s_[pos_] == '>') {
        ++pos_;
        break;
      }
      const std::string key = Name();
      if (key.empty() || pos_ + 1 >= s_.size() || s_[pos_] != '=' || s_[pos_ + 1] != '"') {
        return Error("a malformed attribute in <" + element->name + ">");
      }
      pos_ += 2;
      std::string value;
      if (!Chars('"', &value)) return false;
      if (pos_ >= s_.size()) return Error("unterminated attribute value");
      ++pos_;
      if (!element->attributes.emplace(key, value).second) return Error("duplicate " + key);
    }
    while (true) {
      if (!Chars('<', &element->text)) return false;
      if (pos_ >= s_.size()) return Error("</" + element->name + "> missing");
      if (s_.substr(pos_, 2) == "</") {
        pos_ += 2;
        if (Name() != element->name) return Error("mismatched end tag for " + element->name);
        SkipSpace();
        if (pos_ >= s_.size() || s_[pos_] != '>') return Error("malformed end tag");
        ++pos_;
        return true;
      }
      element->children.emplace_back();
      if (!Element(&element->children.back())) return false;
    }
  }

  std::string_view s_;
  std::size_t pos_ = 0;
  std::string error_;
};

// The common JUnit shape: testsuites > testsuite(name, tests, failures) > testcase(name,
// classname) > failure(message); the counts agree with the elements.
std::vector<std::string> JunitShapeProblems(const XmlElement& root) {
  std::vector<std::string> problems;
  if (root.name != "testsuites") problems.push_back("the root is <" + root.name + ">");
  int all_tests = 0;
  int all_failures = 0;
  for (const XmlElement& suite : root.children) {
    if (suite.name != "testsuite") {
      problems.push_back("<" + suite.name + "> inside <testsuites>");
      continue;
    }
    for (const char* required : {"name", "tests", "failures"}) {
      if (suite.attributes.count(required) == 0) {
        problems.push_back("a testsuite without " + std::string(required));
      }
    }
    int failures = 0;
    int errors = 0;
    for (const XmlElement* test : suite.All("testcase")) {
      if (test->Attr("name").empty() || test->Attr("classname").empty()) {
        problems.push_back("a testcase without name or classname in " + suite.Attr("name"));
      }
      if (const XmlElement* failure = test->Child("failure")) {
        ++failures;
        if (failure->attributes.count("message") == 0) problems.push_back("failure: no message");
      }
      errors += test->Child("error") != nullptr ? 1 : 0;
    }
    const int tests = static_cast<int>(suite.All("testcase").size());
    if (suite.Attr("tests") != std::to_string(tests)) {
      problems.push_back(suite.Attr("name") + ": tests=" + suite.Attr("tests") + " but " +
                         std::to_string(tests) + " testcases");
    }
    if (suite.Attr("failures") != std::to_string(failures)) {
      problems.push_back(suite.Attr("name") + ": failures=" + suite.Attr("failures") + " but " +
                         std::to_string(failures) + " failed testcases");
    }
    if (suite.attributes.count("errors") > 0 && suite.Attr("errors") != std::to_string(errors)) {
      problems.push_back(suite.Attr("name") + ": errors=" + suite.Attr("errors"));
    }
    all_tests += tests;
    all_failures += failures;
  }
  if (root.attributes.count("tests") > 0 && root.Attr("tests") != std::to_string(all_tests)) {
    problems.push_back("testsuites: tests=" + root.Attr("tests"));
  }
  if (root.attributes.count("failures") > 0 &&
      root.Attr("failures") != std::to_string(all_failures)) {
    problems.push_back("testsuites: failures=" + root.Attr("failures"));
  }
  return problems;
}

XmlElement ValidJunit(const std::string& text) {
  std::string error;
  auto root = XmlParser(text).Document(&error);
  EXPECT_TRUE(root.has_value()) << error << "\n" << text;
  if (!root.has_value()) return {};
  const auto problems = JunitShapeProblems(*root);
  EXPECT_TRUE(problems.empty()) << Joined(problems) << text;
  return *root;
}

TEST(JunitValidatorTest, RejectsMalformedXml) {
  for (const char* bad : {
           "<testsuites><testsuite name=\"a&b\" tests=\"0\" failures=\"0\"/></testsuites>",
           "<testsuites><testsuite name=\"a<b\" tests=\"0\" failures=\"0\"/></testsuites>",
           "<testsuites><testsuite name=\"a\" tests=\"0\" failures=\"0\"></testsuites>",
           "<testsuites>\x01</testsuites>",
           "<testsuites></testsuites><x/>",
           "<testsuites a=\"1\" a=\"2\"></testsuites>",
       }) {
    std::string error;
    EXPECT_FALSE(XmlParser(bad).Document(&error).has_value()) << bad;
    EXPECT_FALSE(error.empty()) << bad;
  }
}

TEST(JunitValidatorTest, RejectsTheWrongShape) {
  std::string error;
  auto root = XmlParser(
                  "<testsuites tests=\"3\" failures=\"0\"><testsuite name=\"f\" tests=\"2\" "
                  "failures=\"0\"><testcase name=\"x\"><failure/></testcase></testsuite>"
                  "<testsuite tests=\"0\" failures=\"0\"/><testcase/></testsuites>")
                  .Document(&error);
  ASSERT_TRUE(root.has_value()) << error;
  const std::string problems = Joined(JunitShapeProblems(*root));
  for (const char* expected : {"a testcase without name or classname in f", "failure: no message",
                               "f: tests=2 but 1 testcases", "f: failures=0 but 1 failed testcases",
                               "a testsuite without name", "<testcase> inside <testsuites>",
                               "testsuites: tests=3", "testsuites: failures=0"}) {
    EXPECT_NE(problems.find(expected), std::string::npos) << expected << "\n" << problems;
  }
}

// ---------------------------------------------------------------------------------------------
// The reports.

// Two denied Deployments, a warned and an audited Pod, a Service, a document that is no object.
constexpr char kManifest[] =
    "apiVersion: apps/v1\n"                                       // 1
    "kind: Deployment\n"                                          // 2
    "metadata: {name: miner, namespace: mining}\n"                // 3
    "spec:\n"                                                     // 4
    "  template:\n"                                               // 5
    "    spec:\n"                                                 // 6
    "      containers:\n"                                         // 7
    "      - name: xmrig\n"                                       // 8
    "        image: xmrig/xmrig\n"                                // 9
    "      - name: helper\n"                                      // 10
    "        image: xmrig/proxy\n"                                // 11
    "---\n"                                                       // 12
    "kind: Deployment\n"                                          // 13
    "metadata: {name: second}\n"                                  // 14
    "spec: {template: {spec: {containers: [{image: xmrig}]}}}\n"  // 15
    "---\n"                                                       // 16
    "kind: Pod\n"                                                 // 17
    "metadata: {name: maybe}\n"                                   // 18
    "spec: {containers: [{name: m, image: warnme}]}\n"            // 19
    "---\n"                                                       // 20
    "kind: Pod\n"                                                 // 21
    "metadata: {name: quiet}\n"                                   // 22
    "spec: {containers: [{name: q, image: auditme}]}\n"           // 23
    "---\n"                                                       // 24
    "kind: Service\n"                                             // 25
    "metadata: {name: web}\n"                                     // 26
    "---\n"                                                       // 27
    "metadata: {name: nokind}\n";                                 // 28

// FakeVerdict plus an audit finding for images containing "auditme".
policy::Verdict WithAudit(const policy::Workload& workload) {
  policy::Verdict verdict = FakeVerdict(workload);
  for (const policy::Container& c : workload.containers) {
    if (c.image.find("auditme") == std::string_view::npos) continue;
    policy::Finding f;
    f.rule_id = "fake-audit";
    f.action = policy::Action::kAudit;
    f.container = std::string(c.name);
    f.path = c.path + ".image";
    f.message = "container \"" + f.container + "\" image audited";
    verdict.findings.push_back(std::move(f));
  }
  return verdict;
}

Report ManifestReport(const std::string& text = kManifest, const std::string& file = "m.yaml") {
  ReadResult read = Parse(text, file);
  read.files = 1;
  return Check(read, WithAudit);
}

const std::vector<policy::RuleInfo> kRules = {
    {"fake-miner-image", "Known miner image", policy::Action::kDeny},
    {"fake-watch", "Only watched", policy::Action::kAudit},
};
constexpr std::string_view kDocs = "https://docs.example/POLICY.md";

std::string Sarif(const Report& report) {
  std::ostringstream out;
  WriteSarif(report, kRules, kDocs, out);
  return out.str();
}

std::string Junit(const Report& report) {
  std::ostringstream out;
  WriteJunit(report, out);
  return out.str();
}

TEST(SarifTest, OneRunWithTheDriverAndItsRules) {
  const rapidjson::Document doc = ValidSarif(Sarif(ManifestReport()));
  ASSERT_EQ(doc["runs"].Size(), 1u);
  EXPECT_STREQ(doc["$schema"].GetString(), "https://json.schemastore.org/sarif-2.1.0.json");
  const auto& driver = doc["runs"][0]["tool"]["driver"];
  EXPECT_STREQ(driver["name"].GetString(), "stratum-guard");
  EXPECT_FALSE(std::string_view(driver["version"].GetString()).empty());
  EXPECT_STREQ(driver["informationUri"].GetString(),
               "https://github.com/stratum-guard/stratum-guard");
  // The policy's rules in order, then the rules findings name that the policy lacks.
  std::vector<std::string> ids;
  for (const auto& rule : driver["rules"].GetArray()) ids.push_back(rule["id"].GetString());
  EXPECT_EQ(ids, (std::vector<std::string>{"fake-miner-image", "fake-watch", "fake-warning",
                                           "fake-audit"}));
  const auto& first = driver["rules"][0];
  EXPECT_STREQ(first["shortDescription"]["text"].GetString(), "Known miner image");
  EXPECT_STREQ(first["helpUri"].GetString(), "https://docs.example/POLICY.md#fake-miner-image");
  EXPECT_STREQ(first["defaultConfiguration"]["level"].GetString(), "error");
  EXPECT_STREQ(driver["rules"][1]["defaultConfiguration"]["level"].GetString(), "note");
  EXPECT_STREQ(driver["rules"][2]["defaultConfiguration"]["level"].GetString(), "warning");
  EXPECT_STREQ(driver["rules"][2]["helpUri"].GetString(),
               "https://docs.example/POLICY.md#fake-warning");
  EXPECT_TRUE(doc["runs"][0]["invocations"][0]["executionSuccessful"].GetBool());
}

TEST(SarifTest, AResultPerFindingWithItsLevelFileAndLine) {
  const rapidjson::Document doc = ValidSarif(Sarif(ManifestReport()));
  const auto& results = doc["runs"][0]["results"];
  struct Expected {
    const char* rule;
    int index;
    const char* level;
    int line;
    const char* message;
  };
  const Expected expected[] = {
      {"fake-miner-image", 0, "error", 9,
       "Deployment mining/miner: container \"xmrig\" image \"xmrig/xmrig\""},
      {"fake-miner-image", 0, "error", 11,
       "Deployment mining/miner: container \"helper\" image \"xmrig/proxy\""},
      {"fake-miner-image", 0, "error", 15, "Deployment second: container \"\" image \"xmrig\""},
      {"fake-warning", 2, "warning", 19, "Pod maybe: container \"m\" image \"warnme\""},
      {"fake-audit", 3, "note", 23, "Pod quiet: container \"q\" image audited"},
  };
  ASSERT_EQ(results.Size(), std::size(expected));
  for (rapidjson::SizeType i = 0; i < results.Size(); ++i) {
    const auto& r = results[i];
    EXPECT_STREQ(r["ruleId"].GetString(), expected[i].rule) << i;
    EXPECT_EQ(r["ruleIndex"].GetInt(), expected[i].index) << i;
    EXPECT_STREQ(r["level"].GetString(), expected[i].level) << i;
    EXPECT_STREQ(r["message"]["text"].GetString(), expected[i].message) << i;
    ASSERT_EQ(r["locations"].Size(), 1u);
    const auto& physical = r["locations"][0]["physicalLocation"];
    EXPECT_STREQ(physical["artifactLocation"]["uri"].GetString(), "m.yaml") << i;
    EXPECT_EQ(physical["region"]["startLine"].GetInt(), expected[i].line) << i;
  }
}

TEST(SarifTest, NoObjectsIsAValidRunWithoutResults) {
  const rapidjson::Document doc = ValidSarif(Sarif(ManifestReport("", "empty.yaml")));
  EXPECT_EQ(doc["runs"][0]["results"].Size(), 0u);
  EXPECT_TRUE(doc["runs"][0]["invocations"][0]["executionSuccessful"].GetBool());
}

TEST(SarifTest, ReadErrorsAreNotificationsOfAFailedInvocation) {
  Report report = ManifestReport();
  report.errors.push_back({"broken.yaml", 4, 7, "YAML: end of map not found"});
  report.errors.push_back({"gone.yaml", 0, 0, "No such file or directory"});
  const rapidjson::Document doc = ValidSarif(Sarif(report));
  const auto& invocation = doc["runs"][0]["invocations"][0];
  EXPECT_FALSE(invocation["executionSuccessful"].GetBool());
  const auto& notes = invocation["toolExecutionNotifications"];
  ASSERT_EQ(notes.Size(), 2u);
  EXPECT_STREQ(notes[0]["level"].GetString(), "error");
  EXPECT_STREQ(notes[0]["message"]["text"].GetString(), "YAML: end of map not found");
  const auto& where = notes[0]["locations"][0]["physicalLocation"];
  EXPECT_STREQ(where["artifactLocation"]["uri"].GetString(), "broken.yaml");
  EXPECT_EQ(where["region"]["startLine"].GetInt(), 4);
  EXPECT_EQ(where["region"]["startColumn"].GetInt(), 7);
  EXPECT_FALSE(notes[1]["locations"][0]["physicalLocation"].HasMember("region"))
      << "no line is known for a missing file";
}

TEST(SarifTest, ArtifactUrisAreRelativeAndPercentEncoded) {
  const std::pair<const char*, const char*> cases[] = {
      {"./deploy/app one.yaml", "deploy/app%20one.yaml"},
      {"deploy/x#1%.yaml", "deploy/x%231%25.yaml"},
      {"/srv/repo/a.yaml", "file:///srv/repo/a.yaml"},
      {"d\xC3\xA9ploi.yaml", "d%C3%A9ploi.yaml"},
  };
  for (const auto& [file, uri] : cases) {
    const rapidjson::Document doc = ValidSarif(Sarif(ManifestReport(kManifest, file)));
    EXPECT_STREQ(
        doc["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
            .GetString(),
        uri)
        << file;
  }
}

TEST(SarifTest, HostileNamesStayIntactInValidJson) {
  const rapidjson::Document doc = ValidSarif(
      Sarif(ManifestReport("kind: Pod\nmetadata: {name: \"a\\\"b&c<d>'e\", namespace: \"n&s\"}\n"
                           "spec: {containers: [{name: \"<c>\", image: xmrig}]}\n")));
  EXPECT_STREQ(doc["runs"][0]["results"][0]["message"]["text"].GetString(),
               "Pod n&s/a\"b&c<d>'e: container \"<c>\" image \"xmrig\"");
}

TEST(JunitTest, ASuitePerFileACasePerObjectFailedWhenDenied) {
  const XmlElement root = ValidJunit(Junit(ManifestReport()));
  EXPECT_EQ(root.Attr("tests"), "6");
  EXPECT_EQ(root.Attr("failures"), "2");
  ASSERT_EQ(root.children.size(), 1u);
  const XmlElement& suite = root.children[0];
  EXPECT_EQ(suite.Attr("name"), "m.yaml");
  EXPECT_EQ(suite.Attr("skipped"), "2");
  const auto cases = suite.All("testcase");
  ASSERT_EQ(cases.size(), 6u);
  for (const XmlElement* c : cases) EXPECT_EQ(c->Attr("classname"), "m.yaml");
  EXPECT_EQ(cases[0]->Attr("name"), "Deployment mining/miner (document 0)");
  EXPECT_EQ(cases[0]->Attr("line"), "1");
  const XmlElement* failure = cases[0]->Child("failure");
  ASSERT_NE(failure, nullptr);
  EXPECT_EQ(failure->Attr("message"),
            "Deployment mining/miner denied: 2 deny findings: deny fake-miner-image "
            "spec.template.spec.containers[0].image (line 9): container \"xmrig\" image "
            "\"xmrig/xmrig\"");
  EXPECT_EQ(failure->text,
            "deny fake-miner-image spec.template.spec.containers[0].image (line 9): container "
            "\"xmrig\" image \"xmrig/xmrig\"\n"
            "deny fake-miner-image spec.template.spec.containers[1].image (line 11): container "
            "\"helper\" image \"xmrig/proxy\"\n");
  EXPECT_EQ(cases[1]->Attr("name"), "Deployment second (document 1)");
  ASSERT_NE(cases[1]->Child("failure"), nullptr);
  EXPECT_EQ(cases[1]->Child("failure")->Attr("message").find("1 deny finding: "),
            std::string("Deployment second denied: ").size());

  // Warned and audited objects pass, their findings on system-out.
  EXPECT_EQ(cases[2]->Child("failure"), nullptr);
  ASSERT_NE(cases[2]->Child("system-out"), nullptr);
  EXPECT_EQ(cases[2]->Child("system-out")->text,
            "warn fake-warning spec.containers[0].image (line 19): container \"m\" image "
            "\"warnme\"\n");
  ASSERT_NE(cases[3]->Child("system-out"), nullptr);
  EXPECT_NE(cases[3]->Child("system-out")->text.find("audit fake-audit"), std::string::npos);

  ASSERT_NE(cases[4]->Child("skipped"), nullptr);
  EXPECT_EQ(cases[4]->Attr("name"), "Service web (document 4)");
  EXPECT_EQ(cases[4]->Child("skipped")->Attr("message"), "Service carries no pod template");
  ASSERT_NE(cases[5]->Child("skipped"), nullptr);
  EXPECT_EQ(cases[5]->Child("skipped")->Attr("message"), "no kind: not a Kubernetes object");
}

TEST(JunitTest, AllowedObjectsAreBarePassingCases) {
  const XmlElement root =
      ValidJunit(Junit(ManifestReport("kind: Pod\nmetadata: {name: ok}\n"
                                      "spec: {containers: [{name: a, image: nginx}]}\n")));
  const auto cases = root.children.at(0).All("testcase");
  ASSERT_EQ(cases.size(), 1u);
  EXPECT_TRUE(cases[0]->children.empty());
}

TEST(JunitTest, NoObjectsIsOneEmptySuite) {
  const XmlElement root = ValidJunit(Junit(ManifestReport("", "empty.yaml")));
  EXPECT_EQ(root.Attr("tests"), "0");
  ASSERT_EQ(root.children.size(), 1u);
  EXPECT_EQ(root.children[0].Attr("name"), "stratum-guard check");
  EXPECT_EQ(root.children[0].Attr("tests"), "0");
  EXPECT_TRUE(root.children[0].children.empty());
}

TEST(JunitTest, ReadErrorsAreErroredCasesInTheirFilesSuite) {
  Report report = ManifestReport();
  report.errors.push_back({"m.yaml", 30, 2, "YAML: bad indentation"});
  report.errors.push_back({"gone.yaml", 0, 0, "No such file or directory"});
  const XmlElement root = ValidJunit(Junit(report));
  EXPECT_EQ(root.Attr("errors"), "2");
  ASSERT_EQ(root.children.size(), 2u);
  const auto in_file = root.children[0].All("testcase");
  ASSERT_EQ(in_file.size(), 7u);
  ASSERT_NE(in_file[6]->Child("error"), nullptr);
  EXPECT_EQ(in_file[6]->Child("error")->Attr("message"), "m.yaml:30:2: YAML: bad indentation");
  EXPECT_EQ(root.children[1].Attr("name"), "gone.yaml");
  EXPECT_EQ(root.children[1].Attr("errors"), "1");
  ASSERT_EQ(root.children[1].All("testcase").size(), 1u);
  EXPECT_EQ(root.children[1].All("testcase")[0]->Attr("name"), "read gone.yaml");
}

TEST(JunitTest, HostileNamesAreEscapedAndReadBackIntact) {
  const std::string file = "x\"&<y>'.yaml";
  const XmlElement root = ValidJunit(Junit(
      ManifestReport("kind: Pod\nmetadata: {name: \"a\\\"b&c<d>'e\\u0001\", namespace: \"n&s\"}\n"
                     "spec: {containers: [{name: \"<c>&\", image: xmrig}]}\n",
                     file)));
  const XmlElement& suite = root.children.at(0);
  EXPECT_EQ(suite.Attr("name"), file);
  const XmlElement* test = suite.All("testcase").at(0);
  EXPECT_EQ(test->Attr("classname"), file);
  // XML 1.0 cannot carry U+0001 at all, even as a reference.
  EXPECT_EQ(test->Attr("name"), "Pod n&s/a\"b&c<d>'e? (document 0)");
  ASSERT_NE(test->Child("failure"), nullptr);
  EXPECT_NE(test->Child("failure")->text.find("container \"<c>&\" image \"xmrig\""),
            std::string::npos)
      << test->Child("failure")->text;
}

// ---------------------------------------------------------------------------------------------
// The binary with the default policy.

std::string Example(const std::string& name) { return (SourceDir() / "examples" / name).string(); }

TEST(CiFormatsCliTest, SarifOfTheMinerExample) {
  auto r = RunBinary({"check", "-o", "sarif", Example("miner-deployment.yaml")});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  const rapidjson::Document doc = ValidSarif(r.out);
  ASSERT_TRUE(doc.IsObject());
  const auto& run = doc["runs"][0];
  EXPECT_GE(run["tool"]["driver"]["rules"].Size(), 6u) << "every rule of the default policy";
  bool stratum_url = false;
  for (const auto& result : run["results"].GetArray()) {
    if (std::string_view(result["ruleId"].GetString()) != "stratum-url") continue;
    stratum_url = true;
    EXPECT_STREQ(result["level"].GetString(), "error");
    const auto& physical = result["locations"][0]["physicalLocation"];
    EXPECT_EQ(physical["region"]["startLine"].GetInt(), 25);
    EXPECT_TRUE(std::string_view(physical["artifactLocation"]["uri"].GetString())
                    .starts_with("file:///" + Example("miner-deployment.yaml").substr(1)))
        << "an absolute path given stays absolute";
    const auto& rule = run["tool"]["driver"]["rules"][result["ruleIndex"].GetInt()];
    EXPECT_STREQ(rule["id"].GetString(), "stratum-url");
    EXPECT_STREQ(rule["helpUri"].GetString(),
                 "https://github.com/stratum-guard/stratum-guard/blob/main/docs/"
                 "POLICY.md#stratum-url");
  }
  EXPECT_TRUE(stratum_url) << r.out;
}

TEST(CiFormatsCliTest, DocsUrlSetsTheRulesHelp) {
  auto r = RunBinary({"check", "-o", "sarif", "--docs-url", "https://wiki.example/miners",
                      Example("benign-deployment.yaml")});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  const rapidjson::Document doc = ValidSarif(r.out);
  ASSERT_TRUE(doc.IsObject());
  EXPECT_EQ(doc["runs"][0]["results"].Size(), 0u);
  const auto& rule = doc["runs"][0]["tool"]["driver"]["rules"][0];
  EXPECT_EQ(std::string(rule["helpUri"].GetString()),
            std::string("https://wiki.example/miners#") + rule["id"].GetString());
}

TEST(CiFormatsCliTest, JunitOfTheExamples) {
  auto r = RunBinary({"check", "-o", "junit", Example("miner-deployment.yaml"),
                      Example("benign-deployment.yaml")});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  const XmlElement root = ValidJunit(r.out);
  EXPECT_EQ(root.Attr("tests"), "2");
  EXPECT_EQ(root.Attr("failures"), "1");
  ASSERT_EQ(root.children.size(), 2u);
  const XmlElement* miner = root.children[0].All("testcase").at(0);
  EXPECT_EQ(miner->Attr("name"), "Deployment mining/xmrig (document 0)");
  ASSERT_NE(miner->Child("failure"), nullptr);
  EXPECT_NE(miner->Child("failure")->text.find("deny stratum-url"), std::string::npos);
  EXPECT_EQ(root.children[1].All("testcase").at(0)->Child("failure"), nullptr);
}

TEST(CiFormatsCliTest, UnreadablePathInJunitIsAnErrorCaseAndExitsTwo) {
  auto r = RunBinary({"check", "-o", "junit", "/nonexistent/stratum-guard.yaml"});
  EXPECT_EQ(r.exit_code, 2);
  const XmlElement root = ValidJunit(r.out);
  EXPECT_EQ(root.Attr("errors"), "1");
}

}  // namespace
}  // namespace stratum_guard::check
