#include "test/testing/tls_client.h"

#include <openssl/ssl.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/version.hpp>

namespace stratum_guard::testing {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
namespace ssl = net::ssl;
using net::ip::tcp;

HttpClient::HttpClient(std::chrono::milliseconds timeout) : timeout_(timeout) {}
HttpClient::~HttpClient() = default;

template <typename Operation>
void HttpClient::Run(Operation&& operation) {
  beast::error_code result;
  bool done = false;
  beast::tcp_stream& lowest = tls_ ? beast::get_lowest_layer(*tls_) : *plain_;
  lowest.expires_after(timeout_);
  operation([&](beast::error_code ec, auto&&...) {
    result = ec;
    done = true;
  });
  io_.restart();
  io_.run();
  if (!done) throw boost::system::system_error(net::error::timed_out, "operation did not finish");
  if (result) throw boost::system::system_error(result);
}

std::unique_ptr<HttpClient> HttpClient::Tls(const std::string& host, unsigned short port,
                                            const ClientTls& tls,
                                            std::chrono::milliseconds timeout) {
  std::unique_ptr<HttpClient> client(new HttpClient(timeout));
  client->context_ = std::make_unique<ssl::context>(ssl::context::tls_client);
  if (!tls.ca_pem.empty()) {
    client->context_->add_certificate_authority(net::buffer(tls.ca_pem));
    client->context_->set_verify_mode(ssl::verify_peer);
  } else {
    client->context_->set_verify_mode(ssl::verify_none);
  }
  if (!tls.cert_pem.empty()) {
    client->context_->use_certificate_chain(net::buffer(tls.cert_pem));
    client->context_->use_private_key(net::buffer(tls.key_pem), ssl::context::pem);
  }
  client->tls_ =
      std::make_unique<beast::ssl_stream<beast::tcp_stream>>(client->io_, *client->context_);
  if (!tls.server_name.empty()) {
    SSL_set_tlsext_host_name(client->tls_->native_handle(), tls.server_name.c_str());
    if (!tls.ca_pem.empty()) {
      client->tls_->set_verify_callback(ssl::host_name_verification(tls.server_name));
    }
  }
  tcp::endpoint endpoint(net::ip::make_address(host), port);
  client->Run([&](auto handler) {
    beast::get_lowest_layer(*client->tls_).async_connect(endpoint, handler);
  });
  client->Run(
      [&](auto handler) { client->tls_->async_handshake(ssl::stream_base::client, handler); });
  return client;
}

std::unique_ptr<HttpClient> HttpClient::Plain(const std::string& host, unsigned short port,
                                              std::chrono::milliseconds timeout) {
  std::unique_ptr<HttpClient> client(new HttpClient(timeout));
  client->plain_ = std::make_unique<beast::tcp_stream>(client->io_);
  tcp::endpoint endpoint(net::ip::make_address(host), port);
  client->Run([&](auto handler) { client->plain_->async_connect(endpoint, handler); });
  return client;
}

Response HttpClient::Send(http::verb method, std::string_view target, std::string body,
                          std::string_view content_type, const std::vector<Header>& headers) {
  http::request<http::string_body> request{method, target, 11};
  request.set(http::field::host, "localhost");
  request.set(http::field::user_agent, "stratum-guard-test");
  if (!content_type.empty()) request.set(http::field::content_type, content_type);
  for (const Header& h : headers) request.set(h.name, h.value);
  request.body() = std::move(body);
  if (method == http::verb::post || !request.body().empty()) request.prepare_payload();
  if (tls_) {
    Run([&](auto handler) { http::async_write(*tls_, request, handler); });
  } else {
    Run([&](auto handler) { http::async_write(*plain_, request, handler); });
  }
  return ReadResponse();
}

void HttpClient::WriteRaw(std::string_view bytes) {
  if (tls_) {
    Run([&](auto handler) { net::async_write(*tls_, net::buffer(bytes), handler); });
  } else {
    Run([&](auto handler) { net::async_write(*plain_, net::buffer(bytes), handler); });
  }
}

Response HttpClient::ReadResponse() {
  http::response_parser<http::string_body> parser;
  parser.body_limit(64 << 20);
  if (tls_) {
    Run([&](auto handler) { http::async_read(*tls_, buffer_, parser, handler); });
  } else {
    Run([&](auto handler) { http::async_read(*plain_, buffer_, parser, handler); });
  }
  return parser.release();
}

bool HttpClient::ClosedByPeerWithin(std::chrono::milliseconds timeout) {
  auto saved = timeout_;
  timeout_ = timeout;
  bool closed = false;
  try {
    for (;;) {
      char scratch[4096];
      if (tls_) {
        Run([&](auto handler) { tls_->async_read_some(net::buffer(scratch), handler); });
      } else {
        Run([&](auto handler) { plain_->async_read_some(net::buffer(scratch), handler); });
      }
    }
  } catch (const boost::system::system_error& e) {
    closed = e.code() != beast::error::timeout && e.code() != net::error::timed_out;
  }
  timeout_ = saved;
  return closed;
}

Response TlsRequest(unsigned short port, const ClientTls& tls, http::verb method,
                    std::string_view target, std::string body, std::string_view content_type) {
  auto client = HttpClient::Tls("127.0.0.1", port, tls);
  return client->Send(method, target, std::move(body), content_type);
}

Response PlainGet(unsigned short port, std::string_view target) {
  auto client = HttpClient::Plain("127.0.0.1", port);
  return client->Get(target);
}

}  // namespace stratum_guard::testing
