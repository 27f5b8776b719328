#include "test/fake_apiserver/certs.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>
#include <stdexcept>

namespace stratum_guard::fake_apiserver {
namespace {

using Key = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;
using Cert = std::unique_ptr<X509, decltype(&X509_free)>;

void Check(bool ok, const char* what) {
  if (!ok) throw std::runtime_error(std::string("test PKI: ") + what);
}

Key NewKey() {
  Key key(EVP_EC_gen("P-256"), EVP_PKEY_free);
  Check(key != nullptr, "EC key generation");
  return key;
}

void AddExt(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  Check(ext != nullptr, "extension");
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
}

Cert NewCert(EVP_PKEY* key, const char* cn, long serial, X509* issuer, EVP_PKEY* issuer_key) {
  Cert cert(X509_new(), X509_free);
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), serial);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 86400);
  X509_set_pubkey(cert.get(), key);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn),
                             -1, -1, 0);
  X509_set_issuer_name(cert.get(), issuer ? X509_get_subject_name(issuer) : name);
  (void)issuer_key;
  return cert;
}

std::string Pem(X509* cert) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(bio, cert);
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<std::size_t>(n));
  BIO_free(bio);
  return out;
}

std::string Pem(EVP_PKEY* key) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<std::size_t>(n));
  BIO_free(bio);
  return out;
}

}  // namespace

TestPki GenerateTestPki() {
  TestPki pki;
  Key ca_key = NewKey();
  Cert ca = NewCert(ca_key.get(), "fake-apiserver-ca", 1, nullptr, nullptr);
  AddExt(ca.get(), ca.get(), NID_basic_constraints, "critical,CA:TRUE");
  AddExt(ca.get(), ca.get(), NID_key_usage, "critical,keyCertSign,cRLSign");
  AddExt(ca.get(), ca.get(), NID_subject_key_identifier, "hash");
  Check(X509_sign(ca.get(), ca_key.get(), EVP_sha256()) > 0, "sign CA");

  Key server_key = NewKey();
  Cert server = NewCert(server_key.get(), "fake-apiserver", 2, ca.get(), ca_key.get());
  AddExt(server.get(), ca.get(), NID_basic_constraints, "critical,CA:FALSE");
  AddExt(server.get(), ca.get(), NID_key_usage, "critical,digitalSignature");
  AddExt(server.get(), ca.get(), NID_ext_key_usage, "serverAuth");
  AddExt(server.get(), ca.get(), NID_subject_alt_name, "IP:127.0.0.1,IP:::1,DNS:localhost");
  Check(X509_sign(server.get(), ca_key.get(), EVP_sha256()) > 0, "sign server");

  Key client_key = NewKey();
  Cert client = NewCert(client_key.get(), "cert-user", 3, ca.get(), ca_key.get());
  AddExt(client.get(), ca.get(), NID_basic_constraints, "critical,CA:FALSE");
  AddExt(client.get(), ca.get(), NID_key_usage, "critical,digitalSignature");
  AddExt(client.get(), ca.get(), NID_ext_key_usage, "clientAuth");
  Check(X509_sign(client.get(), ca_key.get(), EVP_sha256()) > 0, "sign client");

  pki.ca_pem = Pem(ca.get());
  pki.server_cert_pem = Pem(server.get());
  pki.server_key_pem = Pem(server_key.get());
  pki.client_cert_pem = Pem(client.get());
  pki.client_key_pem = Pem(client_key.get());
  return pki;
}

}  // namespace stratum_guard::fake_apiserver
