#include "certs/certificates.h"

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <ctime>
#include <memory>
#include <stdexcept>

namespace stratum_guard::certs {
namespace {

template <auto Free>
struct Deleter {
  template <typename T>
  void operator()(T* p) const {
    Free(p);
  }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY_free>>;
using X509Ptr = std::unique_ptr<X509, Deleter<X509_free>>;
using BioPtr = std::unique_ptr<BIO, Deleter<BIO_free>>;
using ExtPtr = std::unique_ptr<X509_EXTENSION, Deleter<X509_EXTENSION_free>>;
using BnPtr = std::unique_ptr<BIGNUM, Deleter<BN_free>>;

[[noreturn]] void Fail(const std::string& what) {
  unsigned long code = ERR_get_error();
  std::string reason = what;
  if (code != 0) {
    char buf[256];
    ERR_error_string_n(code, buf, sizeof buf);
    reason += ": ";
    reason += buf;
  }
  ERR_clear_error();
  throw std::runtime_error(reason);
}

BioPtr MemoryBio(std::string_view text) {
  BioPtr bio(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
  if (!bio) Fail("BIO_new_mem_buf");
  return bio;
}

std::string BioContents(BIO* bio) {
  char* data = nullptr;
  long size = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<std::size_t>(size));
}

void AddExtension(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  ExtPtr ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str()));
  if (!ext) Fail("certificate extension " + value);
  if (X509_add_ext(cert, ext.get(), -1) != 1) Fail("X509_add_ext");
}

}  // namespace

PemPair IssueCertificate(const CertificateSpec& spec, const PemPair* issuer) {
  PkeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  if (!key) Fail("EC key generation");

  PkeyPtr issuer_key;
  X509Ptr issuer_cert;
  if (issuer != nullptr) {
    BioPtr key_bio = MemoryBio(issuer->private_key_pem);
    issuer_key.reset(PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr));
    if (!issuer_key) Fail("issuer private key");
    BioPtr cert_bio = MemoryBio(issuer->certificate_pem);
    issuer_cert.reset(PEM_read_bio_X509(cert_bio.get(), nullptr, nullptr, nullptr));
    if (!issuer_cert) Fail("issuer certificate");
  }

  X509Ptr cert(X509_new());
  if (!cert) Fail("X509_new");
  X509_set_version(cert.get(), X509_VERSION_3);
  // A random 159-bit serial, as RFC 5280 asks for unpredictable positive serials.
  unsigned char serial_bytes[20];
  if (RAND_bytes(serial_bytes, sizeof serial_bytes) != 1) Fail("RAND_bytes");
  serial_bytes[0] &= 0x7f;
  BnPtr serial(BN_bin2bn(serial_bytes, sizeof serial_bytes, nullptr));
  if (!serial || BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert.get())) == nullptr) {
    Fail("serial number");
  }
  std::time_t start = std::chrono::system_clock::to_time_t(
      spec.not_before.value_or(std::chrono::system_clock::now()));
  if (X509_time_adj_ex(X509_getm_notBefore(cert.get()), 0,
                       -static_cast<long>(spec.backdate.count()), &start) == nullptr ||
      X509_time_adj_ex(X509_getm_notAfter(cert.get()), 0, static_cast<long>(spec.validity.count()),
                       &start) == nullptr) {
    Fail("certificate validity");
  }
  if (X509_set_pubkey(cert.get(), key.get()) != 1) Fail("X509_set_pubkey");

  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("stratum-guard"), -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(spec.common_name.c_str()), -1,
                             -1, 0);
  X509* signer_cert = issuer_cert ? issuer_cert.get() : cert.get();
  EVP_PKEY* signer_key = issuer_key ? issuer_key.get() : key.get();
  if (X509_set_issuer_name(cert.get(), X509_get_subject_name(signer_cert)) != 1) {
    Fail("X509_set_issuer_name");
  }

  AddExtension(cert.get(), signer_cert, NID_basic_constraints,
               spec.is_ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
  AddExtension(cert.get(), signer_cert, NID_key_usage,
               spec.is_ca ? "critical,digitalSignature,keyCertSign,cRLSign"
                          : "critical,digitalSignature");  // ECDSA keys only sign
  std::string eku;
  if (spec.server_auth) eku = "serverAuth";
  if (spec.client_auth) eku += eku.empty() ? "clientAuth" : ",clientAuth";
  if (!eku.empty()) AddExtension(cert.get(), signer_cert, NID_ext_key_usage, eku);
  AddExtension(cert.get(), signer_cert, NID_subject_key_identifier, "hash");
  if (issuer != nullptr) {
    AddExtension(cert.get(), signer_cert, NID_authority_key_identifier, "keyid:always");
  }
  std::string san;
  for (const std::string& dns : spec.dns_names) san += (san.empty() ? "DNS:" : ",DNS:") + dns;
  for (const std::string& ip : spec.ip_addresses) san += (san.empty() ? "IP:" : ",IP:") + ip;
  if (!san.empty()) AddExtension(cert.get(), signer_cert, NID_subject_alt_name, san);

  if (X509_sign(cert.get(), signer_key, EVP_sha256()) == 0) Fail("X509_sign");

  PemPair out;
  BioPtr cert_out(BIO_new(BIO_s_mem()));
  if (!cert_out || PEM_write_bio_X509(cert_out.get(), cert.get()) != 1) Fail("PEM_write_bio_X509");
  out.certificate_pem = BioContents(cert_out.get());
  BioPtr key_out(BIO_new(BIO_s_mem()));
  if (!key_out || PEM_write_bio_PrivateKey(key_out.get(), key.get(), nullptr, nullptr, 0, nullptr,
                                           nullptr) != 1) {
    Fail("PEM_write_bio_PrivateKey");
  }
  out.private_key_pem = BioContents(key_out.get());
  return out;
}

PemPair DevelopmentCertificate() { return IssueCertificate(CertificateSpec{}); }

namespace {

// The first certificate of `pem`, or null (OpenSSL's error queue cleared).
X509Ptr ParseCertificate(std::string_view pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return nullptr;
  X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (!cert) ERR_clear_error();
  return cert;
}

std::optional<std::chrono::system_clock::time_point> TimeOf(const ASN1_TIME* time) {
  std::tm tm{};
  if (time == nullptr || ASN1_TIME_to_tm(time, &tm) != 1) return std::nullopt;
  return std::chrono::system_clock::from_time_t(timegm(&tm));
}

}  // namespace

std::optional<std::chrono::system_clock::time_point> CertificateNotAfter(std::string_view pem) {
  X509Ptr cert = ParseCertificate(pem);
  if (!cert) return std::nullopt;
  return TimeOf(X509_get0_notAfter(cert.get()));
}

std::optional<std::chrono::system_clock::time_point> CertificateNotBefore(std::string_view pem) {
  X509Ptr cert = ParseCertificate(pem);
  if (!cert) return std::nullopt;
  return TimeOf(X509_get0_notBefore(cert.get()));
}

bool IsSignedBy(std::string_view certificate_pem, std::string_view ca_pem) {
  X509Ptr cert = ParseCertificate(certificate_pem);
  X509Ptr ca = ParseCertificate(ca_pem);
  if (!cert || !ca) return false;
  EVP_PKEY* ca_key = X509_get0_pubkey(ca.get());
  bool ok = ca_key != nullptr && X509_verify(cert.get(), ca_key) == 1;
  ERR_clear_error();
  return ok;
}

bool CertificateCoversHost(std::string_view pem, const std::string& host) {
  X509Ptr cert = ParseCertificate(pem);
  return cert && X509_check_host(cert.get(), host.data(), host.size(), 0, nullptr) == 1;
}

bool KeyMatchesCertificate(std::string_view certificate_pem, std::string_view private_key_pem) {
  X509Ptr cert = ParseCertificate(certificate_pem);
  if (!cert) return false;
  BioPtr bio(BIO_new_mem_buf(private_key_pem.data(), static_cast<int>(private_key_pem.size())));
  PkeyPtr key(bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr) : nullptr);
  bool ok = key && X509_check_private_key(cert.get(), key.get()) == 1;
  ERR_clear_error();
  return ok;
}

}  // namespace stratum_guard::certs
