#include "registry/workload_images.h"

#include <optional>

namespace stratum_guard::registry {

WorkloadInspection InspectWorkload(policy::Workload& workload, ImageInspector& inspector,
                                   const DockerConfig& credentials,
                                   std::chrono::milliseconds deadline) {
  using Clock = std::chrono::steady_clock;
  const Clock::time_point end = Clock::now() + deadline;
  WorkloadInspection result;
  std::vector<std::optional<ImageReference>> refs;
  for (const policy::Container& c : workload.containers) {
    ContainerInspection ci;
    ci.image = std::string(c.image);
    std::optional<ImageReference> ref = ParseImageReference(c.image, &ci.error);
    // Started side by side: a first look that does not wait queues every miss at once.
    if (ref) ci.inspection = inspector.Inspect(*ref, credentials.Lookup(ref->registry), {});
    refs.push_back(std::move(ref));
    result.containers.push_back(std::move(ci));
  }
  for (std::size_t i = 0; i < workload.containers.size(); ++i) {
    ContainerInspection& ci = result.containers[i];
    if (!refs[i]) continue;
    if (ci.inspection.outcome == Outcome::kDeadline) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - Clock::now());
      ci.inspection = inspector.Inspect(*refs[i], credentials.Lookup(refs[i]->registry),
                                        std::max(left, std::chrono::milliseconds(0)));
      // Fetched by this wait, though the first look found it queued: counted as fetched.
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
