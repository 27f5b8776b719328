#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "policy/workload.h"
#include "registry/credentials.h"
#include "registry/inspector.h"

namespace stratum_guard::registry {

// What looking inside a workload's images found, one entry per container.
struct ContainerInspection {
  std::string image;  // as the pod spec names it
  Inspection inspection;
  std::string error;  // why it could not be inspected: a bad reference, or the fetch's error
};

struct WorkloadInspection {
  std::vector<ContainerInspection> containers;
  // Keeps the configs applied to the workload alive: its containers' views point into them.
  std::vector<std::shared_ptr<const ImageConfig>> configs;
};

// Reads every container's image config through `inspector`, within one `deadline` for the whole
// workload (the fetches run side by side), and applies each config found to its container
// (policy::ApplyImageConfig). Credentials come from `credentials`, for the workload's namespace
// and imagePullSecrets, only when an image is fetched. A container whose image could not be read
// is judged on its pod spec alone: a registry failure never becomes a finding. `workload` must
// not outlive the result.
WorkloadInspection InspectWorkload(policy::Workload& workload, ImageInspector& inspector,
                                   CredentialStore& credentials,
                                   std::chrono::milliseconds deadline);

}  // namespace stratum_guard::registry
