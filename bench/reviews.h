#pragma once

#include <string>
#include <string_view>

namespace stratum_guard::bench {

// AdmissionReview bodies as the API server sends them (admission.k8s.io/v1, CREATE, with
// userInfo, options and an object carrying metadata.managedFields), shared by the
// micro-benchmarks and the HTTPS load test so both measure the same bytes.

// A Pod with 3 containers (app, envoy sidecar, log shipper), probes, resources, volumes and a
// dozen env vars: about 8 KiB, the size most pods are.
std::string TypicalPodReview();
// A Pod whose 4 containers carry hundreds of env vars and long argument lists, padded to
// about 1 MiB (the API server refuses bodies over 3 MiB): the worst case a webhook sees.
std::string LargePodReview();
// A Deployment whose template is the typical pod.
std::string DeploymentReview();
// A CronJob (spec.jobTemplate.spec.template) with a backup container and an init container.
std::string CronJobReview();
// A Pod running xmrig against a Stratum pool: the denial path (findings, message, status).
std::string MinerPodReview();

// The named review: "typical", "large", "deployment", "cronjob", "miner"; empty if unknown.
std::string ReviewByName(std::string_view name);

}  // namespace stratum_guard::bench
