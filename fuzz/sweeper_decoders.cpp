// What the sweeper reads from the API server, on hostile bytes. The input's first line is a pod
// list page: parsed, decoded by kube::DecodePodList and swept by a real Sweeper (judged with the
// default policy, deleted through an API that accepts every call, reported). Every further line
// is a watch event for kube::DecodeWatchEvent, whose pods are judged as the watch does. The whole
// input is also an error body for kube::DecodeStatus.

#include <prometheus/registry.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "common/log.h"
#include "kube/kube_api.h"
#include "kube/kube_error.h"
#include "policy/policy.h"
#include "policy/policy_store.h"
#include "policy/workload.h"
#include "sweeper/sweeper.h"

using namespace stratum_guard;

namespace {

// Serves the list page from the fuzz input once; accepts deletes and events; no leases.
class PageApi : public kube::KubeApi {
 public:
  explicit PageApi(std::string page) : page_(std::move(page)) {}

  kube::KubeError ListPods(const std::string&, int, const kube::PodVisitor& visit,
                           kube::ListPage* page) override {
    if (served_) return kube::KubeError::Decode("one page only");
    served_ = true;
    rapidjson::Document doc;
    doc.ParseInsitu(page_.data());
    if (doc.HasParseError() || !doc.IsObject()) return kube::KubeError::Decode("not an object");
    kube::KubeError e = kube::DecodePodList(doc, visit, page);
    page->continue_token.clear();  // one page: a token would ask for another
    return e;
  }
  kube::KubeError WatchPods(const std::string&, int, const kube::WatchVisitor&,
                            const common::CancelCheck&) override {
    return kube::KubeError::Cancelled();
  }
  kube::KubeError GetPod(const std::string&, const std::string&, const kube::PodVisitor&) override {
    return kube::KubeError::Decode("no pod");
  }
  kube::KubeError DeletePod(const std::string&, const std::string&, const std::string&,
                            std::optional<std::int64_t>) override {
    return {};
  }
  kube::KubeError CreateEvent(const std::string&, const std::string&) override { return {}; }
  kube::KubeError GetLease(const std::string&, const std::string&, kube::Lease*) override {
    return kube::KubeError::Decode("no leases");
  }
  kube::KubeError CreateLease(const kube::Lease&, kube::Lease*) override {
    return kube::KubeError::Decode("no leases");
  }
  kube::KubeError UpdateLease(const kube::Lease&, kube::Lease*) override {
    return kube::KubeError::Decode("no leases");
  }
  // Reports are off in this target (options.policy_reports): it fuzzes the pod decoders.
  kube::KubeError ListPolicyReports(const std::string&, const kube::PodVisitor&) override {
    return kube::KubeError::Decode("no policy reports");
  }
  kube::KubeError GetPolicyReport(const std::string&, const std::string&,
                                  const kube::PodVisitor&) override {
    return kube::KubeError::Decode("no policy reports");
  }
  kube::KubeError CreatePolicyReport(const std::string&, const std::string&,
                                     const kube::PodVisitor&) override {
    return kube::KubeError::Decode("no policy reports");
  }
  kube::KubeError UpdatePolicyReport(const std::string&, const std::string&, const std::string&,
                                     const kube::PodVisitor&) override {
    return kube::KubeError::Decode("no policy reports");
  }
  kube::KubeError DeletePolicyReport(const std::string&, const std::string&) override {
    return kube::KubeError::Decode("no policy reports");
  }
  // The sweeper never touches Secrets or webhook configurations (self-managed certificates do).
  kube::KubeError GetSecret(const std::string&, const std::string&,
                            const kube::PodVisitor&) override {
    return kube::KubeError::Decode("no secrets");
  }
  kube::KubeError CreateSecret(const std::string&, const std::string&,
                               const kube::PodVisitor&) override {
    return kube::KubeError::Decode("no secrets");
  }
  kube::KubeError UpdateSecret(const std::string&, const std::string&, const std::string&,
                               const kube::PodVisitor&) override {
    return kube::KubeError::Decode("no secrets");
  }
  kube::KubeError GetValidatingWebhookConfiguration(const std::string&,
                                                    const kube::PodVisitor&) override {
    return kube::KubeError::Decode("no webhook configurations");
  }
  kube::KubeError PatchValidatingWebhookConfiguration(const std::string&, const std::string&,
                                                      const kube::PodVisitor&) override {
    return kube::KubeError::Decode("no webhook configurations");
  }

 private:
  std::string page_;
  bool served_ = false;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  static const auto policy = [] {
    // Log lines are still formatted (hostile strings escaped), then dropped.
    common::SetLogSink([](std::string_view) {});
    return policy::Policy::Default();
  }();

  kube::DecodeStatus(429, input, input.substr(0, 12));

  const std::size_t newline = input.find('\n');
  {
    PageApi api(std::string(input.substr(0, newline)));
    policy::PolicyStore policies(policy);
    prometheus::Registry registry;
    common::SimulatedClock clock;
    sweeper::Options options;
    options.leader_elect = false;
    options.delete_attempts = 1;
    options.policy_reports = false;
    sweeper::Sweeper sweeper(api, policies, registry, clock, options);
    sweeper::FormatReport(sweeper.SweepOnce(), false);
  }
  if (newline == std::string_view::npos) return 0;
  input.remove_prefix(newline + 1);
  while (!input.empty()) {
    std::string line(input.substr(0, input.find('\n')));
    input.remove_prefix(std::min(input.size(), line.size() + 1));
    bool more = true;
    kube::DecodeWatchEvent(
        line,
        [&](kube::WatchEventType type, const rapidjson::Value& object) {
          if (type == kube::WatchEventType::kAdded || type == kube::WatchEventType::kModified) {
            if (auto workload = policy::ExtractWorkload("Pod", object)) {
              policy->Evaluate(*workload);
            }
          }
          return true;
        },
        &more);
  }
  return 0;
}
