#include "registry/workload_images.h"

#include <memory>
#include <optional>

namespace stratum_guard::registry {

WorkloadInspection InspectWorkload(policy::Workload& workload, ImageInspector& inspector,
                                   CredentialStore& credentials,
                                   std::chrono::milliseconds deadline) {
  using Clock = std::chrono::steady_clock;
  const Clock::time_point end = Clock::now() + deadline;
  WorkloadInspection result;
  // What finds the workload's credentials, copied because a fetch may outlive this call and
  // the workload's views with it. One for all containers: a cache hit never copies it.
  struct PullContext {
    CredentialStore* store;
    std::string namespace_;
    std::vector<std::string> secrets;
  };
  auto context = std::make_shared<const PullContext>(
      PullContext{&credentials,
                  std::string(workload.namespace_),
                  {workload.image_pull_secrets.begin(), workload.image_pull_secrets.end()}});
  const CredentialsFn find = [context](std::string_view registry) {
    return context->store->Lookup(registry, context->namespace_, context->secrets);
  };
  std::vector<std::optional<ImageReference>> refs;
  for (const policy::Container& c : workload.containers) {
    ContainerInspection ci;
    ci.image = std::string(c.image);
    std::optional<ImageReference> ref = ParseImageReference(c.image, &ci.error);
    // Started side by side: a first look that does not wait queues every miss at once.
    if (ref) ci.inspection = inspector.Inspect(*ref, find, {});
    refs.push_back(std::move(ref));
    result.containers.push_back(std::move(ci));
  }
  for (std::size_t i = 0; i < workload.containers.size(); ++i) {
    ContainerInspection& ci = result.containers[i];
    if (!refs[i]) continue;
    if (ci.inspection.outcome == Outcome::kDeadline) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - Clock::now());
      ci.inspection =
          inspector.Inspect(*refs[i], find, std::max(left, std::chrono::milliseconds(0)));
      // Queued by the first look, so fetched for this workload even when the fetch finished
      // between the two looks.
      if (ci.inspection.outcome == Outcome::kHit) ci.inspection.outcome = Outcome::kFetched;
    }
    if (ci.inspection.outcome == Outcome::kError) ci.error = ci.inspection.error.message;
    if (ci.inspection.config == nullptr) continue;
    const ImageConfig& config = *ci.inspection.config;
    policy::ApplyImageConfig(workload.containers[i], config.entrypoint, config.cmd, config.env);
    result.configs.push_back(ci.inspection.config);
  }
  return result;
}

}  // namespace stratum_guard::registry
