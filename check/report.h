#pragma once

#include <ostream>
#include <string>

#include "check/check.h"

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

// "3 objects judged, 1 denied, 0 warned, 2 not judged, 0 skipped, 0 errors"
std::string SummaryLine(const Summary& summary);

}  // namespace stratum_guard::check
