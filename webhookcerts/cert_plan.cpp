#include "webhookcerts/cert_plan.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <stdexcept>

#include "certs/certificates.h"
#include "common/base64.h"
#include "common/json.h"

namespace stratum_guard::webhookcerts {

namespace {

constexpr std::string_view kEndMarker = "-----END CERTIFICATE-----";

// notBefore lies this far before the issue time (certs::CertificateSpec::backdate). Renewals and
// overlaps count from the issue time: with lifetimes of seconds (the e2e test), a minute of
// backdating would otherwise make every certificate due at once and every overlap void.
constexpr std::chrono::seconds kBackdate{60};

// The point at which `fraction` of [issued, not_after] has passed.
Wall DueAt(Wall issued, Wall not_after, double fraction) {
  auto life = std::chrono::duration_cast<std::chrono::seconds>(not_after - issued);
  return issued + std::chrono::seconds(static_cast<std::int64_t>(life.count() * fraction));
}

void Say(std::string* why, std::string text) {
  if (why != nullptr) *why = std::move(text);
}

// The CA's common name carries its creation time, so that the CAs of a rotation differ by
// name as well as by key (what an operator sees in `openssl x509 -subject`).
std::string CaCommonName(Wall now) {
  return "stratum-guard-webhook-ca-" +
         std::to_string(
             std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count());
}

certs::PemPair NewCa(Wall now, const Lifetimes& lifetimes) {
  certs::CertificateSpec spec;
  spec.common_name = CaCommonName(now);
  spec.dns_names.clear();
  spec.ip_addresses.clear();
  spec.validity = lifetimes.ca_validity;
  spec.is_ca = true;
  spec.server_auth = false;  // no extended key usage: it signs serving certificates only
  spec.not_before = now;
  spec.backdate = kBackdate;
  return certs::IssueCertificate(spec);
}

certs::PemPair NewServing(const certs::PemPair& ca, Wall now, const Lifetimes& lifetimes,
                          const std::vector<std::string>& dns_names) {
  certs::CertificateSpec spec;
  spec.common_name = dns_names.empty() ? "stratum-guard" : dns_names.front();
  spec.dns_names = dns_names;
  spec.ip_addresses.clear();
  // Never past the CA's own end: a chain is only as valid as its CA.
  std::chrono::seconds validity = lifetimes.serving_validity;
  if (auto ca_end = certs::CertificateNotAfter(ca.certificate_pem)) {
    auto left = std::chrono::duration_cast<std::chrono::seconds>(*ca_end - now);
    if (left < validity) validity = left;
  }
  spec.validity = validity;
  spec.is_ca = false;
  spec.server_auth = true;
  spec.not_before = now;
  spec.backdate = kBackdate;
  return certs::IssueCertificate(spec, &ca);
}

std::string Serialize(const rapidjson::Value& value) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  value.Accept(writer);
  return buffer.GetString();
}

}  // namespace

std::string_view StepName(Step step) {
  switch (step) {
    case Step::kNone:
      return "none";
    case Step::kRegenerate:
      return "regenerate";
    case Step::kRenewServing:
      return "renew-serving";
    case Step::kStartCaRotation:
      return "start-ca-rotation";
    case Step::kServeFromNewCa:
      return "serve-from-new-ca";
    case Step::kDropOldCa:
      return "drop-old-ca";
  }
  return "unknown";
}

std::vector<std::string> SplitCertificates(std::string_view pem) {
  std::vector<std::string> out;
  constexpr std::string_view kBegin = "-----BEGIN CERTIFICATE-----";
  for (std::size_t at = pem.find(kBegin); at != std::string_view::npos; at = pem.find(kBegin, at)) {
    std::size_t end = pem.find(kEndMarker, at);
    if (end == std::string_view::npos) break;
    end += kEndMarker.size();
    out.emplace_back(pem.substr(at, end - at));
    out.back() += '\n';
    at = end;
  }
  return out;
}

Step NextStep(const CertBundle& bundle, Wall now, const Lifetimes& lifetimes,
              const std::string& host, std::string* why) {
  std::vector<std::string> cas = SplitCertificates(bundle.ca_bundle_pem);
  if (cas.empty()) {
    Say(why, "ca.crt holds no certificate");
    return Step::kRegenerate;
  }
  const std::string& signer = cas.front();
  auto ca_start = certs::CertificateNotBefore(signer);
  auto ca_end = certs::CertificateNotAfter(signer);
  auto serving_start = certs::CertificateNotBefore(bundle.serving_cert_pem);
  auto serving_end = certs::CertificateNotAfter(bundle.serving_cert_pem);
  if (!ca_start || !ca_end || !serving_start || !serving_end) {
    Say(why, "a certificate does not parse");
    return Step::kRegenerate;
  }
  *ca_start += kBackdate;  // issue times
  *serving_start += kBackdate;
  if (!certs::KeyMatchesCertificate(signer, bundle.ca_key_pem)) {
    Say(why, "ca.key is not the key of the first certificate in ca.crt");
    return Step::kRegenerate;
  }
  if (!certs::KeyMatchesCertificate(bundle.serving_cert_pem, bundle.serving_key_pem)) {
    Say(why, "tls.key is not the key of tls.crt");
    return Step::kRegenerate;
  }
  bool by_signer = certs::IsSignedBy(bundle.serving_cert_pem, signer);
  bool by_any = by_signer;
  for (std::size_t i = 1; i < cas.size() && !by_any; ++i) {
    by_any = certs::IsSignedBy(bundle.serving_cert_pem, cas[i]);
  }
  if (!by_any) {
    Say(why, "tls.crt is not signed by a CA of ca.crt");
    return Step::kRegenerate;
  }
  if (now >= *ca_end || now >= *serving_end) {
    Say(why, "a certificate has expired");
    return Step::kRegenerate;
  }
  if (cas.size() > 1) {
    // A CA rotation in progress: each step waits `overlap` after the one before it.
    if (!by_signer) {
      if (now >= *ca_start + lifetimes.overlap) {
        Say(why, "both CAs have been trusted for the overlap period");
        return Step::kServeFromNewCa;
      }
      Say(why, "CA rotation: waiting for the new CA to be trusted everywhere");
      return Step::kNone;
    }
    if (now >= *serving_start + lifetimes.overlap) {
      Say(why, "the new CA's certificate has been served for the overlap period");
      return Step::kDropOldCa;
    }
    Say(why, "CA rotation: waiting for every replica to serve the new certificate");
    return Step::kNone;
  }
  if (now >= DueAt(*ca_start, *ca_end, lifetimes.renew_after_fraction)) {
    Say(why, "the CA is due for renewal");
    return Step::kStartCaRotation;
  }
  if (now >= DueAt(*serving_start, *serving_end, lifetimes.renew_after_fraction)) {
    Say(why, "the serving certificate is due for renewal");
    return Step::kRenewServing;
  }
  if (!host.empty() && !certs::CertificateCoversHost(bundle.serving_cert_pem, host)) {
    Say(why, "the serving certificate does not name " + host);
    return Step::kRenewServing;
  }
  Say(why, "up to date");
  return Step::kNone;
}

CertBundle Apply(Step step, const CertBundle& bundle, Wall now, const Lifetimes& lifetimes,
                 const std::vector<std::string>& dns_names) {
  CertBundle next = bundle;
  std::vector<std::string> cas = SplitCertificates(bundle.ca_bundle_pem);
  switch (step) {
    case Step::kNone:
      break;
    case Step::kRegenerate: {
      certs::PemPair ca = NewCa(now, lifetimes);
      certs::PemPair serving = NewServing(ca, now, lifetimes, dns_names);
      next = {serving.certificate_pem, serving.private_key_pem, ca.certificate_pem,
              ca.private_key_pem};
      break;
    }
    case Step::kRenewServing:
    case Step::kServeFromNewCa: {
      if (cas.empty()) throw std::runtime_error("ca.crt holds no certificate");
      certs::PemPair signer{cas.front(), bundle.ca_key_pem};
      certs::PemPair serving = NewServing(signer, now, lifetimes, dns_names);
      next.serving_cert_pem = serving.certificate_pem;
      next.serving_key_pem = serving.private_key_pem;
      break;
    }
    case Step::kStartCaRotation: {
      if (cas.empty()) throw std::runtime_error("ca.crt holds no certificate");
      certs::PemPair ca = NewCa(now, lifetimes);
      // The new CA signs from now on; the old one stays trusted (second) for the serving
      // certificate it signed, which is not touched in this step.
      next.ca_bundle_pem = ca.certificate_pem + cas.front();
      next.ca_key_pem = ca.private_key_pem;
      break;
    }
    case Step::kDropOldCa:
      if (cas.empty()) throw std::runtime_error("ca.crt holds no certificate");
      next.ca_bundle_pem = cas.front();
      break;
  }
  return next;
}

std::vector<std::string> ServiceDnsNames(const std::string& service, const std::string& ns) {
  return {service + "." + ns + ".svc", service, service + "." + ns,
          service + "." + ns + ".svc.cluster.local"};
}

std::string SecretJson(const std::string& ns, const std::string& name, const CertBundle& bundle,
                       const std::string& resource_version) {
  rapidjson::Document doc(rapidjson::kObjectType);
  auto& a = doc.GetAllocator();
  auto str = [&a](std::string_view s) {
    return rapidjson::Value(s.data(), static_cast<rapidjson::SizeType>(s.size()), a);
  };
  doc.AddMember("apiVersion", "v1", a);
  doc.AddMember("kind", "Secret", a);
  rapidjson::Value metadata(rapidjson::kObjectType);
  metadata.AddMember("name", str(name), a);
  metadata.AddMember("namespace", str(ns), a);
  if (!resource_version.empty()) metadata.AddMember("resourceVersion", str(resource_version), a);
  rapidjson::Value labels(rapidjson::kObjectType);
  labels.AddMember("app.kubernetes.io/name", "stratum-guard", a);
  labels.AddMember("app.kubernetes.io/managed-by", "stratum-guard", a);
  metadata.AddMember("labels", labels, a);
  doc.AddMember("metadata", metadata, a);
  doc.AddMember("type", "kubernetes.io/tls", a);
  rapidjson::Value data(rapidjson::kObjectType);
  data.AddMember("tls.crt", str(common::EncodeBase64(bundle.serving_cert_pem)), a);
  data.AddMember("tls.key", str(common::EncodeBase64(bundle.serving_key_pem)), a);
  data.AddMember("ca.crt", str(common::EncodeBase64(bundle.ca_bundle_pem)), a);
  data.AddMember("ca.key", str(common::EncodeBase64(bundle.ca_key_pem)), a);
  doc.AddMember("data", data, a);
  return Serialize(doc);
}

std::optional<CertBundle> BundleFromSecret(const rapidjson::Value& secret, std::string* error) {
  const rapidjson::Value* data = common::JsonMember(secret, "data");
  if (data == nullptr || !data->IsObject()) {
    *error = "the Secret has no data";
    return std::nullopt;
  }
  CertBundle bundle;
  const std::pair<const char*, std::string*> keys[] = {{"tls.crt", &bundle.serving_cert_pem},
                                                       {"tls.key", &bundle.serving_key_pem},
                                                       {"ca.crt", &bundle.ca_bundle_pem},
                                                       {"ca.key", &bundle.ca_key_pem}};
  for (const auto& [key, out] : keys) {
    const rapidjson::Value* value = common::JsonMember(*data, key);
    if (value == nullptr || !value->IsString() || value->GetStringLength() == 0) {
      *error = std::string("the Secret has no data.") + key;
      return std::nullopt;
    }
    auto decoded = common::DecodeBase64({value->GetString(), value->GetStringLength()});
    if (!decoded) {
      *error = std::string("data.") + key + " is not base64";
      return std::nullopt;
    }
    *out = std::move(*decoded);
  }
  return bundle;
}

std::string CaBundlePatch(const rapidjson::Value& config, std::string_view ca_bundle_pem,
                          std::string* error) {
  const rapidjson::Value* webhooks = common::JsonMember(config, "webhooks");
  if (webhooks == nullptr || !webhooks->IsArray()) {
    *error = "the webhook configuration has no webhooks";
    return {};
  }
  const std::string wanted = common::EncodeBase64(ca_bundle_pem);
  rapidjson::Document patch(rapidjson::kArrayType);
  auto& a = patch.GetAllocator();
  auto op = [&](std::string_view name, const std::string& path, std::string_view value) {
    rapidjson::Value o(rapidjson::kObjectType);
    o.AddMember("op",
                rapidjson::Value(name.data(), static_cast<rapidjson::SizeType>(name.size()), a), a);
    o.AddMember("path", rapidjson::Value(path.c_str(), a), a);
    o.AddMember("value",
                rapidjson::Value(value.data(), static_cast<rapidjson::SizeType>(value.size()), a),
                a);
    patch.PushBack(o, a);
  };
  const rapidjson::Value* metadata = common::JsonMember(config, "metadata");
  std::string_view rv = metadata != nullptr ? common::JsonString(*metadata, "resourceVersion") : "";
  if (!rv.empty()) op("test", "/metadata/resourceVersion", rv);
  bool changed = false;
  for (rapidjson::SizeType i = 0; i < webhooks->Size(); ++i) {
    const rapidjson::Value& webhook = (*webhooks)[i];
    const rapidjson::Value* client = common::JsonMember(webhook, "clientConfig");
    std::string_view current = client != nullptr ? common::JsonString(*client, "caBundle") : "";
    if (current == wanted) continue;
    changed = true;
    std::string at = "/webhooks/" + std::to_string(i);
    op("test", at + "/name", common::JsonString(webhook, "name"));
    op("add", at + "/clientConfig/caBundle", wanted);
  }
  return changed ? Serialize(patch) : std::string();
}

}  // namespace stratum_guard::webhookcerts
