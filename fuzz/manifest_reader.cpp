// `stratum-guard check`'s reader on any file: YAML streams, JSON values, Lists, anchors and
// aliases, deep nesting. ParseManifest never throws; what it reads is judged with the default
// policy and reported in every output format, as `check` would.

#include "check/manifest_reader.h"

#include <cstddef>
#include <cstdint>
#include <sstream>
#include <string_view>

#include "check/check.h"
#include "check/report.h"
#include "policy/policy.h"

using namespace stratum_guard;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  static const check::Evaluator evaluate = check::EvaluatorFor(policy::Policy::Default());
  static constexpr check::Format kFormats[] = {check::Format::kAuto, check::Format::kYaml,
                                               check::Format::kJson};
  std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  check::ReadResult read;
  check::ParseManifest(text, "fuzz.yaml", kFormats[data[0] % 3], &read);
  check::Report report = check::Check(read, evaluate, "default");
  std::ostringstream out;
  check::WriteText(report, out, out);
  check::WriteSarif(report, policy::Policy::Default()->rules(), "https://example.test", out);
  check::WriteJson(report, out);
  check::WriteJunit(report, out);
  return 0;
}
