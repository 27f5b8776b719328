#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/clock.h"

namespace stratum_guard::https {

// How one call ended. Calls return this instead of throwing: a caller on a loop (the sweeper)
// must never be ended by an exception from the network.
struct Error {
  enum class Kind {
    kNone,         // a response arrived (whatever its status)
    kTransport,    // DNS, connect, TLS, timeout, a broken or oversized response
    kCredentials,  // the credential source could not supply credentials
    kCancelled,    // the caller's cancel check fired
  };
  Kind kind = Kind::kNone;
  std::string message;  // "connect 127.0.0.1:1: Connection refused"

  bool ok() const { return kind == Kind::kNone; }
};

using Headers = std::vector<std::pair<std::string, std::string>>;

struct Request {
  std::string method = "GET";
  std::string target;  // path and query, appended to the client's base path
  std::string body;    // sent with `content_type` when not empty
  std::string content_type = "application/json";
  Headers headers;  // extra request headers
};

struct Response {
  int status = 0;
  Headers headers;
  std::string body;
  // The first header called `name` (case-insensitive), or "".
  std::string_view Header(std::string_view name) const;
};

// What authenticates a request: a bearer token, a client certificate, both or neither.
struct Credentials {
  std::string bearer_token;
  std::string client_cert_pem;  // with client_key_pem; overrides the static one when set
  std::string client_key_pem;
};

// Called before every request, so a token file can be re-read or an exec plugin run when its
// credential expired. Returns false with `error` set when there are no credentials to be had.
// `cancelled` is the call's own check: a source that blocks (a plugin) gives up when it fires.
using CredentialSource = std::function<bool(const common::CancelCheck& cancelled,
                                            Credentials& credentials, std::string& error)>;

// One HTTPS server, as every client of the project reaches one (the Kubernetes API server, a
// container registry). Defaults in the table; mistakes in PEM material throw at construction.
struct ClientOptions {
  std::string host;  // DNS name or IP literal (no brackets)
  std::string port = "443";
  std::string base_path;    // prefix of every target, without a trailing '/' (usually "")
  std::string server_name;  // the name verified and sent as SNI; empty: `host`
  std::string ca_pem;       // trusted CAs; empty: the system's default store
  bool insecure_skip_verify = false;
  std::string client_cert_pem;  // a static client certificate (with its key)
  std::string client_key_pem;
  CredentialSource credentials;                         // optional; asked before every request
  std::chrono::milliseconds connect_timeout{10'000};    // resolve + TCP + TLS handshake
  std::chrono::milliseconds request_timeout{30'000};    // write + full response; stream headers
  std::size_t max_body_bytes = std::size_t{256} << 20;  // one response of Do()
  std::size_t max_line_bytes = std::size_t{16} << 20;   // one line of Lines()
  std::size_t max_idle_connections = 4;
  std::string user_agent = "stratum-guard";
  std::string accept = "application/json";
};

// Called once per complete non-blank line of a streamed 2xx body, without its '\n'. The line
// may be modified in place (parsed in situ). Returning false ends the stream.
using LineVisitor = std::function<bool(std::string& line)>;

// A blocking HTTP/1.1 client over TLS (Boost.Beast and OpenSSL). Each call runs on the calling
// thread, on a private io_context per connection, so several threads can each block on their
// own call. Idle keep-alive connections are pooled; a stream gets a connection of its own.
// Every step (resolve, connect, handshake, write, read) has a deadline and stops within about
// 50 ms of `cancelled` turning true, so a stalled server never holds a shutdown. Thread-safe.
class Client {
 public:
  // Throws std::invalid_argument when the CA or the client certificate or key cannot be loaded.
  explicit Client(ClientOptions options);
  ~Client();
  Client(const Client&) = delete;  // owns sockets and a TLS context
  Client& operator=(const Client&) = delete;

  // One request and its whole response (up to max_body_bytes). A non-2xx status is a response,
  // not an error. A pooled connection the server closed while idle is retried once on a new one.
  Error Do(const Request& request, Response* response, const common::CancelCheck& cancelled);

  // A request whose 2xx body is a stream of lines (a Kubernetes watch): `visit` sees each line
  // as it arrives, with up to `idle_timeout` of silence tolerated between reads. A non-2xx body
  // is collected into `response->body` instead (up to max_body_bytes). Returns ok when the
  // server ends the stream or `visit` returns false.
  Error Lines(const Request& request, std::chrono::milliseconds idle_timeout, Response* response,
              const LineVisitor& visit, const common::CancelCheck& cancelled);

  // TCP connections opened so far (tests show reuse with it).
  std::uint64_t connections_opened() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace stratum_guard::https
