#pragma once
// A TLS server on 127.0.0.1 whose every answer a test scripts, one thread per connection, every
// step synchronous: for clients of servers we do not run ourselves (the HTTPS client's own
// tests, a container registry's token server and redirects). Uses the fake API server's test PKI.

#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/socket.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <condition_variable>
#include <functional>
#include <list>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "https/client.h"
#include "test/fake_apiserver/certs.h"

namespace stratum_guard::testing {

namespace tls_server_detail {
namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;
using fake_apiserver::GenerateTestPki;
using fake_apiserver::TestPki;
using https::ClientOptions;

using Stream = beast::ssl_stream<tcp::socket>;
using ServerRequest = http::request<http::string_body>;

inline const TestPki& Pki() {
  static const TestPki pki = GenerateTestPki();
  return pki;
}

// What the server does with one request. Returns false to close the connection after it.
using Handler = std::function<bool(Stream& stream, const ServerRequest& request)>;

inline bool Reply(Stream& stream, const ServerRequest& request, int status, std::string body) {
  http::response<http::string_body> res{static_cast<http::status>(status), request.version()};
  res.set("X-Test", "yes");
  res.keep_alive(request.keep_alive());
  res.body() = std::move(body);
  res.prepare_payload();
  beast::error_code ec;
  http::write(stream, res, ec);
  return !ec;
}

// A TLS server with one thread per connection, every step synchronous. It asks for a client
// certificate without requiring one, and records what it saw.
class TlsServer {
 public:
  // Without `handshake`, a connection is accepted, `on_stalled_connection` called, and the TLS
  // handshake never answered.
  explicit TlsServer(Handler handler, bool handshake = true,
                     std::function<void()> on_stalled_connection = nullptr)
      : handler_(std::move(handler)),
        handshake_(handshake),
        on_stalled_connection_(std::move(on_stalled_connection)),
        ctx_(ssl::context::tls_server) {
    ctx_.use_certificate_chain(net::buffer(Pki().server_cert_pem));
    ctx_.use_private_key(net::buffer(Pki().server_key_pem), ssl::context::pem);
    ctx_.add_certificate_authority(net::buffer(Pki().ca_pem));
    ctx_.set_verify_mode(ssl::verify_peer);
    ctx_.set_verify_callback([](bool, ssl::verify_context&) { return true; });
    tcp::endpoint endpoint(net::ip::make_address("127.0.0.1"), 0);
    acceptor_.open(endpoint.protocol());
    acceptor_.bind(endpoint);
    acceptor_.listen();
    accept_thread_ = std::thread([this] { AcceptLoop(); });
  }

  ~TlsServer() {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
      changed_.notify_all();
    }
    ::shutdown(acceptor_.native_handle(), SHUT_RDWR);
    accept_thread_.join();
    std::list<std::pair<std::thread, int>> conns;
    {
      std::lock_guard lock(mu_);
      conns.swap(conns_);
    }
    for (auto& [thread, fd] : conns) ::shutdown(fd, SHUT_RDWR);
    for (auto& [thread, fd] : conns) thread.join();
  }

  ClientOptions Options() const {
    ClientOptions o;
    o.host = "127.0.0.1";
    o.port = std::to_string(acceptor_.local_endpoint().port());
    o.ca_pem = Pki().ca_pem;
    return o;
  }

  // Blocks a handler until the server stops: a server that accepted and never answers.
  void Stall() {
    std::unique_lock lock(mu_);
    changed_.wait(lock, [this] { return stopping_; });
  }

  int accepted() const {
    std::lock_guard lock(mu_);
    return accepted_;
  }
  std::vector<std::string> client_names() const {
    std::lock_guard lock(mu_);
    return client_names_;
  }
  std::vector<std::string> authorizations() const {
    std::lock_guard lock(mu_);
    return authorizations_;
  }

 private:
  void AcceptLoop() {
    while (true) {
      beast::error_code ec;
      tcp::socket socket(io_);
      acceptor_.accept(socket, ec);
      std::lock_guard lock(mu_);
      if (ec || stopping_) return;
      ++accepted_;
      int fd = socket.native_handle();
      conns_.emplace_back(
          std::thread([this, s = std::move(socket)]() mutable { Serve(std::move(s)); }), fd);
    }
  }

  void Serve(tcp::socket socket) {
    Stream stream(std::move(socket), ctx_);
    if (!handshake_) {
      if (on_stalled_connection_) on_stalled_connection_();
      return Stall();
    }
    beast::error_code ec;
    stream.handshake(ssl::stream_base::server, ec);
    if (ec) return;
    RecordPeer(stream);
    beast::flat_buffer buffer;
    while (true) {
      ServerRequest request;
      http::read(stream, buffer, request, ec);
      if (ec) return;
      {
        std::lock_guard lock(mu_);
        authorizations_.emplace_back(request[http::field::authorization]);
      }
      if (!handler_(stream, request) || !request.keep_alive()) break;
    }
    stream.shutdown(ec);
  }

  void RecordPeer(Stream& stream) {
    std::string name;
    if (X509* peer = SSL_get1_peer_certificate(stream.native_handle())) {
      char cn[256] = {};
      X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, cn, sizeof cn);
      name = cn;
      X509_free(peer);
    }
    std::lock_guard lock(mu_);
    client_names_.push_back(name);
  }

  Handler handler_;
  bool handshake_;
  std::function<void()> on_stalled_connection_;
  ssl::context ctx_;
  net::io_context io_;
  tcp::acceptor acceptor_{io_};
  std::thread accept_thread_;
  mutable std::mutex mu_;
  std::condition_variable changed_;
  bool stopping_ = false;
  int accepted_ = 0;
  std::vector<std::string> client_names_;
  std::vector<std::string> authorizations_;
  std::list<std::pair<std::thread, int>> conns_;
};

}  // namespace tls_server_detail

using tls_server_detail::Handler;
using tls_server_detail::Pki;
using tls_server_detail::Reply;
using tls_server_detail::ServerRequest;
using tls_server_detail::Stream;
using tls_server_detail::TlsServer;

}  // namespace stratum_guard::testing
