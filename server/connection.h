#pragma once

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "server/http.h"
#include "server/metrics.h"
#include "server/tls_context.h"

namespace stratum_guard::server {

// The request body bytes that sessions hold at once: reserved when a request's headers
// announce its body, released once the request is answered. Thread-safe.
class BodyBudget {
 public:
  // Reserves `bytes` unless the total would pass `capacity`.
  bool TryReserve(std::size_t bytes, std::size_t capacity);
  void Release(std::size_t bytes);
  std::size_t reserved() const { return reserved_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::size_t> reserved_{0};
};

// Limits against slow or greedy clients: per connection, and for the bodies of all connections
// together.
struct SessionLimits {
  std::size_t max_body_bytes = 8 << 20;
  // The most request body bytes held by all connections together (both ports). A request whose
  // body would pass it is answered 503 from its headers. The default fits the manifests' 256 MiB
  // memory limit beside full connections and a parse (docs/OPERATIONS.md has the arithmetic).
  std::size_t max_inflight_body_bytes = 32 << 20;
  // Where the bytes above are counted. Copies of these limits share it, so the webhook and the
  // metrics port (whose limits are a copy of the webhook's) draw from one budget.
  std::shared_ptr<BodyBudget> body_budget = std::make_shared<BodyBudget>();
  // Allowed for the TLS handshake, for a request's headers (and again for its body, and for
  // writing the answer). A fresh connection must start its first request within it, too.
  std::chrono::milliseconds header_timeout{10'000};
  // The slowest a request body may come, in bytes per second, after kBodyGrace; a body may
  // also not pause for longer than kBodyGrace. The API server writes a review in one go, so a
  // body that trickles or stalls is a client holding its slot and its share of the body
  // budget. 64 KiB/s lets any link faster than 512 kbit/s through; an 8 MiB body must come
  // faster anyway to beat header_timeout. 0 leaves the body to header_timeout alone.
  std::size_t min_body_rate = 64 << 10;
  // Allowed between requests on a keep-alive connection.
  std::chrono::milliseconds idle_timeout{90'000};
};

// Time a new connection has for its handshake and its first request's headers while its
// listener is crowded (over half of --max-connections open): a client that sends its headers a
// byte at a time cannot hold a slot for long, and one that holds a slot idle is shed first.
inline constexpr std::chrono::milliseconds kCrowdedFirstRequestTimeout{1000};

// With SessionLimits::min_body_rate: the time a body has before the rate applies, and the
// longest pause allowed between its bytes. A second absorbs two TCP retransmissions on a lossy
// link (200 ms, then 400 ms) and the loaded server's own delays; it is also the time a fresh
// connection has for its handshake and headers on a crowded port, the same assumption about the
// network.
inline constexpr std::chrono::milliseconds kBodyGrace{1000};

// One accepted connection. Start() begins its work; Shutdown() asks it to close once the
// request in flight (if any) is answered. Both are thread-safe.
//
// A connection is either serving a request (from its complete request to its answer written)
// or waiting on its client: for a handshake, for a request's headers or the rest of its body,
// for the next request on a keep-alive connection, or for a refused client to stop sending.
// Only a waiting connection may be shed to make room (ConnectionTracker::TryAdd); the state
// lives here, in atomics, so the tracker can read and claim it from the accepting thread.
//
// A connection that has had a request answered and kept alive is proven: it is a client that
// completes requests (the API server keeps such connections for its next reviews). Those are
// shed only when no unproven one waits.
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection();
  virtual ~Connection() = default;
  virtual void Start() = 0;
  virtual void Shutdown() = 0;

  // Claims this connection for shedding if it has been waiting since `since` (a value read
  // from waiting_since()), and then closes it on its own loop. False if it has begun serving a
  // request or was claimed before. Thread-safe.
  bool TryShed(std::int64_t since);
  // When the current wait began (steady clock ticks); 0 while a request is served.
  std::int64_t waiting_since() const { return waiting_since_.load(std::memory_order_relaxed); }
  bool proven() const { return proven_.load(std::memory_order_relaxed); }

 protected:
  // The session's side of the state. Each returns false once the connection was shed: it must
  // then stop, its socket is being closed.
  bool MarkWaiting();  // keeps the start of a wait already under way
  // The wait begins again now: a body that made progress counts as waiting since its last
  // bytes, so one arriving steadily is among the last to be shed and one that stalled the first.
  bool RestartWait();
  bool MarkServing();
  void MarkProven(bool proven) { proven_.store(proven, std::memory_order_relaxed); }
  virtual void CloseForShedding() = 0;

 private:
  static constexpr std::int64_t kShed = -1;
  std::atomic<std::int64_t> waiting_since_;
  std::atomic<bool> proven_{false};
};

// The open connections of one listener: enforces --max-connections and reaches every
// connection at shutdown. Thread-safe. Must outlive its connections.
//
// At the cap, a new connection is not refused while an open one is waiting on its client: one
// is shed to make room, as nginx's reuse of idle connections and Apache's mod_reqtimeout
// protect fresh clients from slowloris. First the unproven connection that has waited longest
// (its handshake, its first headers, a body that stalled, a refused client still sending): a
// slowloris never completes a request, and the freshest connection, which may be the API
// server's, is shed last. Only when none waits, the proven connection idle longest (the API
// server's client reuses its most recent idle connection first). Only when every connection is
// serving a request is the new one closed.
class ConnectionTracker {
 public:
  ConnectionTracker(std::string listener, std::size_t max_connections, ServerMetrics& metrics);
  // Adds `connection`, shedding the longest-waiting connection at the cap; false if none can
  // be shed or the tracker is draining.
  bool TryAdd(const std::shared_ptr<Connection>& connection);
  void Remove(const Connection* connection);
  std::size_t Count() const;
  // Whether over half the slots are taken. A new connection must then finish its handshake and
  // its first request's headers within kCrowdedFirstRequestTimeout.
  bool Crowded() const;
  void ShutdownAll();
  const std::string& listener() const { return listener_; }

 private:
  // Under mutex_: sheds the connection first in the order above; whether a slot was freed.
  // Keeps the connections it looked at alive in `held`, to be released after the mutex.
  bool ShedOne(std::vector<std::shared_ptr<Connection>>& held);

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
