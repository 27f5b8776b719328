#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "server/http.h"
#include "server/metrics.h"
#include "server/tls_context.h"

namespace stratum_guard::server {

// Per-connection limits against slow or greedy clients.
struct SessionLimits {
  std::size_t max_body_bytes = 8 << 20;
  // Allowed for the TLS handshake, for a request's headers (and again for its body, and for
  // writing the answer). A fresh connection must start its first request within it, too.
  std::chrono::milliseconds header_timeout{10'000};
  // Allowed between requests on a keep-alive connection.
  std::chrono::milliseconds idle_timeout{90'000};
};

// One accepted connection. Start() begins its work; Shutdown() asks it to close once the
// request in flight (if any) is answered. Both are thread-safe.
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  virtual ~Connection() = default;
  virtual void Start() = 0;
  virtual void Shutdown() = 0;
};

// The open connections of one listener: enforces --max-connections and reaches every
// connection at shutdown. Thread-safe. Must outlive its connections.
class ConnectionTracker {
 public:
  ConnectionTracker(std::string listener, std::size_t max_connections, ServerMetrics& metrics);
  // Adds `connection` unless the cap is reached.
  bool TryAdd(const std::shared_ptr<Connection>& connection);
  void Remove(const Connection* connection);
  std::size_t Count() const;
  void ShutdownAll();
  const std::string& listener() const { return listener_; }

 private:
  const std::string listener_;
  bool draining_ = false;  // set by ShutdownAll: no connection is added after it
  const std::size_t max_connections_;
  ServerMetrics& metrics_;
  mutable std::mutex mutex_;
  std::unordered_map<const Connection*, std::weak_ptr<Connection>> connections_;
};

// A socket bound to its loop's concrete executor rather than asio's type-erased
// any_io_executor: every operation on a connection then dispatches without the type-erased
// executor's copies and indirect calls (a few percent of the webhook's CPU per request).
using LoopSocket =
    boost::asio::basic_stream_socket<boost::asio::ip::tcp, boost::asio::io_context::executor_type>;

// Makes (without starting) a session over a freshly accepted socket.
std::shared_ptr<Connection> MakeTlsSession(LoopSocket socket,
                                           std::shared_ptr<boost::asio::ssl::context> context,
                                           HttpHandler& handler, const SessionLimits& limits,
                                           ConnectionTracker& tracker, ServerMetrics& metrics);
std::shared_ptr<Connection> MakePlainSession(LoopSocket socket, HttpHandler& handler,
                                             const SessionLimits& limits,
                                             ConnectionTracker& tracker, ServerMetrics& metrics);

// Accepts connections on one endpoint and hands them to `factory`. Each accepted socket is
// placed on the loop that `next_loop` returns; every io_context given here must be run by one
// thread only, which serialises a connection's handlers without a strand. Connections over
// the tracker's cap are closed at once and counted.
class Listener : public std::enable_shared_from_this<Listener> {
 public:
  using Factory = std::function<std::shared_ptr<Connection>(LoopSocket)>;
  using LoopPicker = std::function<boost::asio::io_context&()>;

  // Binds and listens on `io`; throws boost::system::system_error when it cannot (address in
  // use).
  Listener(boost::asio::io_context& io, LoopPicker next_loop,
           boost::asio::ip::tcp::endpoint endpoint, Factory factory, ConnectionTracker& tracker,
           ServerMetrics& metrics);
  boost::asio::ip::tcp::endpoint local_endpoint() const { return local_endpoint_; }
  void Start();
  void Stop();  // thread-safe; closes the acceptor

 private:
  void Accept();
  LoopPicker next_loop_;
  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::steady_timer retry_timer_;
  boost::asio::ip::tcp::endpoint local_endpoint_;
  Factory factory_;
  ConnectionTracker& tracker_;
  ServerMetrics& metrics_;
  bool stopped_ = false;  // touched only on the acceptor's loop
};

}  // namespace stratum_guard::server
