#include "kube/kube_client.h"

#include <openssl/ssl.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <mutex>
#include <vector>

#include "common/files.h"

namespace stratum_guard::kube {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;

std::string QueryEscape(std::string_view value) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(value.size());
  for (unsigned char c : value) {
    bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                      c == '-' || c == '.' || c == '_' || c == '~';
    if (unreserved) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xf]);
    }
  }
  return out;
}

namespace {

// One TLS connection with its own io_context: operations are started asynchronously (so that
// timeouts and cancellation work) and run to completion on the calling thread.
struct Connection {
  explicit Connection(ssl::context& ctx) : stream(ioc, ctx) {}
  net::io_context ioc;
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
                   std::chrono::steady_clock::time_point deadline) {
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
        beast::get_lowest_layer(c.stream).socket().cancel(ignored);
      }
    }
    if (c.ioc.stopped()) c.ioc.restart();
  }
  return result;
}

bool IsIpLiteral(const std::string& host) {
  beast::error_code ec;
  net::ip::make_address(host, ec);
  return !ec;
}

struct Response {
  int status = 0;
  std::string body;
  std::string retry_after;
};

}  // namespace

struct KubeClient::Impl {
  Impl(ClusterConfig c, Options o)
      : config(std::move(c)), options(std::move(o)), ctx(ssl::context::tls_client) {
    SSL_CTX_set_min_proto_version(ctx.native_handle(), TLS1_2_VERSION);
    beast::error_code ec;
    if (config.insecure_skip_tls_verify) {
      ctx.set_verify_mode(ssl::verify_none);
    } else {
      ctx.set_verify_mode(ssl::verify_peer);
      if (!config.ca_pem.empty()) {
        ctx.add_certificate_authority(net::buffer(config.ca_pem), ec);
        if (ec)
          throw KubeConfigError(config.source + ": bad certificate authority: " + ec.message());
      } else {
        ctx.set_default_verify_paths(ec);
      }
    }
    if (!config.client_cert_pem.empty()) {
      ctx.use_certificate_chain(net::buffer(config.client_cert_pem), ec);
      if (ec) throw KubeConfigError(config.source + ": bad client certificate: " + ec.message());
      ctx.use_private_key(net::buffer(config.client_key_pem), ssl::context::pem, ec);
      if (ec) throw KubeConfigError(config.source + ": bad client key: " + ec.message());
    }
    server_name = config.tls_server_name.empty() ? config.host : config.tls_server_name;
    bool ipv6 = config.host.find(':') != std::string::npos;
    host_header = (ipv6 ? "[" + config.host + "]" : config.host);
    if (config.port != "443") host_header += ":" + config.port;
  }

  ClusterConfig config;
  Options options;
  ssl::context ctx;
  std::string server_name;
  std::string host_header;
  std::mutex pool_mu;
  std::vector<std::unique_ptr<Connection>> idle;
  std::atomic<std::uint64_t>* opened = nullptr;

  // The bearer token for the next request: re-read from the file each time.
  KubeError Token(std::string* token) {
    if (!config.token_file.empty()) {
      std::string error;
      auto text = common::ReadFile(config.token_file, &error);
      if (!text) return KubeError::Transport("token file: " + error);
      std::string_view t = *text;
      while (!t.empty() && (t.back() == '\n' || t.back() == '\r' || t.back() == ' ')) {
        t.remove_suffix(1);
      }
      *token = std::string(t);
    } else {
      *token = config.token;
    }
    return {};
  }

  std::unique_ptr<Connection> Acquire() {
    {
      std::lock_guard lock(pool_mu);
      if (!idle.empty()) {
        auto c = std::move(idle.back());
        idle.pop_back();
        c->reused = true;
        return c;
      }
    }
    return std::make_unique<Connection>(ctx);
  }

  void Release(std::unique_ptr<Connection> c) {
    std::lock_guard lock(pool_mu);
    if (idle.size() < options.max_idle_connections) idle.push_back(std::move(c));
  }

  KubeError Connect(Connection& c, const common::CancelCheck& cancelled) {
    auto deadline = std::chrono::steady_clock::now() + options.connect_timeout;
    tcp::resolver resolver(c.ioc);
    bool done = false;
    beast::error_code ec;
    tcp::resolver::results_type endpoints;
    resolver.async_resolve(config.host, config.port,
                           [&](beast::error_code e, tcp::resolver::results_type r) {
                             ec = e;
                             endpoints = std::move(r);
                             done = true;
                           });
    RunResult run = RunUntil(c, done, cancelled, deadline);
    if (run == RunResult::kCancelled) return KubeError::Cancelled();
    if (run == RunResult::kTimedOut) return KubeError::Transport("resolve: timed out");
    if (ec) return KubeError::Transport("resolve " + config.host + ": " + ec.message());

    auto& tcp_stream = beast::get_lowest_layer(c.stream);
    tcp_stream.expires_after(options.connect_timeout);
    done = false;
    tcp_stream.async_connect(endpoints, [&](beast::error_code e, const tcp::endpoint&) {
      ec = e;
      done = true;
    });
    run = RunUntil(c, done, cancelled, deadline);
    if (run == RunResult::kCancelled) return KubeError::Cancelled();
    if (ec) return KubeError::Transport("connect " + host_header + ": " + ec.message());
    if (opened) opened->fetch_add(1);

    // SNI carries DNS names only (RFC 6066 forbids IP literals).
    if (!IsIpLiteral(server_name) &&
        !SSL_set_tlsext_host_name(c.stream.native_handle(), server_name.c_str())) {
      return KubeError::Transport("tls: cannot set SNI");
    }
    if (!config.insecure_skip_tls_verify) {
      c.stream.set_verify_callback(ssl::host_name_verification(server_name));
    }
    tcp_stream.expires_after(options.connect_timeout);
    done = false;
    c.stream.async_handshake(ssl::stream_base::client, [&](beast::error_code e) {
      ec = e;
      done = true;
    });
    run = RunUntil(c, done, cancelled, deadline);
    if (run == RunResult::kCancelled) return KubeError::Cancelled();
    if (ec) return KubeError::Transport("tls handshake with " + host_header + ": " + ec.message());
    return {};
  }

  http::request<http::string_body> MakeRequest(http::verb verb, const std::string& target,
                                               const std::string& token, std::string body) {
    http::request<http::string_body> req{verb, config.base_path + target, 11};
    req.set(http::field::host, host_header);
    req.set(http::field::user_agent, options.user_agent);
    req.set(http::field::accept, "application/json");
    if (!token.empty()) req.set(http::field::authorization, "Bearer " + token);
    if (!body.empty()) {
      req.set(http::field::content_type, "application/json");
      req.body() = std::move(body);
    }
    req.prepare_payload();
    return req;
  }

  KubeError Write(Connection& c, http::request<http::string_body>& req,
                  const common::CancelCheck& cancelled) {
    bool done = false;
    beast::error_code ec;
    beast::get_lowest_layer(c.stream).expires_after(options.request_timeout);
    http::async_write(c.stream, req, [&](beast::error_code e, std::size_t) {
      ec = e;
      done = true;
    });
    auto run =
        RunUntil(c, done, cancelled, std::chrono::steady_clock::now() + options.request_timeout);
    if (run == RunResult::kCancelled) return KubeError::Cancelled();
    if (ec) return KubeError::Transport("write: " + ec.message());
    return {};
  }

  // One request/response on a pooled connection. A reused keep-alive connection that the
  // server closed while idle fails on first use; that one case is retried on a new connection.
  KubeError Do(http::verb verb, const std::string& target, const std::string& body, Response* out) {
    std::string token;
    if (KubeError e = Token(&token); !e.ok()) return e;
    for (int attempt = 0; attempt < 2; ++attempt) {
      auto c = Acquire();
      if (!c->reused) {
        if (KubeError e = Connect(*c, nullptr); !e.ok()) return e;
      }
      auto req = MakeRequest(verb, target, token, body);
      KubeError e = Write(*c, req, nullptr);
      if (!e.ok()) {
        if (c->reused) continue;
        return e;
      }
      http::response_parser<http::string_body> parser;
      parser.body_limit(options.max_body_bytes);
      bool done = false;
      beast::error_code ec;
      beast::get_lowest_layer(c->stream).expires_after(options.request_timeout);
      http::async_read(c->stream, c->buffer, parser, [&](beast::error_code e2, std::size_t) {
        ec = e2;
        done = true;
      });
      RunUntil(*c, done, nullptr, std::chrono::steady_clock::now() + options.request_timeout);
      if (ec) {
        bool nothing_read = !parser.got_some();
        if (c->reused && nothing_read) continue;
        return KubeError::Transport("read: " + ec.message());
      }
      auto& res = parser.get();
      out->status = static_cast<int>(res.result_int());
      out->retry_after = std::string(res[http::field::retry_after]);
      bool keep_alive = res.keep_alive();
      out->body = std::move(res.body());
      if (keep_alive) {
        c->buffer.clear();
        Release(std::move(c));
      }
      return {};
    }
    return KubeError::Transport("connection closed by the server");
  }

  // Do() plus: non-2xx decoded from its Status; 2xx bodies parsed in place into `doc`.
  KubeError Json(http::verb verb, const std::string& target, const std::string& body,
                 std::string* storage, rapidjson::Document* doc) {
    Response res;
    if (KubeError e = Do(verb, target, body, &res); !e.ok()) return e;
    if (res.status < 200 || res.status > 299) {
      return DecodeStatus(res.status, res.body, res.retry_after);
    }
    if (doc == nullptr) return {};
    *storage = std::move(res.body);
    doc->ParseInsitu(storage->data());
    if (doc->HasParseError() || !doc->IsObject()) {
      return KubeError::Decode("response to " + target + " is not a JSON object");
    }
    return {};
  }
};

KubeClient::KubeClient(ClusterConfig config) : KubeClient(std::move(config), Options()) {}

KubeClient::KubeClient(ClusterConfig config, Options options)
    : impl_(std::make_unique<Impl>(std::move(config), std::move(options))) {
  impl_->opened = &connections_opened_;
}

KubeClient::~KubeClient() = default;

KubeError KubeClient::ListPods(const std::string& continue_token, int limit,
                               const PodVisitor& visit, ListPage* page) {
  std::string target = "/api/v1/pods";
  char sep = '?';
  if (limit > 0) {
    target += sep + std::string("limit=") + std::to_string(limit);
    sep = '&';
  }
  if (!continue_token.empty())
    target += sep + std::string("continue=") + QueryEscape(continue_token);
  std::string storage;
  rapidjson::Document doc;
  if (KubeError e = impl_->Json(http::verb::get, target, "", &storage, &doc); !e.ok()) return e;
  const rapidjson::Value* items = common::JsonMember(doc, "items");
  if (items != nullptr && !items->IsArray() && !items->IsNull()) {
    return KubeError::Decode("pod list: items is not an array");
  }
  page->resource_version = std::string(MetadataString(doc, "resourceVersion"));
  page->continue_token = std::string(MetadataString(doc, "continue"));
  if (items == nullptr || items->IsNull()) return {};
  std::size_t n = items->Size();
  std::size_t held = pods_held_.fetch_add(n) + n;
  std::size_t seen = max_pods_held_.load();
  while (held > seen && !max_pods_held_.compare_exchange_weak(seen, held)) {
  }
  for (const auto& pod : items->GetArray()) visit(pod);
  pods_held_.fetch_sub(n);
  return {};
}

KubeError KubeClient::GetPod(const std::string& ns, const std::string& name,
                             const PodVisitor& visit) {
  std::string storage;
  rapidjson::Document doc;
  KubeError e = impl_->Json(http::verb::get, "/api/v1/namespaces/" + ns + "/pods/" + name, "",
                            &storage, &doc);
  if (e.ok()) visit(doc);
  return e;
}

KubeError KubeClient::DeletePod(const std::string& ns, const std::string& name,
                                const std::string& uid,
                                std::optional<std::int64_t> grace_period_seconds) {
  return impl_->Json(http::verb::delete_, "/api/v1/namespaces/" + ns + "/pods/" + name,
                     DeleteOptionsJson(uid, grace_period_seconds), nullptr, nullptr);
}

KubeError KubeClient::CreateEvent(const std::string& ns, const std::string& event_json) {
  return impl_->Json(http::verb::post, "/api/v1/namespaces/" + ns + "/events", event_json, nullptr,
                     nullptr);
}

namespace {
std::string LeasePath(const std::string& ns) {
  return "/apis/coordination.k8s.io/v1/namespaces/" + ns + "/leases";
}
}  // namespace

KubeError KubeClient::GetLease(const std::string& ns, const std::string& name, Lease* out) {
  std::string storage;
  rapidjson::Document doc;
  KubeError e = impl_->Json(http::verb::get, LeasePath(ns) + "/" + name, "", &storage, &doc);
  if (e.ok() && !LeaseFromJson(doc, out)) return KubeError::Decode("not a Lease");
  return e;
}

KubeError KubeClient::CreateLease(const Lease& lease, Lease* out) {
  std::string storage;
  rapidjson::Document doc;
  KubeError e = impl_->Json(http::verb::post, LeasePath(lease.namespace_), LeaseToJson(lease),
                            &storage, &doc);
  if (e.ok() && !LeaseFromJson(doc, out)) return KubeError::Decode("not a Lease");
  return e;
}

KubeError KubeClient::UpdateLease(const Lease& lease, Lease* out) {
  std::string storage;
  rapidjson::Document doc;
  KubeError e = impl_->Json(http::verb::put, LeasePath(lease.namespace_) + "/" + lease.name,
                            LeaseToJson(lease), &storage, &doc);
  if (e.ok() && !LeaseFromJson(doc, out)) return KubeError::Decode("not a Lease");
  return e;
}

KubeError KubeClient::WatchPods(const std::string& resource_version, int timeout_seconds,
                                const WatchVisitor& visit, const common::CancelCheck& cancelled) {
  Impl& impl = *impl_;
  std::string token;
  if (KubeError e = impl.Token(&token); !e.ok()) return e;
  // A watch holds its connection for minutes: it never comes from or goes back to the pool.
  Connection c(impl.ctx);
  if (KubeError e = impl.Connect(c, cancelled); !e.ok()) return e;
  std::string target = "/api/v1/pods?watch=1&allowWatchBookmarks=true";
  if (!resource_version.empty()) target += "&resourceVersion=" + QueryEscape(resource_version);
  if (timeout_seconds > 0) target += "&timeoutSeconds=" + std::to_string(timeout_seconds);
  auto req = impl.MakeRequest(http::verb::get, target, token, "");
  if (KubeError e = impl.Write(c, req, cancelled); !e.ok()) return e;

  http::response_parser<http::buffer_body> parser;
  parser.body_limit(boost::none);  // a watch stream has no end we can know in advance
  auto& tcp_stream = beast::get_lowest_layer(c.stream);
  bool done = false;
  beast::error_code ec;
  tcp_stream.expires_after(impl.options.request_timeout);
  http::async_read_header(c.stream, c.buffer, parser, [&](beast::error_code e, std::size_t) {
    ec = e;
    done = true;
  });
  auto far = std::chrono::steady_clock::time_point::max();
  if (RunUntil(c, done, cancelled, far) == RunResult::kCancelled) return KubeError::Cancelled();
  if (ec) return KubeError::Transport("watch: read header: " + ec.message());
  int status = static_cast<int>(parser.get().result_int());
  std::string retry_after(parser.get()[http::field::retry_after]);

  auto idle = std::chrono::seconds(timeout_seconds > 0 ? timeout_seconds : 600) +
              impl.options.watch_idle_grace;
  std::vector<char> chunk(64 * 1024);
  std::string pending;  // bytes of an event line not yet complete
  std::string error_body;
  while (!parser.is_done()) {
    parser.get().body().data = chunk.data();
    parser.get().body().size = chunk.size();
    done = false;
    tcp_stream.expires_after(idle);
    http::async_read_some(c.stream, c.buffer, parser, [&](beast::error_code e, std::size_t) {
      ec = e;
      done = true;
    });
    if (RunUntil(c, done, cancelled, far) == RunResult::kCancelled) return KubeError::Cancelled();
    if (ec == http::error::need_buffer) ec = {};
    if (ec) return KubeError::Transport("watch: " + ec.message());
    std::size_t n = chunk.size() - parser.get().body().size;
    if (status != 200) {
      if (error_body.size() < 1 << 20) error_body.append(chunk.data(), n);
      continue;
    }
    pending.append(chunk.data(), n);
    std::size_t start = 0;
    while (true) {
      std::size_t nl = pending.find('\n', start);
      if (nl == std::string::npos) break;
      std::string line = pending.substr(start, nl - start);
      start = nl + 1;
      if (line.find_first_not_of(" \r\t") == std::string::npos) continue;
      rapidjson::Document event;
      event.ParseInsitu(line.data());
      if (event.HasParseError() || !event.IsObject()) {
        return KubeError::Decode("watch: an event is not a JSON object");
      }
      std::string_view type = common::JsonString(event, "type");
      const rapidjson::Value* object = common::JsonMember(event, "object");
      if (object == nullptr) return KubeError::Decode("watch: event without object");
      WatchEventType t;
      if (type == "ADDED") {
        t = WatchEventType::kAdded;
      } else if (type == "MODIFIED") {
        t = WatchEventType::kModified;
      } else if (type == "DELETED") {
        t = WatchEventType::kDeleted;
      } else if (type == "BOOKMARK") {
        t = WatchEventType::kBookmark;
      } else if (type == "ERROR") {
        t = WatchEventType::kError;
      } else {
        return KubeError::Decode("watch: unknown event type \"" + std::string(type) + "\"");
      }
      if (!visit(t, *object)) return {};
    }
    pending.erase(0, start);
    if (pending.size() > impl.options.max_watch_line_bytes) {
      return KubeError::Decode("watch: event larger than the line limit");
    }
  }
  if (status != 200) return DecodeStatus(status, error_body, retry_after);
  return {};
}

}  // namespace stratum_guard::kube
