#include "webhookcerts/cert_controller.h"

#include <stdexcept>

#include "common/log.h"

namespace stratum_guard::webhookcerts {

using common::Log;
using common::LogLevel;

namespace {
// Conflicts in a row before a pass gives up: each one means another replica wrote the Secret,
// so a few are normal at start-up and during a rotation, and more mean something is looping.
constexpr int kMaxWriteAttempts = 4;
}  // namespace

std::string CertController::Result::ToString() const {
  if (!error.ok()) return error.ToString();
  return problem;
}

CertController::CertController(Options options, kube::KubeApi& api, ServeCallback serve,
                               common::Clock& clock)
    : options_(std::move(options)),
      api_(api),
      serve_(std::move(serve)),
      clock_(clock),
      dns_names_(ServiceDnsNames(options_.service_name, options_.namespace_)) {}

kube::KubeError CertController::Get(CertBundle* bundle, std::string* rv, bool* found,
                                    std::string* problem) {
  problem->clear();
  rv->clear();
  kube::KubeError e = api_.GetSecret(
      options_.namespace_, options_.secret_name, [&](const rapidjson::Value& secret) {
        *rv = std::string(kube::MetadataString(secret, "resourceVersion"));
        std::string error;
        if (auto b = BundleFromSecret(secret, &error)) {
          *bundle = std::move(*b);
        } else {
          *problem = std::move(error);
        }
      });
  *found = e.ok();
  if (e.IsNotFound()) return {};
  return e;
}

kube::KubeError CertController::PatchCaBundle(const std::string& ca_bundle_pem,
                                              std::string* problem) {
  std::string patch;
  std::string error;
  kube::KubeError e = api_.GetValidatingWebhookConfiguration(
      options_.webhook_config_name, [&](const rapidjson::Value& config) {
        patch = CaBundlePatch(config, ca_bundle_pem, &error);
      });
  if (!e.ok()) return e;
  if (!error.empty()) {
    *problem = "validatingwebhookconfiguration " + options_.webhook_config_name + ": " + error;
    return {};
  }
  if (patch.empty()) return {};
  e = api_.PatchValidatingWebhookConfiguration(options_.webhook_config_name, patch,
                                               [](const rapidjson::Value&) {});
  if (e.ok()) {
    Log(LogLevel::kInfo, "webhook caBundle updated",
        {{"webhook_configuration", options_.webhook_config_name}});
  }
  return e;
}

CertController::Result CertController::Sync() {
  Result result;
  CertBundle bundle;
  bool have_bundle = false;
  for (int attempt = 0; attempt < kMaxWriteAttempts && !have_bundle; ++attempt) {
    std::string rv;
    std::string malformed;
    bool found = false;
    if (kube::KubeError e = Get(&bundle, &rv, &found, &malformed); !e.ok()) {
      result.error = e;
      return result;
    }
    Step step = Step::kRegenerate;
    std::string why = found ? malformed : "the Secret does not exist";
    bool trusted = false;
    if (found && malformed.empty()) {
      // The API server must trust whatever the Secret holds before a rotation goes further.
      std::string problem;
      kube::KubeError e = PatchCaBundle(bundle.ca_bundle_pem, &problem);
      trusted = e.ok() && problem.empty();
      if (!e.ok() && result.error.ok()) result.error = e;
      if (!problem.empty()) result.problem = problem;
      step = NextStep(bundle, clock_.WallNow(), options_.lifetimes, dns_names_.front(), &why);
      if (step == Step::kServeFromNewCa && !trusted) {
        // The old CA still works for the certificate served now: wait until the caBundle holds
        // the new one, whatever the overlap says.
        step = Step::kNone;
      }
    }
    if (step == Step::kNone) {
      have_bundle = true;
      break;
    }
    CertBundle next;
    try {
      next = Apply(step, bundle, clock_.WallNow(), options_.lifetimes, dns_names_);
    } catch (const std::exception& e) {
      result.problem = std::string("cannot issue certificates: ") + e.what();
      return result;
    }
    std::string json = SecretJson(options_.namespace_, options_.secret_name, next, rv);
    auto ignore = [](const rapidjson::Value&) {};
    kube::KubeError e =
        found ? api_.UpdateSecret(options_.namespace_, options_.secret_name, json, ignore)
              : api_.CreateSecret(options_.namespace_, json, ignore);
    if (e.IsConflict()) {
      // Another replica created or rotated first: read what it wrote.
      Log(LogLevel::kInfo, "another replica wrote the certificate Secret first",
          {{"secret", options_.namespace_ + "/" + options_.secret_name}, {"step", StepName(step)}});
      continue;
    }
    if (!e.ok()) {
      result.error = e;
      return result;
    }
    Log(LogLevel::kInfo, found ? "certificate Secret updated" : "certificate Secret created",
        {{"secret", options_.namespace_ + "/" + options_.secret_name},
         {"step", StepName(step)},
         {"reason", why}});
    result.step = step;
    bundle = std::move(next);
    have_bundle = true;
  }
  if (!have_bundle) {
    result.problem = "the certificate Secret kept changing while it was written";
    return result;
  }
  if (result.step != Step::kNone) {
    std::string problem;
    if (kube::KubeError e = PatchCaBundle(bundle.ca_bundle_pem, &problem); !e.ok()) {
      result.error = e;
    }
    if (!problem.empty()) result.problem = problem;
  }
  if (bundle.serving_cert_pem != served_cert_) {
    try {
      serve_(bundle.serving_cert_pem, bundle.serving_key_pem);
      served_cert_ = bundle.serving_cert_pem;
      result.served = true;
      Log(LogLevel::kInfo, "serving the certificate from the Secret",
          {{"secret", options_.namespace_ + "/" + options_.secret_name}});
    } catch (const std::exception& e) {
      result.problem = std::string("cannot serve the Secret's certificate: ") + e.what();
    }
  }
  return result;
}

void CertController::Run(const common::StopSignal& stop) {
  auto stopping = [&stop] { return stop.stopped(); };
  while (!stop.stopped()) {
    Result result = Sync();
    std::chrono::milliseconds wait = options_.check_interval;
    if (!result.ok()) {
      ++syncs_failed_;
      Log(LogLevel::kError, "self-managed certificates: a step failed",
          {{"secret", options_.namespace_ + "/" + options_.secret_name},
           {"webhook_configuration", options_.webhook_config_name},
           {"error", result.ToString()}});
      wait = std::min(wait, options_.retry_interval);
    }
    if (!clock_.SleepFor(wait, stopping)) return;
  }
}

}  // namespace stratum_guard::webhookcerts
