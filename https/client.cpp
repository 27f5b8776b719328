#include "https/client.h"

#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <strings.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <mutex>
#include <stdexcept>

namespace stratum_guard::https {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;
using SteadyTime = std::chrono::steady_clock::time_point;

std::string_view Response::Header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (key.size() == name.size() && strncasecmp(key.data(), name.data(), name.size()) == 0) {
      return value;
    }
  }
  return {};
}

namespace {

Error Transport(std::string message) { return {Error::Kind::kTransport, std::move(message)}; }
Error Cancelled() { return {Error::Kind::kCancelled, "cancelled"}; }

// The TLS settings every connection of a client shares; a new client certificate from the
// credential source means a new context (and no reuse of connections made with the old one).
std::shared_ptr<ssl::context> MakeContext(const ClientOptions& options, const std::string& cert,
                                          const std::string& key) {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_client);
  SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION);
  beast::error_code ec;
  if (options.insecure_skip_verify) {
    ctx->set_verify_mode(ssl::verify_none);
  } else {
    ctx->set_verify_mode(ssl::verify_peer);
    if (!options.ca_pem.empty()) {
      ctx->add_certificate_authority(net::buffer(options.ca_pem), ec);
      if (ec) throw std::invalid_argument("bad certificate authority: " + ec.message());
    } else {
      ctx->set_default_verify_paths(ec);
      if (ec) throw std::invalid_argument("no system certificate store: " + ec.message());
    }
  }
  if (!cert.empty()) {
    ctx->use_certificate_chain(net::buffer(cert), ec);
    if (ec) throw std::invalid_argument("bad client certificate: " + ec.message());
    ctx->use_private_key(net::buffer(key), ssl::context::pem, ec);
    if (ec) throw std::invalid_argument("bad client key: " + ec.message());
  }
  return ctx;
}

// One TLS connection with its own io_context: operations are started asynchronously (so that
// deadlines and cancellation work) and run to completion on the calling thread.
struct Connection {
  explicit Connection(std::shared_ptr<ssl::context> c)
      : ctx(std::move(c)), resolver(ioc), stream(ioc, *ctx) {}
  std::shared_ptr<ssl::context> ctx;  // outlives the stream that refers to it
  net::io_context ioc;
  tcp::resolver resolver;
  beast::ssl_stream<beast::tcp_stream> stream;
  beast::flat_buffer buffer;
  bool reused = false;
};

enum class RunResult { kDone, kCancelled, kTimedOut };

// Runs the connection's io_context until `done` is set by the pending operation's handler.
// When `cancelled` fires or `deadline` passes, the socket's operations are cancelled and the
// loop keeps running until the handler has seen operation_aborted: handlers reference the
// caller's stack, so we never return while one is pending.
RunResult RunUntil(Connection& c, const bool& done, const common::CancelCheck& cancelled,
                   SteadyTime deadline) {
  RunResult result = RunResult::kDone;
  c.ioc.restart();
  while (!done) {
    c.ioc.run_for(std::chrono::milliseconds(50));
    if (done) break;
    if (result == RunResult::kDone) {
      if (cancelled && cancelled()) {
        result = RunResult::kCancelled;
      } else if (std::chrono::steady_clock::now() >= deadline) {
        result = RunResult::kTimedOut;
      }
      if (result != RunResult::kDone) {
        beast::error_code ignored;
        c.resolver.cancel();
        beast::get_lowest_layer(c.stream).socket().cancel(ignored);
      }
    }
    if (c.ioc.stopped()) c.ioc.restart();
  }
  return result;
}

// Starts `start(handler)` and runs it to completion; the handler's error lands in `ec`.
template <typename Start>
RunResult Step(Connection& c, const common::CancelCheck& cancelled, SteadyTime deadline,
               beast::error_code& ec, Start&& start) {
  bool done = false;
  start([&](beast::error_code e, auto&&...) {
    ec = e;
    done = true;
  });
  RunResult run = RunUntil(c, done, cancelled, deadline);
  if (run == RunResult::kTimedOut) ec = beast::error::timeout;
  return run;
}

// What went wrong, in words; our deadlines say "timed out" rather than Beast's phrase.
std::string Describe(const beast::error_code& ec) {
  return ec == beast::error::timeout ? std::string("timed out") : ec.message();
}

bool IsIpLiteral(const std::string& host) {
  beast::error_code ec;
  net::ip::make_address(host, ec);
  return !ec;
}

std::string HostHeader(const ClientOptions& o) {
  bool ipv6 = o.host.find(':') != std::string::npos;
  std::string host = ipv6 ? "[" + o.host + "]" : o.host;
  return o.port == "443" ? host : host + ":" + o.port;
}

// Why a handshake failed, in words: OpenSSL's verify result says which check refused the peer
// ("unable to get local issuer certificate", "hostname mismatch"), the error code does not.
std::string HandshakeError(Connection& c, const beast::error_code& ec) {
  long verify = SSL_get_verify_result(c.stream.native_handle());
  if (verify == X509_V_OK) return Describe(ec);
  return std::string("certificate verify failed: ") + X509_verify_cert_error_string(verify);
}

void CopyHeaders(const http::fields& fields, Response* out) {
  out->headers.clear();
  for (const auto& field : fields) {
    out->headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
  }
}

}  // namespace

struct Client::Impl {
  explicit Impl(ClientOptions o)
      : options(std::move(o)),
        server_name(options.server_name.empty() ? options.host : options.server_name),
        host_header(HostHeader(options)),
        ctx(MakeContext(options, options.client_cert_pem, options.client_key_pem)) {}

  ClientOptions options;
  std::string server_name;
  std::string host_header;
  std::atomic<std::uint64_t> opened{0};
  std::mutex mu;  // guards the fields below
  std::shared_ptr<ssl::context> ctx;
  std::string dynamic_cert;  // the credential source's certificate `ctx` was made with
  std::vector<std::unique_ptr<Connection>> idle;

  // The credentials for the next request, and the TLS context that carries its certificate.
  Error Prepare(const common::CancelCheck& cancelled, Credentials& credentials,
                std::shared_ptr<ssl::context>& context) {
    if (options.credentials) {
      std::string error;
      if (!options.credentials(cancelled, credentials, error)) {
        if (cancelled && cancelled()) return Cancelled();
        return {Error::Kind::kCredentials, "credentials: " + error};
      }
    }
    std::lock_guard lock(mu);
    if (!credentials.client_cert_pem.empty() && credentials.client_cert_pem != dynamic_cert) {
      try {
        ctx = MakeContext(options, credentials.client_cert_pem, credentials.client_key_pem);
      } catch (const std::invalid_argument& e) {
        return {Error::Kind::kCredentials, std::string("credentials: ") + e.what()};
      }
      dynamic_cert = credentials.client_cert_pem;
      idle.clear();  // made with the old certificate
    }
    context = ctx;
    return {};
  }

  std::unique_ptr<Connection> Acquire(const std::shared_ptr<ssl::context>& context) {
    {
      std::lock_guard lock(mu);
      if (!idle.empty() && idle.back()->ctx == context) {
        auto c = std::move(idle.back());
        idle.pop_back();
        c->reused = true;
        return c;
      }
    }
    return std::make_unique<Connection>(context);
  }

  void Release(std::unique_ptr<Connection> c) {
    std::lock_guard lock(mu);
    if (c->ctx == ctx && idle.size() < options.max_idle_connections) idle.push_back(std::move(c));
  }

  Error Connect(Connection& c, const common::CancelCheck& cancelled) {
    SteadyTime deadline = std::chrono::steady_clock::now() + options.connect_timeout;
    beast::error_code ec;
    tcp::resolver::results_type endpoints;
    RunResult run = Step(c, cancelled, deadline, ec, [&](auto handler) {
      c.resolver.async_resolve(
          options.host, options.port,
          [&endpoints, handler](beast::error_code e, tcp::resolver::results_type r) mutable {
            endpoints = std::move(r);
            handler(e);
          });
    });
    if (run == RunResult::kCancelled) return Cancelled();
    if (ec) return Transport("resolve " + options.host + ": " + Describe(ec));

    auto& tcp_stream = beast::get_lowest_layer(c.stream);
    run = Step(c, cancelled, deadline, ec,
               [&](auto handler) { tcp_stream.async_connect(endpoints, handler); });
    if (run == RunResult::kCancelled) return Cancelled();
    if (ec) return Transport("connect " + host_header + ": " + Describe(ec));
    opened.fetch_add(1);

    // SNI carries DNS names only (RFC 6066 forbids IP literals).
    if (!IsIpLiteral(server_name) &&
        !SSL_set_tlsext_host_name(c.stream.native_handle(), server_name.c_str())) {
      return Transport("tls: cannot set SNI");
    }
    if (!options.insecure_skip_verify) {
      c.stream.set_verify_callback(ssl::host_name_verification(server_name));
    }
    run = Step(c, cancelled, deadline, ec,
               [&](auto handler) { c.stream.async_handshake(ssl::stream_base::client, handler); });
    if (run == RunResult::kCancelled) return Cancelled();
    if (ec) return Transport("tls handshake with " + host_header + ": " + HandshakeError(c, ec));
    return {};
  }

  http::request<http::string_body> MakeRequest(const Request& r, const Credentials& credentials) {
    http::verb verb = http::string_to_verb(r.method);
    http::request<http::string_body> req{verb, options.base_path + r.target, 11};
    if (verb == http::verb::unknown) req.method_string(r.method);
    req.set(http::field::host, host_header);
    req.set(http::field::user_agent, options.user_agent);
    req.set(http::field::accept, options.accept);
    if (!credentials.bearer_token.empty()) {
      req.set(http::field::authorization, "Bearer " + credentials.bearer_token);
    }
    for (const auto& [name, value] : r.headers) req.set(name, value);
    if (!r.body.empty()) {
      req.set(http::field::content_type, r.content_type);
      req.body() = r.body;
    }
    req.prepare_payload();
    return req;
  }

  // Fills `c` with a connection (pooled, or new when `pooled` is false) and writes the request
  // on it. On failure `c` says whether the connection was a reused one, which the caller may
  // retry once.
  Error Send(const Request& request, bool pooled, const common::CancelCheck& cancelled,
             std::unique_ptr<Connection>& c, SteadyTime deadline) {
    Credentials credentials;
    std::shared_ptr<ssl::context> context;
    if (Error e = Prepare(cancelled, credentials, context); !e.ok()) return e;
    c = pooled ? Acquire(context) : std::make_unique<Connection>(context);
    if (!c->reused) {
      if (Error e = Connect(*c, cancelled); !e.ok()) return e;
    }
    auto req = MakeRequest(request, credentials);
    beast::error_code ec;
    RunResult run = Step(*c, cancelled, deadline, ec,
                         [&](auto handler) { http::async_write(c->stream, req, handler); });
    if (run == RunResult::kCancelled) return Cancelled();
    if (ec) return Transport("write: " + Describe(ec));
    return {};
  }

  Error ReadError(const char* what, const beast::error_code& ec) {
    if (ec == http::error::body_limit) {
      return Transport(std::string(what) + ": response body over " +
                       std::to_string(options.max_body_bytes) + " bytes");
    }
    return Transport(std::string(what) + ": " + Describe(ec));
  }

  Error DoOnce(const Request& request, Response* out, const common::CancelCheck& cancelled,
               bool* retry) {
    SteadyTime deadline = std::chrono::steady_clock::now() + options.request_timeout;
    std::unique_ptr<Connection> c;
    Error e = Send(request, true, cancelled, c, deadline);
    if (!e.ok()) {
      *retry = e.kind == Error::Kind::kTransport && c && c->reused;
      return e;
    }
    http::response_parser<http::string_body> parser;
    parser.body_limit(options.max_body_bytes);
    beast::error_code ec;
    RunResult run = Step(*c, cancelled, deadline, ec, [&](auto handler) {
      http::async_read(c->stream, c->buffer, parser, handler);
    });
    if (run == RunResult::kCancelled) return Cancelled();
    if (ec) {
      *retry = c->reused && !parser.got_some() && run == RunResult::kDone;
      return ReadError("read", ec);
    }
    auto& res = parser.get();
    out->status = static_cast<int>(res.result_int());
    CopyHeaders(res.base(), out);
    bool keep_alive = res.keep_alive();
    out->body = std::move(res.body());
    if (keep_alive) {
      c->buffer.clear();
      Release(std::move(c));
    }
    return {};
  }
};

Client::Client(ClientOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}

Client::~Client() = default;

std::uint64_t Client::connections_opened() const { return impl_->opened.load(); }

Error Client::Do(const Request& request, Response* response, const common::CancelCheck& cancelled) {
  // A reused keep-alive connection that the server closed while idle fails on first use; that
  // one case is retried on a new connection.
  bool retry = false;
  Error e = impl_->DoOnce(request, response, cancelled, &retry);
  if (!retry) return e;
  retry = false;
  return impl_->DoOnce(request, response, cancelled, &retry);
}

Error Client::Lines(const Request& request, std::chrono::milliseconds idle_timeout,
                    Response* response, const LineVisitor& visit,
                    const common::CancelCheck& cancelled) {
  Impl& impl = *impl_;
  SteadyTime deadline = std::chrono::steady_clock::now() + impl.options.request_timeout;
  // A stream holds its connection for minutes: it never comes from or goes back to the pool.
  std::unique_ptr<Connection> c;
  if (Error e = impl.Send(request, false, cancelled, c, deadline); !e.ok()) return e;

  http::response_parser<http::buffer_body> parser;
  parser.body_limit(boost::none);  // a stream has no end we can know in advance
  beast::error_code ec;
  RunResult run = Step(*c, cancelled, deadline, ec, [&](auto handler) {
    http::async_read_header(c->stream, c->buffer, parser, handler);
  });
  if (run == RunResult::kCancelled) return Cancelled();
  if (ec) return impl.ReadError("read header", ec);
  response->status = static_cast<int>(parser.get().result_int());
  CopyHeaders(parser.get().base(), response);
  bool ok_status = response->status >= 200 && response->status <= 299;

  std::vector<char> chunk(64 * 1024);
  std::string pending;  // bytes of a line not yet complete
  while (!parser.is_done()) {
    parser.get().body().data = chunk.data();
    parser.get().body().size = chunk.size();
    run = Step(*c, cancelled, std::chrono::steady_clock::now() + idle_timeout, ec,
               [&](auto handler) { http::async_read_some(c->stream, c->buffer, parser, handler); });
    if (run == RunResult::kCancelled) return Cancelled();
    if (ec == http::error::need_buffer) ec = {};
    if (ec) return impl.ReadError("read", ec);
    std::size_t n = chunk.size() - parser.get().body().size;
    if (!ok_status) {
      if (response->body.size() + n > impl.options.max_body_bytes) {
        return impl.ReadError("read", http::error::body_limit);
      }
      response->body.append(chunk.data(), n);
      continue;
    }
    pending.append(chunk.data(), n);
    std::size_t start = 0;
    for (std::size_t nl; (nl = pending.find('\n', start)) != std::string::npos; start = nl + 1) {
      std::string line = pending.substr(start, nl - start);
      if (line.find_first_not_of(" \r\t") == std::string::npos) continue;
      if (!visit(line)) return {};
    }
    pending.erase(0, start);
    if (pending.size() > impl.options.max_line_bytes) {
      return Transport("read: a line over " + std::to_string(impl.options.max_line_bytes) +
                       " bytes");
    }
  }
  return {};
}

}  // namespace stratum_guard::https
