#include "check/report.h"

#include <rapidjson/ostreamwrapper.h>
#include <rapidjson/prettywriter.h>

#include <algorithm>
#include <cctype>
#include <map>

#include "common/build_info.h"

namespace stratum_guard::check {
namespace {

std::string Where(const std::string& file, int line, int column = 0) {
  std::string s = file;
  if (line > 0) {
    s += ':' + std::to_string(line);
    if (column > 0) s += ':' + std::to_string(column);
  }
  return s;
}

// "Deployment mining/xmrig" or "Deployment xmrig" when the namespace is unknown.
std::string ObjectName(const Judgement& j) {
  std::string s = j.kind.empty() ? "(no kind)" : j.kind;
  s += ' ';
  if (!j.namespace_.empty()) s += j.namespace_ + "/";
  s += j.name.empty() ? "(unnamed)" : j.name;
  return s;
}

std::string DocumentLabel(const Judgement& j) {
  std::string s = "document " + std::to_string(j.document);
  if (!j.item_path.empty()) s += " " + j.item_path;
  return s;
}

void WriteFindingLine(std::ostream& out, const Judgement& j, const policy::Finding& f, int line,
                      bool exempted) {
  out << "  " << Where(j.file, line) << ": "
      << (exempted ? std::string("exempted ") + std::string(policy::ActionName(f.action))
                   : std::string(policy::ActionName(f.action)))
      << ' ' << f.rule_id << ' ' << f.path << ": " << f.message;
  if (exempted && f.exempted_by != policy::ExemptedBy::kNone) {
    out << " (" << policy::ExemptedByName(f.exempted_by) << " exemption)";
  }
  out << '\n';
}

template <typename Writer>
void String(Writer& w, std::string_view s) {
  w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
}

template <typename Writer>
void WriteFindings(Writer& w, const std::vector<policy::Finding>& findings,
                   const std::vector<int>& lines) {
  w.StartArray();
  for (std::size_t i = 0; i < findings.size(); ++i) {
    const policy::Finding& f = findings[i];
    w.StartObject();
    w.Key("rule");
    String(w, f.rule_id);
    w.Key("action");
    String(w, policy::ActionName(f.action));
    w.Key("container");
    String(w, f.container);
    w.Key("field");
    String(w, f.field);
    w.Key("path");
    String(w, f.path);
    w.Key("line");
    w.Int(i < lines.size() ? lines[i] : 0);
    w.Key("evidence");
    String(w, f.evidence);
    w.Key("message");
    String(w, f.message);
    if (f.exempted_by != policy::ExemptedBy::kNone) {
      w.Key("exemption");
      String(w, policy::ExemptedByName(f.exempted_by));
    }
    w.EndObject();
  }
  w.EndArray();
}

// SARIF levels: deny fails the change, warn is shown, audit is informational.
std::string_view SarifLevel(policy::Action action) {
  switch (action) {
    case policy::Action::kDeny:
      return "error";
    case policy::Action::kWarn:
      return "warning";
    case policy::Action::kAudit:
      break;
  }
  return "note";
}

// A file path as SARIF's artifactLocation.uri: relative paths (what check was given, so relative
// to where it ran) stay relative, as code scanning resolves them against the checkout; absolute
// ones become file:// URIs. Bytes outside RFC 3986's unreserved set and '/' are percent-encoded.
std::string ArtifactUri(std::string_view file) {
  while (file.starts_with("./")) file.remove_prefix(2);
  std::string uri = file.starts_with('/') ? "file://" : "";
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (char ch : file) {
    const auto c = static_cast<unsigned char>(ch);
    if (std::isalnum(c) != 0 || c == '-' || c == '.' || c == '_' || c == '~' || c == '/') {
      uri += ch;
    } else {
      uri += '%';
      uri += kHex[c >> 4];
      uri += kHex[c & 0xF];
    }
  }
  return uri;
}

// SARIF's message object: {"text": ...}.
template <typename Writer>
void SarifMessage(Writer& w, std::string_view text) {
  w.Key("message");
  w.StartObject();
  w.Key("text");
  String(w, text);
  w.EndObject();
}

// SARIF's physicalLocation: the file as a relative URI, and the region when the line is known.
template <typename Writer>
void SarifPhysicalLocation(Writer& w, std::string_view file, int line, int column) {
  w.Key("physicalLocation");
  w.StartObject();
  w.Key("artifactLocation");
  w.StartObject();
  w.Key("uri");
  String(w, ArtifactUri(file));
  w.EndObject();
  if (line > 0) {
    w.Key("region");
    w.StartObject();
    w.Key("startLine");
    w.Int(line);
    if (column > 0) {
      w.Key("startColumn");
      w.Int(column);
    }
    w.EndObject();
  }
  w.EndObject();
}

// Text for XML attributes and character data. Control characters other than tab, newline and
// carriage return are not allowed in XML 1.0 even as references, so they become '?'.
std::string XmlEscape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char ch : text) {
    switch (ch) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      case '\t':
      case '\n':
      case '\r':
        out += ch;
        break;
      default:
        out += static_cast<unsigned char>(ch) < 0x20 ? '?' : ch;
    }
  }
  return out;
}

std::string FindingLine(const policy::Finding& f, int line) {
  return std::string(policy::ActionName(f.action)) + " " + f.rule_id + " " + f.path +
         (line > 0 ? " (line " + std::to_string(line) + ")" : "") + ": " + f.message;
}

}  // namespace

std::string SummaryLine(const Summary& s) {
  return std::to_string(s.judged) + " objects judged, " + std::to_string(s.denied) + " denied, " +
         std::to_string(s.warned) + " warned, " + std::to_string(s.not_judged) + " not judged, " +
         std::to_string(s.skipped) + " skipped, " + std::to_string(s.errors) + " errors";
}

void WriteText(const Report& report, std::ostream& out, std::ostream& err,
               const TextOptions& options) {
  for (const ReadError& e : report.errors) {
    err << Where(e.file, e.line, e.column) << ": error: " << e.message << '\n';
  }
  for (const ReadError& w : report.warnings) {
    err << Where(w.file, w.line, w.column) << ": warning: " << w.message << '\n';
  }
  for (const Judgement& j : report.judgements) {
    const std::string head = Where(j.file, j.line) + ": " + DocumentLabel(j) + ": ";
    switch (j.outcome) {
      case Outcome::kSkipped:
        out << head << "warning: skipped: " << j.note << '\n';
        continue;
      case Outcome::kNotJudged:
        if (!options.quiet) out << head << ObjectName(j) << ": not judged (" << j.note << ")\n";
        continue;
      case Outcome::kError:
        out << head << ObjectName(j) << ": error: " << j.note << '\n';
        continue;
      case Outcome::kAllowed:
        if (options.quiet) continue;
        break;
      case Outcome::kWarned:
      case Outcome::kDenied:
        break;
    }
    out << head << ObjectName(j) << ": " << OutcomeName(j.outcome) << '\n';
    for (std::size_t i = 0; i < j.verdict.findings.size(); ++i) {
      WriteFindingLine(out, j, j.verdict.findings[i], j.finding_lines[i], false);
    }
    for (std::size_t i = 0; i < j.verdict.exempted.size(); ++i) {
      WriteFindingLine(out, j, j.verdict.exempted[i], j.exempted_lines[i], true);
    }
  }
  out << "summary: " << report.files << (report.files == 1 ? " file, " : " files, ")
      << SummaryLine(report.Summarize()) << '\n';
}

void WriteJson(const Report& report, std::ostream& out) {
  rapidjson::OStreamWrapper stream(out);
  rapidjson::PrettyWriter<rapidjson::OStreamWrapper> w(stream);
  w.SetIndent(' ', 2);
  const Summary s = report.Summarize();
  w.StartObject();
  w.Key("version");
  w.Int(1);
  w.Key("exit_code");
  w.Int(report.ExitCode());
  w.Key("summary");
  w.StartObject();
  const std::pair<const char*, int> counts[] = {
      {"files", s.files},           {"objects", s.objects}, {"judged", s.judged},
      {"denied", s.denied},         {"warned", s.warned},   {"allowed", s.allowed},
      {"not_judged", s.not_judged}, {"skipped", s.skipped}, {"errors", s.errors}};
  for (const auto& [key, value] : counts) {
    w.Key(key);
    w.Int(value);
  }
  w.EndObject();
  w.Key("objects");
  w.StartArray();
  for (const Judgement& j : report.judgements) {
    w.StartObject();
    w.Key("file");
    String(w, j.file);
    w.Key("document");
    w.Int(j.document);
    w.Key("item");
    if (j.item_path.empty()) {
      w.Null();
    } else {
      String(w, j.item_path);
    }
    w.Key("line");
    w.Int(j.line);
    w.Key("apiVersion");
    String(w, j.api_version);
    w.Key("kind");
    String(w, j.kind);
    w.Key("namespace");
    String(w, j.namespace_);
    w.Key("name");
    String(w, j.name);
    w.Key("outcome");
    String(w, j.outcome == Outcome::kNotJudged ? "not_judged" : OutcomeName(j.outcome));
    w.Key("note");
    String(w, j.note);
    w.Key("findings");
    WriteFindings(w, j.verdict.findings, j.finding_lines);
    w.Key("exempted");
    WriteFindings(w, j.verdict.exempted, j.exempted_lines);
    w.EndObject();
  }
  w.EndArray();
  for (auto [key, list] : {std::pair{"errors", &report.errors}, {"warnings", &report.warnings}}) {
    w.Key(key);
    w.StartArray();
    for (const ReadError& e : *list) {
      w.StartObject();
      w.Key("file");
      String(w, e.file);
      w.Key("line");
      w.Int(e.line);
      w.Key("column");
      w.Int(e.column);
      w.Key("message");
      String(w, e.message);
      w.EndObject();
    }
    w.EndArray();
  }
  w.EndObject();
  stream.Flush();
  out << '\n';
}

void WriteSarif(const Report& report, const std::vector<policy::RuleInfo>& rules,
                std::string_view docs_url, std::ostream& out) {
  std::vector<policy::RuleInfo> all_rules = rules;
  std::map<std::string, int, std::less<>> rule_index;
  for (const policy::RuleInfo& rule : all_rules) {
    rule_index.emplace(rule.id, static_cast<int>(rule_index.size()));
  }
  // A finding of a rule the list lacks (a fake evaluator, a policy other than the one listed)
  // still gets a rule entry, so every result resolves.
  for (const Judgement& j : report.judgements) {
    for (const policy::Finding& f : j.verdict.findings) {
      if (rule_index.emplace(f.rule_id, static_cast<int>(rule_index.size())).second) {
        all_rules.push_back({f.rule_id, "", f.action});
      }
    }
  }
  const std::string help_base = std::string(docs_url) + "#";

  rapidjson::OStreamWrapper stream(out);
  rapidjson::PrettyWriter<rapidjson::OStreamWrapper> w(stream);
  w.SetIndent(' ', 2);
  w.StartObject();
  w.Key("$schema");
  w.String("https://json.schemastore.org/sarif-2.1.0.json");
  w.Key("version");
  w.String("2.1.0");
  w.Key("runs");
  w.StartArray();
  w.StartObject();
  w.Key("tool");
  w.StartObject();
  w.Key("driver");
  w.StartObject();
  w.Key("name");
  w.String("stratum-guard");
  w.Key("version");
  String(w, common::Version());
  w.Key("informationUri");
  w.String("https://github.com/stratum-guard/stratum-guard");
  w.Key("rules");
  w.StartArray();
  for (const policy::RuleInfo& rule : all_rules) {
    w.StartObject();
    w.Key("id");
    String(w, rule.id);
    w.Key("shortDescription");
    w.StartObject();
    w.Key("text");
    String(w, rule.description.empty() ? rule.id : rule.description);
    w.EndObject();
    w.Key("helpUri");
    String(w, help_base + rule.id);
    w.Key("defaultConfiguration");
    w.StartObject();
    w.Key("level");
    String(w, SarifLevel(rule.action));
    w.EndObject();
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();  // driver
  w.EndObject();  // tool
  w.Key("invocations");
  w.StartArray();
  w.StartObject();
  w.Key("executionSuccessful");
  w.Bool(report.errors.empty());
  w.Key("toolExecutionNotifications");
  w.StartArray();
  for (const ReadError& e : report.errors) {
    w.StartObject();
    w.Key("level");
    w.String("error");
    SarifMessage(w, e.message);
    w.Key("locations");
    w.StartArray();
    w.StartObject();
    SarifPhysicalLocation(w, e.file, e.line, e.column);
    w.EndObject();
    w.EndArray();
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  w.EndArray();  // invocations
  w.Key("results");
  w.StartArray();
  for (const Judgement& j : report.judgements) {
    for (std::size_t i = 0; i < j.verdict.findings.size(); ++i) {
      const policy::Finding& f = j.verdict.findings[i];
      const int line = i < j.finding_lines.size() ? j.finding_lines[i] : j.line;
      w.StartObject();
      w.Key("ruleId");
      String(w, f.rule_id);
      w.Key("ruleIndex");
      w.Int(rule_index.find(f.rule_id)->second);
      w.Key("level");
      String(w, SarifLevel(f.action));
      SarifMessage(w, ObjectName(j) + ": " + f.message);
      w.Key("locations");
      w.StartArray();
      w.StartObject();
      SarifPhysicalLocation(w, j.file, line, 0);
      w.Key("logicalLocations");
      w.StartArray();
      w.StartObject();
      w.Key("fullyQualifiedName");
      String(w, ObjectName(j) + " " + f.path);
      w.EndObject();
      w.EndArray();
      w.EndObject();
      w.EndArray();
      w.EndObject();
    }
  }
  w.EndArray();
  w.EndObject();
  w.EndArray();  // runs
  w.EndObject();
  stream.Flush();
  out << '\n';
}

void WriteJunit(const Report& report, std::ostream& out) {
  // Suites in reading order: the files with objects, then those that only failed to read.
  struct Suite {
    std::vector<const Judgement*> judgements;
    std::vector<const ReadError*> errors;
    int failures = 0;
    int skipped = 0;
  };
  std::vector<std::string> order;
  std::map<std::string, Suite> suites;
  auto suite = [&](const std::string& file) -> Suite& {
    auto [it, added] = suites.try_emplace(file);
    if (added) order.push_back(file);
    return it->second;
  };
  for (const Judgement& j : report.judgements) {
    Suite& s = suite(j.file);
    s.judgements.push_back(&j);
    s.failures += j.outcome == Outcome::kDenied ? 1 : 0;
    s.skipped += j.outcome == Outcome::kNotJudged || j.outcome == Outcome::kSkipped ? 1 : 0;
  }
  for (const ReadError& e : report.errors) suite(e.file).errors.push_back(&e);
  // The report does not keep the names of files without objects; an empty run still has a
  // suite, which some readers require.
  if (order.empty()) suite("stratum-guard check");

  const Summary summary = report.Summarize();
  out << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      << "<testsuites name=\"stratum-guard check\" tests=\""
      << summary.objects + static_cast<int>(report.errors.size()) << "\" failures=\""
      << summary.denied << "\" errors=\"" << report.errors.size() << "\">\n";
  for (const std::string& file : order) {
    const Suite& s = suites[file];
    const std::string name = XmlEscape(file);
    out << "  <testsuite name=\"" << name << "\" tests=\"" << s.judgements.size() + s.errors.size()
        << "\" failures=\"" << s.failures << "\" errors=\"" << s.errors.size() << "\" skipped=\""
        << s.skipped << "\">\n";
    for (const Judgement* j : s.judgements) {
      out << "    <testcase classname=\"" << name << "\" name=\""
          << XmlEscape(ObjectName(*j) + " (" + DocumentLabel(*j) + ")") << "\" file=\"" << name
          << "\" line=\"" << j->line << "\"";
      std::string failed;  // the deny findings
      std::string shown;   // warn and audit findings, for system-out
      for (std::size_t i = 0; i < j->verdict.findings.size(); ++i) {
        const policy::Finding& f = j->verdict.findings[i];
        const int line = i < j->finding_lines.size() ? j->finding_lines[i] : j->line;
        (f.action == policy::Action::kDeny ? failed : shown) += FindingLine(f, line) + "\n";
      }
      const bool skipped = j->outcome == Outcome::kNotJudged || j->outcome == Outcome::kSkipped;
      if (j->outcome != Outcome::kDenied && !skipped && shown.empty()) {
        out << "/>\n";
        continue;
      }
      out << ">\n";
      if (j->outcome == Outcome::kDenied) {
        const std::size_t denials = std::count(failed.begin(), failed.end(), '\n');
        out << "      <failure type=\"denied\" message=\""
            << XmlEscape(ObjectName(*j) + " denied: " + std::to_string(denials) +
                         (denials == 1 ? " deny finding: " : " deny findings: ") +
                         failed.substr(0, failed.find('\n')))
            << "\">" << XmlEscape(failed) << "</failure>\n";
      } else if (skipped) {
        out << "      <skipped message=\"" << XmlEscape(j->note) << "\"/>\n";
      }
      if (!shown.empty()) out << "      <system-out>" << XmlEscape(shown) << "</system-out>\n";
      out << "    </testcase>\n";
    }
    for (const ReadError* e : s.errors) {
      const std::string where = Where(e->file, e->line, e->column);
      out << "    <testcase classname=\"" << name << "\" name=\"" << XmlEscape("read " + where)
          << "\" file=\"" << name << "\" line=\"" << e->line << "\">\n"
          << "      <error type=\"read\" message=\"" << XmlEscape(where + ": " + e->message)
          << "\"/>\n"
          << "    </testcase>\n";
    }
    out << "  </testsuite>\n";
  }
  out << "</testsuites>\n";
}

}  // namespace stratum_guard::check
