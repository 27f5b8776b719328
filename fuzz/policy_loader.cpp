// Policy::Compile on any text: a policy file is operator input, but a reload reads whatever the
// volume holds, half-written files included. Compile must refuse with a PolicyError and nothing
// else; a policy it accepts must evaluate a miner pod without a fault.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "policy/policy.h"
#include "policy/workload.h"

using namespace stratum_guard;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  std::shared_ptr<const policy::Policy> compiled;
  try {
    compiled = policy::Policy::Compile(text, "fuzz.yaml");
  } catch (const policy::PolicyError&) {
    return 0;
  }
  static const char kPod[] =
      R"({"metadata":{"name":"m","namespace":"default"},"spec":{"containers":[{"name":"c",)"
      R"("image":"xmrig/xmrig:6.21.0","command":["sh","-c","xmrig -o stratum+tcp://pool.)"
      R"(supportxmr.com:3333 --donate-level 1"],"env":[{"name":"W","value":"4AdUndXHHZ6cf)"
      R"(ufTMvppY6JwXNouMBzSkbLYfpAV5Usx3skxNgYeYTRj5UzqtReoS44qo9mtmXCqY45DJ852K5Jv2684Rge"}]}]}})";
  rapidjson::Document pod;
  pod.Parse(kPod);
  if (auto workload = policy::ExtractWorkload("Pod", pod)) {
    policy::Verdict verdict = compiled->Evaluate(*workload);
    if (!verdict.error.empty()) __builtin_trap();  // a policy that compiled must evaluate
  }
  return 0;
}
