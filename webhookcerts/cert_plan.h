#pragma once

#include <rapidjson/document.h>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace stratum_guard::webhookcerts {

// The pure half of self-managed certificates: what the Secret holds, whether it needs a new
// certificate, and what the webhook configuration's caBundle must become. No I/O: time is a
// parameter, so tests decide on a simulated clock.

using Wall = std::chrono::system_clock::time_point;

// The Secret's data, decoded (type kubernetes.io/tls plus the CA):
//   tls.crt, tls.key  the serving certificate and its key;
//   ca.crt            every CA clients must trust, PEM concatenated, the signing CA first; a
//                     second one only while a CA rotation overlaps the old and the new;
//   ca.key            the signing CA's key, so that whichever replica renews signs with it.
struct CertBundle {
  std::string serving_cert_pem;
  std::string serving_key_pem;
  std::string ca_bundle_pem;
  std::string ca_key_pem;
  bool operator==(const CertBundle&) const = default;
};

// How long certificates live and when they are renewed.
struct Lifetimes {
  std::chrono::seconds ca_validity = std::chrono::hours(24 * 365 * 10);
  std::chrono::seconds serving_validity = std::chrono::hours(24 * 365);
  // A certificate is renewed once this share of its life has passed (Gatekeeper and Kyverno
  // renew well before expiry, so a stalled controller still has a third of a year).
  double renew_after_fraction = 2.0 / 3.0;
  // During a CA rotation, how long each step waits before the next: both CAs trusted before
  // the serving certificate switches, and the new serving certificate everywhere before the
  // old CA goes. Must exceed the time every replica takes to see the Secret (its poll
  // interval) and the API server takes to see the caBundle.
  std::chrono::seconds overlap = std::chrono::minutes(10);
};

// What the Secret needs now, the first matching in this order.
enum class Step {
  kNone,
  kRegenerate,       // missing, unreadable, inconsistent or expired: a new CA and certificate
  kRenewServing,     // the serving certificate is due (or names the wrong host)
  kStartCaRotation,  // the CA is due: a new CA joins ca.crt, signing CA first; serving unchanged
  kServeFromNewCa,   // both CAs have been trusted for `overlap`: serving re-issued by the new CA
  kDropOldCa,        // the new serving certificate has been out for `overlap`: old CA removed
};
std::string_view StepName(Step step);

// The certificates of a PEM bundle, each with its BEGIN and END lines.
std::vector<std::string> SplitCertificates(std::string_view pem);

// Decides the next step for `bundle` at `now`, for a serving certificate that must cover
// `host`. `why` (optional) receives a reason for the log.
Step NextStep(const CertBundle& bundle, Wall now, const Lifetimes& lifetimes,
              const std::string& host, std::string* why = nullptr);

// Carries out `step` (issuing with certs::IssueCertificate, dated `now`): the bundle to store.
// `dns_names` are the serving certificate's names, the first its common name. Throws
// std::runtime_error when OpenSSL fails (a configuration-time error, not an input one).
CertBundle Apply(Step step, const CertBundle& bundle, Wall now, const Lifetimes& lifetimes,
                 const std::vector<std::string>& dns_names);

// SERVICE.NAMESPACE.svc first (what the API server dials for a service reference), then the
// shorter and longer forms.
std::vector<std::string> ServiceDnsNames(const std::string& service, const std::string& ns);

// The Secret's JSON (create, or update when `resource_version` is not empty).
std::string SecretJson(const std::string& ns, const std::string& name, const CertBundle& bundle,
                       const std::string& resource_version);
// Decodes a Secret's data. nullopt and `error` when a key is missing or not base64; a key
// present but empty counts as missing. The certificates themselves are judged by NextStep.
std::optional<CertBundle> BundleFromSecret(const rapidjson::Value& secret, std::string* error);

// The JSON Patch (RFC 6902) that sets every webhook's clientConfig.caBundle of `config` to
// `ca_bundle_pem`, guarded by a test of the configuration's resourceVersion and of each
// webhook's name (a configuration changed meanwhile fails the patch instead of being
// patched at the wrong index). Empty when every caBundle already matches, or when `config`
// has no webhooks array (`error` then says so).
std::string CaBundlePatch(const rapidjson::Value& config, std::string_view ca_bundle_pem,
                          std::string* error);

}  // namespace stratum_guard::webhookcerts
