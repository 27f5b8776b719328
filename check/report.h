#pragma once

#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "check/check.h"
#include "policy/policy.h"

namespace stratum_guard::check {

struct TextOptions {
  bool quiet = false;  // print only denied and warned objects, errors, warnings and the summary
};

// The human report, one line per object and one per finding, each starting with FILE:LINE: so
// editors and CI annotations can jump to it. Read and parse errors go to `err`, the rest to `out`.
// The last line of `out` is the summary. Layout: docs/CHECK.md.
void WriteText(const Report& report, std::ostream& out, std::ostream& err,
               const TextOptions& options = {});

// The machine report: one JSON object on `out` (schema in docs/CHECK.md, "version": 1).
void WriteJson(const Report& report, std::ostream& out);

// SARIF 2.1.0 for code scanning (GitHub, GitLab): one run; the driver lists `rules` (and any rule
// a finding names that the list lacks) with `docs_url#<rule-id>` as help; one result per finding
// (exempted ones are left out) at its file, as given on the command line, and line. Read errors
// are the invocation's notifications. Layout: docs/CHECK.md.
void WriteSarif(const Report& report, const std::vector<policy::RuleInfo>& rules,
                std::string_view docs_url, std::ostream& out);

// JUnit XML for CI test reports: a test suite per file, a test case per object, failed when
// denied, skipped when not judged, an error for each read error of the file. Layout:
// docs/CHECK.md.
void WriteJunit(const Report& report, std::ostream& out);

// "3 objects judged, 1 denied, 0 warned, 2 not judged, 0 skipped, 0 errors"
std::string SummaryLine(const Summary& summary);

}  // namespace stratum_guard::check
