#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace stratum_guard::certs {

// In-memory X.509 certificates for development mode and tests, built with OpenSSL 3's EVP
// APIs (ECDSA P-256 keys, SHA-256 signatures). Production certificates come from files (a
// Secret, cert-manager); nothing here is meant to replace a real CA.

struct CertificateSpec {
  std::string common_name = "localhost";
  std::vector<std::string> dns_names = {"localhost"};
  std::vector<std::string> ip_addresses = {"127.0.0.1", "::1"};
  std::chrono::seconds validity = std::chrono::hours(24 * 365);
  // A self-signed development certificate is its own trust anchor: clients load it as their
  // CA file (curl --cacert), so it says CA:TRUE as `openssl req -x509` does.
  bool is_ca = true;
  // Extended key usage. OpenSSL checks it along the whole chain: a CA that signs client
  // certificates must not be limited to serverAuth (set both false on such a CA).
  bool server_auth = true;
  bool client_auth = false;
  // Issue time; nullopt: now. Callers that decide rotations on a simulated clock issue on that
  // clock's time. notAfter is this plus `validity`.
  std::optional<std::chrono::system_clock::time_point> not_before;
  // notBefore is the issue time less this, so that a client whose clock runs slightly behind
  // still accepts a new certificate.
  std::chrono::seconds backdate{60};
};

struct PemPair {
  std::string certificate_pem;
  std::string private_key_pem;  // PKCS#8
};

// Issues a certificate for `spec`, signed by `issuer` or, when issuer is nullptr, by its own
// new key (self-signed). Throws std::runtime_error with OpenSSL's reason on failure (a
// configuration-time error: a bad IP address string, an issuer key that does not parse).
PemPair IssueCertificate(const CertificateSpec& spec, const PemPair* issuer = nullptr);

// The certificate `serve` uses without --tls-cert/--tls-key: self-signed for localhost,
// 127.0.0.1 and ::1, valid for a year.
PemPair DevelopmentCertificate();

// The notAfter time of the first certificate in `pem`, or nullopt if it does not parse.
std::optional<std::chrono::system_clock::time_point> CertificateNotAfter(std::string_view pem);
// Its notBefore time, likewise.
std::optional<std::chrono::system_clock::time_point> CertificateNotBefore(std::string_view pem);

// Whether the first certificate in `certificate_pem` carries a valid signature by the key of the
// first certificate in `ca_pem`. False when either does not parse. Checks the signature only,
// not dates or names: enough to tell which of two CAs issued a certificate.
bool IsSignedBy(std::string_view certificate_pem, std::string_view ca_pem);

// Whether the first certificate in `pem` is valid for DNS name `host` (its subjectAltName).
bool CertificateCoversHost(std::string_view pem, const std::string& host);

// Whether `private_key_pem` is the key of the first certificate in `certificate_pem`.
bool KeyMatchesCertificate(std::string_view certificate_pem, std::string_view private_key_pem);

}  // namespace stratum_guard::certs
