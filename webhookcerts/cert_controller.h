#pragma once

#include <chrono>
#include <functional>
#include <mutex>
#include <string>

#include "common/clock.h"
#include "kube/kube_api.h"
#include "webhookcerts/cert_plan.h"

namespace stratum_guard::webhookcerts {

// `serve --manage-certs`, defaults as the flags document them (docs/OPERATIONS.md).
struct Options {
  std::string namespace_;  // the Secret's and the Service's
  std::string secret_name = "stratum-guard-tls";
  std::string webhook_config_name = "stratum-guard";
  std::string service_name = "stratum-guard";
  Lifetimes lifetimes;
  // How often the Secret is read: a rotation by another replica reaches this one within it.
  std::chrono::milliseconds check_interval{60'000};
  // After a failed step, the next try comes sooner than check_interval, but not sooner than this.
  std::chrono::milliseconds retry_interval{5'000};
};

// Called with the serving certificate and key whenever they differ from the last call (the first
// call makes a replica ready). Throws when the server cannot load them; the controller then
// reports the step failed and tries again.
using ServeCallback = std::function<void(const std::string& cert_pem, const std::string& key_pem)>;

// Keeps the webhook's certificates, as Gatekeeper's cert-controller does:
//  1. read the Secret; when it is missing, create it with a new CA and serving certificate
//     (every replica tries; a 409 AlreadyExists means another won, and its Secret is read);
//  2. when NextStep says so, store the next bundle with the read resourceVersion (a 409
//     Conflict means another replica rotated: its Secret is read instead);
//  3. write ca.crt into every webhook's caBundle of the configuration (only when it differs);
//  4. hand a changed serving certificate to `serve`.
// Step 3 comes before 4 so that the API server trusts a new CA before anyone serves from it.
// Thread-compatible: Sync and Run are called from one thread.
class CertController {
 public:
  CertController(Options options, kube::KubeApi& api, ServeCallback serve,
                 common::Clock& clock = common::SystemClock::Instance());

  struct Result {
    kube::KubeError error;    // the API call that failed; ok otherwise
    std::string problem;      // a failure that is not an API call's ("" when none)
    Step step = Step::kNone;  // what this replica wrote to the Secret
    bool served = false;      // whether `serve` took a new certificate
    bool ok() const { return error.ok() && problem.empty(); }
    std::string ToString() const;
  };
  // One pass of steps 1-4.
  Result Sync();
  // Sync every check_interval (retry_interval after a failure) until `stop`.
  void Run(const common::StopSignal& stop);

  std::uint64_t syncs_failed() const { return syncs_failed_; }

 private:
  // Reads the Secret into bundle/rv; creates it when missing. `written` gets the step taken.
  kube::KubeError ReadOrCreate(CertBundle* bundle, std::string* rv, bool* found, std::string* why);
  kube::KubeError Get(CertBundle* bundle, std::string* rv, bool* found, std::string* why);
  kube::KubeError PatchCaBundle(const std::string& ca_bundle_pem, std::string* problem);

  const Options options_;
  kube::KubeApi& api_;
  ServeCallback serve_;
  common::Clock& clock_;
  const std::vector<std::string> dns_names_;
  std::string served_cert_;
  std::uint64_t syncs_failed_ = 0;
};

}  // namespace stratum_guard::webhookcerts
