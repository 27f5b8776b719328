#pragma once

#include <atomic>
#include <boost/asio/ssl/context.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>

namespace stratum_guard::server {

// What a serving TLS configuration is made of, as PEM text.
struct TlsMaterial {
  std::string certificate_pem;  // leaf first, then intermediates
  std::string private_key_pem;
  std::string client_ca_pem;  // empty: no client certificate is asked for
};

// Builds a server context: TLS 1.2 and 1.3 only, ECDHE with AEAD ciphers for 1.2, no
// compression, no renegotiation, server cipher preference. With a client CA, a client
// certificate is required and verified against it. Throws std::runtime_error when the
// material does not load (bad PEM, key not matching the certificate). Configuration-time only.
std::shared_ptr<boost::asio::ssl::context> MakeServerTlsContext(const TlsMaterial& material);

// The context for new connections. A reload swaps in a new context; a connection keeps the
// one it started with (a shared_ptr), so reloads never disturb connections in flight.
// Thread-safe.
class TlsContextStore {
 public:
  std::shared_ptr<boost::asio::ssl::context> Get() const {
    return current_.load(std::memory_order_acquire);
  }
  void Set(std::shared_ptr<boost::asio::ssl::context> next) {
    current_.store(std::move(next), std::memory_order_release);
  }

 private:
  std::atomic<std::shared_ptr<boost::asio::ssl::context>> current_;
};

}  // namespace stratum_guard::server
