// The webhook's body path on hostile bytes: ParseJsonInPlace (UTF-8, NUL and depth checks),
// DecodeAdmissionReview, Judge (workload extraction and evaluation with the default policy,
// under each enforcement mode) and EncodeAdmissionResponse. The first byte picks the mode, so
// the corpus's reviews are judged under all three.

#include "server/admission_review.h"

#include <cstddef>
#include <cstdint>
#include <string>

#include "policy/policy.h"
#include "server/json.h"

using namespace stratum_guard;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  static const auto policy = policy::Policy::Default();
  server::JudgeOptions options;
  options.docs_url = "https://example.test/POLICY.md";
  switch (data[0] % 4) {
    case 1:
      options.enforcement = policy::Enforcement::kWarn;
      break;
    case 2:
      options.enforcement = policy::Enforcement::kAudit;
      break;
    case 3:
      options.enforcement = policy::Enforcement::kEnforce;
      break;
    default:
      break;
  }
  std::string body(reinterpret_cast<const char*>(data) + 1, size - 1);
  rapidjson::Document document;
  if (!server::ParseJsonInPlace(body, document).empty()) return 0;
  server::AdmissionRequest request;
  if (!server::DecodeAdmissionReview(document, &request).empty()) return 0;
  server::Judgement judgement = server::Judge(request, *policy, options);
  if (judgement.decision != policy::Decision::kError) {
    server::EncodeAdmissionResponse(request, judgement);
  }
  return 0;
}
