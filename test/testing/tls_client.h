#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <string_view>

namespace stratum_guard::testing {

using Response = boost::beast::http::response<boost::beast::http::string_body>;

// TLS settings of a test client, as PEM text.
struct ClientTls {
  std::string ca_pem;    // trusted to sign the server's certificate; empty: no verification
  std::string cert_pem;  // client certificate for --client-ca servers; empty: none
  std::string key_pem;
  std::string server_name = "localhost";  // SNI and the name verified in the certificate
};

struct Header {
  std::string name;
  std::string value;
};

// A blocking HTTP/1.1 client over TLS (or plain TCP with Plain()) for tests: every step runs
// under a timeout, so a test never hangs on a server that stopped answering. One connection,
// reused across Send() calls (keep-alive). Not thread-safe: one per thread.
class HttpClient {
 public:
  // Connects and (for TLS) handshakes. Throws boost::system::system_error on failure.
  static std::unique_ptr<HttpClient> Tls(
      const std::string& host, unsigned short port, const ClientTls& tls,
      std::chrono::milliseconds timeout = std::chrono::seconds(10));
  static std::unique_ptr<HttpClient> Plain(
      const std::string& host, unsigned short port,
      std::chrono::milliseconds timeout = std::chrono::seconds(10));
  ~HttpClient();

  // Sends one request and reads its response. Throws boost::system::system_error on
  // transport errors (closed connection, timeout).
  Response Send(boost::beast::http::verb method, std::string_view target, std::string body = "",
                std::string_view content_type = "application/json",
                const std::vector<Header>& headers = {});
  Response Post(std::string_view target, std::string body) {
    return Send(boost::beast::http::verb::post, target, std::move(body));
  }
  Response Get(std::string_view target) {
    return Send(boost::beast::http::verb::get, target, "", "");
  }

  // Writes raw bytes (a partial request, garbage) on the connection.
  void WriteRaw(std::string_view bytes);
  // Reads one response after WriteRaw. Throws like Send().
  Response ReadResponse();
  // Whether the server closes the connection within `timeout` (a read ends in EOF or an
  // error rather than a timeout). Consumes whatever the server sends before closing.
  bool ClosedByPeerWithin(std::chrono::milliseconds timeout);

 private:
  HttpClient(std::chrono::milliseconds timeout);
  template <typename Operation>
  void Run(Operation&& operation);

  std::chrono::milliseconds timeout_;
  boost::asio::io_context io_;
  std::unique_ptr<boost::asio::ssl::context> context_;
  std::unique_ptr<boost::beast::ssl_stream<boost::beast::tcp_stream>> tls_;
  std::unique_ptr<boost::beast::tcp_stream> plain_;
  boost::beast::flat_buffer buffer_;
};

// One request on a fresh TLS connection.
Response TlsRequest(unsigned short port, const ClientTls& tls, boost::beast::http::verb method,
                    std::string_view target, std::string body = "",
                    std::string_view content_type = "application/json");
// One GET on a fresh plain connection (the metrics port).
Response PlainGet(unsigned short port, std::string_view target);

}  // namespace stratum_guard::testing
