#include "server/tls_context.h"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <boost/asio/buffer.hpp>
#include <stdexcept>

namespace stratum_guard::server {

namespace ssl = boost::asio::ssl;

std::shared_ptr<ssl::context> MakeServerTlsContext(const TlsMaterial& material) {
  auto context = std::make_shared<ssl::context>(ssl::context::tls_server);
  SSL_CTX* native = context->native_handle();
  if (SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION) != 1) {
    throw std::runtime_error("cannot require TLS 1.2");
  }
  context->set_options(ssl::context::default_workarounds | ssl::context::no_compression |
                       ssl::context::single_dh_use | SSL_OP_NO_RENEGOTIATION |
                       SSL_OP_CIPHER_SERVER_PREFERENCE);
  // TLS 1.2: forward secrecy and AEAD only (Mozilla "intermediate"). TLS 1.3 suites are all
  // modern and stay at OpenSSL's defaults.
  if (SSL_CTX_set_cipher_list(native,
                              "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
                              "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
                              "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305") != 1) {
    throw std::runtime_error("cannot set the TLS 1.2 cipher list");
  }
  boost::system::error_code ec;
  context->use_certificate_chain(
      boost::asio::buffer(material.certificate_pem.data(), material.certificate_pem.size()), ec);
  if (ec) throw std::runtime_error("certificate: " + ec.message());
  context->use_private_key(
      boost::asio::buffer(material.private_key_pem.data(), material.private_key_pem.size()),
      ssl::context::pem, ec);
  if (ec) throw std::runtime_error("private key: " + ec.message());
  if (SSL_CTX_check_private_key(native) != 1) {
    ERR_clear_error();
    throw std::runtime_error("private key does not match the certificate");
  }
  if (!material.client_ca_pem.empty()) {
    context->add_certificate_authority(
        boost::asio::buffer(material.client_ca_pem.data(), material.client_ca_pem.size()), ec);
    if (ec) throw std::runtime_error("client CA: " + ec.message());
    context->set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert);
    // Required by OpenSSL when peers are verified and sessions may be resumed.
    static constexpr unsigned char kSessionContext[] = "stratum-guard";
    SSL_CTX_set_session_id_context(native, kSessionContext, sizeof kSessionContext - 1);
  }
  return context;
}

}  // namespace stratum_guard::server
