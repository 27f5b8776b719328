#include "check/report.h"

#include <rapidjson/ostreamwrapper.h>
#include <rapidjson/prettywriter.h>

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
  w.Key("errors");
  w.StartArray();
  for (const ReadError& e : report.errors) {
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
  w.EndObject();
  stream.Flush();
  out << '\n';
}

}  // namespace stratum_guard::check
