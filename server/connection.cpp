#include "server/connection.h"

#include <openssl/ssl.h>

#include <algorithm>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <optional>

#include "common/log.h"

namespace stratum_guard::server {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
namespace ssl = net::ssl;
using common::Log;
using common::LogLevel;
using net::ip::tcp;
// beast::tcp_stream, on the loop's own executor type (see LoopSocket).
using LoopStream = beast::basic_stream<tcp, net::io_context::executor_type>;

bool BodyBudget::TryReserve(std::size_t bytes, std::size_t capacity) {
  std::size_t now = reserved_.load(std::memory_order_relaxed);
  do {
    if (bytes > capacity || now > capacity - bytes) return false;
  } while (!reserved_.compare_exchange_weak(now, now + bytes, std::memory_order_relaxed));
  return true;
}

void BodyBudget::Release(std::size_t bytes) {
  reserved_.fetch_sub(bytes, std::memory_order_relaxed);
}

ConnectionTracker::ConnectionTracker(std::string listener, std::size_t max_connections,
                                     ServerMetrics& metrics)
    : listener_(std::move(listener)), max_connections_(max_connections), metrics_(metrics) {}

namespace {
std::int64_t SteadyNow() { return std::chrono::steady_clock::now().time_since_epoch().count(); }
}  // namespace

Connection::Connection() : waiting_since_(SteadyNow()) {}  // for its handshake

bool Connection::TryShed(std::int64_t since) {
  if (since <= 0 || !waiting_since_.compare_exchange_strong(since, kShed)) return false;
  CloseForShedding();
  return true;
}

bool Connection::MarkWaiting() {
  std::int64_t since = waiting_since_.load();
  while (since == 0) {
    if (waiting_since_.compare_exchange_weak(since, SteadyNow())) return true;
  }
  return since != kShed;
}

bool Connection::RestartWait() {
  std::int64_t since = waiting_since_.load();
  while (since != kShed) {
    if (waiting_since_.compare_exchange_weak(since, SteadyNow())) return true;
  }
  return false;
}

bool Connection::MarkServing() {
  std::int64_t since = waiting_since_.load();
  while (since != kShed) {
    if (waiting_since_.compare_exchange_weak(since, 0)) return true;
  }
  return false;
}

bool ConnectionTracker::TryAdd(const std::shared_ptr<Connection>& connection) {
  bool shed = false;
  // Connections the scan held, released only after the mutex: the last reference to one that
  // ended meanwhile would run its destructor, whose Remove() takes the mutex.
  std::vector<std::shared_ptr<Connection>> held;
  {
    std::lock_guard lock(mutex_);
    if (draining_) return false;
    if (connections_.size() >= max_connections_) {
      shed = ShedOne(held);
      if (!shed) return false;
    }
    connections_.emplace(connection.get(), connection);
  }
  // A shed connection's slot passes to the new one: the open count stays.
  if (shed) {
    metrics_.RecordConnectionShed(listener_);
  } else {
    metrics_.AddOpenConnections(listener_, 1);
  }
  return true;
}

bool ConnectionTracker::ShedOne(std::vector<std::shared_ptr<Connection>>& held) {
  // A few attempts: the chosen connection may begin serving a request between the scan and
  // the claim. The scan reads connections through their raw pointers, which is safe under the
  // mutex: a connection being destroyed is blocked in Remove() until it is released.
  for (int attempt = 0; attempt < 4; ++attempt) {
    auto victim_it = connections_.end();
    std::int64_t victim_since = 0;
    bool victim_proven = true;
    for (auto it = connections_.begin(); it != connections_.end(); ++it) {
      std::int64_t since = it->first->waiting_since();
      if (since <= 0) continue;  // serving, or already shed
      bool proven = it->first->proven();
      if (victim_it == connections_.end() || (!proven && victim_proven) ||
          (proven == victim_proven && since < victim_since)) {
        victim_it = it;
        victim_since = since;
        victim_proven = proven;
      }
    }
    if (victim_it == connections_.end()) return false;
    std::shared_ptr<Connection> victim = victim_it->second.lock();
    if (victim != nullptr) held.push_back(victim);
    if (victim == nullptr || victim->TryShed(victim_since)) {
      connections_.erase(victim_it);  // its Remove() will find nothing left to count
      return victim != nullptr;
    }
  }
  return false;
}

bool ConnectionTracker::Crowded() const {
  std::lock_guard lock(mutex_);
  return connections_.size() * 2 > max_connections_;
}

void ConnectionTracker::Remove(const Connection* connection) {
  bool removed;
  {
    std::lock_guard lock(mutex_);
    removed = connections_.erase(connection) > 0;
  }
  if (removed) metrics_.AddOpenConnections(listener_, -1);
}

std::size_t ConnectionTracker::Count() const {
  std::lock_guard lock(mutex_);
  return connections_.size();
}

void ConnectionTracker::ShutdownAll() {
  std::vector<std::shared_ptr<Connection>> live;
  {
    std::lock_guard lock(mutex_);
    draining_ = true;
    for (auto& [ptr, weak] : connections_) {
      if (auto strong = weak.lock()) live.push_back(std::move(strong));
    }
  }
  for (auto& connection : live) connection->Shutdown();
}

namespace {

// The request line and header fields. The API server sends under 1 KiB; 16 KiB is Node.js's
// default (nginx allows 32 KiB, Envoy 60). Each connection may hold this much twice over (read
// buffer and parsed fields), which --max-connections multiplies: docs/OPERATIONS.md.
constexpr std::size_t kHeaderLimit = 16 * 1024;
// A TLS record carries up to 16 KiB: reading one whole takes a typical review (6 KiB) in one
// pass through the read stack instead of two (3.5 k fewer instructions per request). The
// buffer is kept per connection: at most 16 MiB over the default 1024 connections.
constexpr std::size_t kFirstReadBytes = 16384;
constexpr std::chrono::seconds kTlsShutdownTimeout{1};
// The most a connection's read buffer holds. Beast's header_limit bounds only the request line
// and the header fields: a chunk header line (with its extensions) and the trailer section are
// parsed only once whole in the buffer, so without a cap they grow it without limit. With this
// cap such a part overflows it, and the request is refused. The body never accumulates here (the
// parser moves it into the request), and a header at the limit still fits beside a first read.
constexpr std::size_t kMaxBufferBytes = kHeaderLimit + kFirstReadBytes;
// How long and how much a refused client may go on sending before the connection is cut (see
// Linger). A client pushing a body over --max-body-bytes at LAN speed finishes well within.
constexpr std::chrono::seconds kLingerTime{5};
constexpr std::size_t kLingerBytes = 64 << 20;

// Beast's string_body, except that a Content-Length does not reserve the whole body before a
// byte of it has come: the session sizes the string itself (GrowBody), so that the memory a
// body holds, and its share of the body budget, follow the bytes that really arrived.
struct GrowingStringBody {
  using value_type = std::string;

  class reader {
   public:
    template <bool isRequest, class Fields>
    explicit reader(http::header<isRequest, Fields>&, value_type& body) : body_(body) {}
    void init(const boost::optional<std::uint64_t>&, beast::error_code& ec) { ec = {}; }
    template <class ConstBufferSequence>
    std::size_t put(const ConstBufferSequence& buffers, beast::error_code& ec) {
      const std::size_t extra = beast::buffer_bytes(buffers);
      const std::size_t size = body_.size();
      body_.resize(size + extra);  // within the capacity GrowBody reserved, but for a first read
      net::buffer_copy(net::buffer(body_.data() + size, extra), buffers);
      ec = {};
      return extra;
    }
    void finish(beast::error_code& ec) { ec = {}; }

   private:
    value_type& body_;
  };
};

bool IsHttpParseError(const beast::error_code& ec) {
  return ec.category() == http::make_error_code(http::error::bad_version).category();
}

// The request/response loop shared by the TLS and the plain session (CRTP, as in Beast's
// advanced server-flex example). Every step runs on the connection's loop (one thread),
// holding the session alive through shared_from_this() in its completion handler, so no member
// needs a lock. Derived provides stream(), OnStart() and Close().
template <class Derived>
class HttpSession : public Connection {
 public:
  HttpSession(HttpHandler& handler, const SessionLimits& limits, ConnectionTracker& tracker,
              ServerMetrics& metrics)
      : handler_(handler), limits_(limits), tracker_(tracker), metrics_(metrics) {}
  ~HttpSession() override {
    ReleaseBody();
    tracker_.Remove(this);
  }

  void Start() override {
    if (tracker_.Crowded()) {
      hurry_until_ = std::chrono::steady_clock::now() + kCrowdedFirstRequestTimeout;
    }
    net::dispatch(derived().stream().get_executor(),
                  beast::bind_front_handler(&Derived::OnStart, Self()));
  }

  void Shutdown() override {
    net::post(derived().stream().get_executor(), [self = Self()] {
      self->shutting_down_ = true;
      // Waiting for a handshake or a request that has not begun: nothing is in flight.
      if (self->waiting_) beast::get_lowest_layer(self->derived().stream()).close();
    });
  }

 protected:
  Derived& derived() { return static_cast<Derived&>(*this); }
  std::shared_ptr<Derived> Self() { return std::static_pointer_cast<Derived>(shared_from_this()); }
  void Expire(std::chrono::milliseconds timeout) {
    auto& lowest = beast::get_lowest_layer(derived().stream());
    if (hurry_until_) {
      lowest.expires_at(std::min(*hurry_until_, std::chrono::steady_clock::now() + timeout));
    } else {
      lowest.expires_after(timeout);
    }
  }

  void CloseForShedding() override {
    net::post(derived().stream().get_executor(), [self = Self()] {
      Log(LogLevel::kDebug, "connection shed", {{"listener", self->tracker_.listener()}});
      beast::error_code ignored;
      beast::get_lowest_layer(self->derived().stream()).socket().close(ignored);
    });
  }

  // One place for transport errors: the connection ends, nothing else does.
  void Fail(beast::error_code ec, std::string_view what) {
    // stream_truncated: the peer closed TCP without a TLS close_notify. Clients (Go's
    // http.Transport among them) do that routinely; every message here is length-delimited,
    // so a truncation cannot pass off a partial message as whole. Not worth a log line, like
    // a peer closing between requests (end_of_stream, eof), our own close (operation_aborted)
    // or a timeout.
    if (ec == ssl::error::stream_truncated || ec == http::error::end_of_stream ||
        ec == net::error::eof || ec == net::error::operation_aborted ||
        ec == beast::error::timeout) {
      Log(LogLevel::kDebug, "connection closed",
          {{"listener", tracker_.listener()}, {"step", what}, {"reason", ec.message()}});
    } else {
      Log(LogLevel::kDebug, "connection failed",
          {{"listener", tracker_.listener()}, {"step", what}, {"error", ec.message()}});
    }
    beast::error_code ignored;
    beast::get_lowest_layer(derived().stream()).socket().close(ignored);
  }

  // Waits for the first bytes of the next request: under the idle timeout between keep-alive
  // requests, under the header timeout on a fresh connection.
  void StartRead() {
    if (shutting_down_) return derived().Close();
    if (!MarkWaiting()) return;                   // shed: its socket is being closed
    if (buffer_.size() > 0) return ReadHeader();  // pipelined bytes already here
    waiting_ = true;
    Expire(first_request_ ? limits_.header_timeout : limits_.idle_timeout);
    derived().stream().async_read_some(
        buffer_.prepare(kFirstReadBytes),
        beast::bind_front_handler(&HttpSession::OnFirstBytes, Self()));
  }

  void OnFirstBytes(beast::error_code ec, std::size_t bytes) {
    waiting_ = false;
    if (ec) return Fail(ec, "read");
    buffer_.commit(bytes);
    ReadHeader();
  }

  void ReadHeader() {
    first_request_ = false;
    // A fresh parser per message: body_limit and header_limit apply to each request.
    parser_.emplace();
    parser_->body_limit(limits_.max_body_bytes);
    parser_->header_limit(kHeaderLimit);
    Expire(limits_.header_timeout);
    http::async_read_header(derived().stream(), buffer_, *parser_,
                            beast::bind_front_handler(&HttpSession::OnHeader, Self()));
  }

  void OnHeader(beast::error_code ec, std::size_t) {
    if (ec) return OnReadError(ec);
    hurry_until_.reset();  // the first request has come in time
    const auto& request = parser_->get();
    // RFC 9112 6.3: without chunked as the last coding a request's length cannot be known.
    // Beast then reads no body at all, and the body would be taken for the next request.
    if (request.find(http::field::transfer_encoding) != request.end() && !parser_->chunked()) {
      return SendProblem(Problem::kBadHttp,
                         "bad HTTP: Transfer-Encoding must end with chunked in a request");
    }
    auto expect = request.find(http::field::expect);
    if (expect != request.end() && beast::iequals(expect->value(), "100-continue")) {
      continue_ = http::response<http::empty_body>{http::status::continue_, request.version()};
      Expire(limits_.header_timeout);
      return http::async_write(derived().stream(), continue_,
                               beast::bind_front_handler(&HttpSession::OnContinue, Self()));
    }
    BeginBody();
  }

  void OnContinue(beast::error_code ec, std::size_t) {
    if (ec) return Fail(ec, "write");
    BeginBody();
  }

  // The body is read a part at a time, each part under the deadline of the minimum rate, and
  // its memory reserved from the budget as it grows. Still a wait on the client: a body that
  // stalls may be shed at the cap.
  void BeginBody() {
    if (!RestartWait()) return;  // complete headers are progress; shed meanwhile: stop
    reading_body_ = true;
    body_started_ = std::chrono::steady_clock::now();
    body_received_ = 0;
    ReadBodyPart();
  }

  void ReadBodyPart() {
    if (parser_->is_done()) return OnBody();
    if (!GrowBody()) return RefuseOverBudget();
    beast::get_lowest_layer(derived().stream()).expires_at(BodyDeadline());
    http::async_read_some(derived().stream(), buffer_, *parser_,
                          beast::bind_front_handler(&HttpSession::OnBodyPart, Self()));
  }

  void OnBodyPart(beast::error_code ec, std::size_t bytes) {
    if (ec) return OnReadError(ec);
    body_received_ += bytes;
    if (!RestartWait()) return;  // shed: its socket is being closed
    if (!AccountBody()) return RefuseOverBudget();
    ReadBodyPart();
  }

  // Header timeout from the body's start; with a minimum rate also kBodyGrace from the last
  // bytes, and kBodyGrace plus the time the bytes received so far buy at the rate.
  std::chrono::steady_clock::time_point BodyDeadline() const {
    auto deadline = body_started_ + limits_.header_timeout;
    if (limits_.min_body_rate == 0) return deadline;
    auto bought = std::chrono::duration_cast<std::chrono::steady_clock::duration>(
        std::chrono::duration<double>(static_cast<double>(body_received_) /
                                      static_cast<double>(limits_.min_body_rate)));
    return std::min({deadline, body_started_ + kBodyGrace + bought,
                     std::chrono::steady_clock::now() + kBodyGrace});
  }

  void OnReadError(beast::error_code ec) {
    if (ec == http::error::body_limit) {
      return SendProblem(Problem::kBodyTooLarge,
                         "request body over " + std::to_string(limits_.max_body_bytes) + " bytes");
    }
    if (ec == http::error::buffer_overflow) {
      return SendProblem(Problem::kBadHttp, "bad HTTP: a chunk header or the trailer is over " +
                                                std::to_string(kMaxBufferBytes) + " bytes");
    }
    if (ec == http::error::end_of_stream || ec == http::error::partial_message) {
      return Fail(ec, "read");
    }
    if (ec == beast::error::timeout && reading_body_) {
      metrics_.RecordSlowBody(tracker_.listener());
      return Fail(ec, "read body");
    }
    if (IsHttpParseError(ec)) return SendProblem(Problem::kBadHttp, "bad HTTP: " + ec.message());
    Fail(ec, "read");
  }

  // Makes room in the body for the next read (at most the read buffer, kMaxBufferBytes) with
  // its bytes reserved first, growing by doubling up to the Content-Length or the body limit.
  // Nothing is reserved before the first bytes: headers alone hold no share of the budget (that
  // first read's string is accounted in AccountBody). False when the budget has no room.
  bool GrowBody() {
    std::string& body = parser_->get().body();
    if (body.empty()) return true;
    const std::size_t limit = parser_->content_length()
                                  ? static_cast<std::size_t>(*parser_->content_length())
                                  : limits_.max_body_bytes;
    const std::size_t need = std::min(limit, body.size() + kMaxBufferBytes);
    if (body.capacity() >= need) return true;
    const std::size_t target = std::min(limit, std::max(need, 2 * body.capacity()));
    // The old string lives on during the copy, uncounted: at most half the new one, for a
    // moment, on this loop's thread (docs/OPERATIONS.md, "Memory"). Counting it would refuse an
    // 8 MiB body under an 8 MiB budget.
    if (!ReserveBody(target)) return false;
    {
      // Into a fresh string: reserve() on the old one may round the capacity up past `target`.
      std::string grown;
      grown.reserve(target);
      grown.append(body);
      body.swap(grown);
    }
    return AccountBody();
  }

  // Brings the reservation up to what the body's string really holds. A first read allocates
  // its string (at most kMaxBufferBytes) before this counts it.
  bool AccountBody() { return ReserveBody(parser_->get().body().capacity()); }

  void ReleaseBodyDownTo(std::size_t total) {
    if (total >= reserved_body_) return;
    limits_.body_budget->Release(reserved_body_ - total);
    metrics_.AddReservedBodyBytes(-static_cast<double>(reserved_body_ - total));
    reserved_body_ = total;
  }

  bool ReserveBody(std::size_t total) {
    if (total <= reserved_body_) return true;
    const std::size_t more = total - reserved_body_;
    if (!limits_.body_budget->TryReserve(more, limits_.max_inflight_body_bytes)) return false;
    reserved_body_ = total;
    metrics_.AddReservedBodyBytes(static_cast<double>(more));
    return true;
  }

  void RefuseOverBudget() {
    metrics_.RecordBodyBudgetRefusal(tracker_.listener());
    SendProblem(Problem::kOverloaded,
                "too many request bodies in flight; over --max-inflight-body-bytes " +
                    std::to_string(limits_.max_inflight_body_bytes));
  }

  void ReleaseBody() { ReleaseBodyDownTo(0); }

  void OnBody() {
    reading_body_ = false;
    if (!MarkServing()) return;  // shed: its socket is being closed
    std::optional<HttpResponse> answer;
    {
      auto message = parser_->release();
      HttpRequest request(std::move(message.base()), std::move(message.body()));
      version_ = request.version();
      keep_alive_ = request.keep_alive();
      // A deferred answer comes back to this session's loop; the session lives until then.
      auto finish = [self = Self()](HttpResponse response) {
        net::post(self->derived().stream().get_executor(),
                  [self, response = std::move(response)]() mutable {
                    self->Respond(std::move(response));
                  });
      };
      // The session boundary: nothing thrown by a handler may take the connection or the
      // process down; it becomes a 500 and the webhook's failurePolicy decides.
      try {
        answer = handler_.HandleOrDefer(request, finish);
        if (!answer) return;  // the body, held by the handler, keeps its budget until Respond
      } catch (const std::exception& e) {
        Log(LogLevel::kError, "internal error",
            {{"listener", tracker_.listener()}, {"error", e.what()}});
        answer = ProblemResponse(Problem::kInternal, "internal error", version_);
      } catch (...) {
        Log(LogLevel::kError, "internal error", {{"listener", tracker_.listener()}});
        answer = ProblemResponse(Problem::kInternal, "internal error", version_);
      }
    }  // the body is freed here, so its bytes go back to the budget
    Respond(std::move(*answer));
  }

  void Respond(HttpResponse response) {
    ReleaseBody();
    response_ = std::move(response);
    response_.keep_alive(keep_alive_ && !shutting_down_);
    Write();
  }

  void SendProblem(Problem problem, std::string detail) {
    // The rest of the stream cannot be trusted to be at a message boundary: answer and close.
    unsigned version = parser_ && parser_->is_header_done() ? parser_->get().version() : 11;
    parser_.reset();  // with whatever body it had read
    reading_body_ = false;
    ReleaseBody();
    response_ = ProblemResponse(problem, detail, version);
    response_.keep_alive(false);
    linger_ = true;
    Write();
  }

  // Closes a connection whose client may still be sending (a refused body), as nginx's
  // lingering close does: closing a socket with unread input makes the kernel send a reset,
  // and a reset can destroy the answer before the client has read it. So the write side is shut
  // (FIN after the answer) and the input read and dropped until the client closes, for at most
  // kLingerTime and kLingerBytes. No TLS close_notify: OpenSSL would then refuse to read on, and
  // the dropped bytes need no decryption. The buffer is reused, so draining costs no memory.
  void Linger() {
    if (!MarkWaiting()) return;
    MarkProven(false);  // refused: the first to go at the cap
    auto& lowest = beast::get_lowest_layer(derived().stream());
    beast::error_code ignored;
    lowest.socket().shutdown(tcp::socket::shutdown_send, ignored);
    buffer_.consume(buffer_.size());
    lowest.expires_after(kLingerTime);
    Drain();
  }

  void Drain() {
    beast::get_lowest_layer(derived().stream())
        .async_read_some(buffer_.prepare(kFirstReadBytes),
                         beast::bind_front_handler(&HttpSession::OnDrained, Self()));
  }

  void OnDrained(beast::error_code ec, std::size_t bytes) {
    drained_ += bytes;
    if (!ec && drained_ < kLingerBytes) return Drain();
    beast::error_code ignored;
    beast::get_lowest_layer(derived().stream()).socket().close(ignored);
  }

  void Write() {
    metrics_.RecordHttpResponse(tracker_.listener(), response_.result_int());
    Expire(limits_.header_timeout);
    http::async_write(derived().stream(), response_,
                      beast::bind_front_handler(&HttpSession::OnWrite, Self()));
  }

  void OnWrite(beast::error_code ec, std::size_t) {
    if (ec) return Fail(ec, "write");
    if (linger_) return Linger();
    if (!response_.keep_alive()) return derived().Close();
    MarkProven(true);
    response_ = {};
    StartRead();
  }

  HttpHandler& handler_;
  const SessionLimits limits_;
  ConnectionTracker& tracker_;
  ServerMetrics& metrics_;
  beast::flat_buffer buffer_{kMaxBufferBytes};
  std::optional<http::request_parser<GrowingStringBody>> parser_;
  HttpResponse response_;
  http::response<http::empty_body> continue_;
  bool shutting_down_ = false;
  unsigned version_ = 11;    // of the request being answered
  bool keep_alive_ = false;  // whether its client asked to keep the connection
  bool waiting_ = false;     // no request in flight: a handshake or the first bytes are awaited
  bool first_request_ = true;
  bool linger_ = false;  // the answer is a refusal: input may still be coming
  std::size_t drained_ = 0;
  std::size_t reserved_body_ = 0;  // this session's share of limits_.body_budget
  bool reading_body_ = false;
  std::chrono::steady_clock::time_point body_started_;
  std::size_t body_received_ = 0;  // bytes of the body's message part, framing included
  // Set while the listener was crowded at accept time: the handshake and the first request's
  // headers must be done by then.
  std::optional<std::chrono::steady_clock::time_point> hurry_until_;
};

class TlsSession : public HttpSession<TlsSession> {
 public:
  TlsSession(LoopSocket socket, std::shared_ptr<ssl::context> context, HttpHandler& handler,
             const SessionLimits& limits, ConnectionTracker& tracker, ServerMetrics& metrics)
      : HttpSession(handler, limits, tracker, metrics),
        context_(std::move(context)),
        stream_(std::move(socket), *context_) {
    // Asio sets SSL_MODE_RELEASE_BUFFERS, which frees OpenSSL's record buffers whenever they
    // drain and allocates them again for the next record: several allocations per request.
    SSL_clear_mode(stream_.native_handle(), SSL_MODE_RELEASE_BUFFERS);
  }

  beast::ssl_stream<LoopStream>& stream() { return stream_; }

  void OnStart() {
    if (shutting_down_) return Fail(net::error::operation_aborted, "handshake");
    waiting_ = true;
    Expire(limits_.header_timeout);
    stream_.async_handshake(ssl::stream_base::server,
                            beast::bind_front_handler(&TlsSession::OnHandshake, Self()));
  }

  void Close() {
    Expire(kTlsShutdownTimeout);
    stream_.async_shutdown(beast::bind_front_handler(&TlsSession::OnShutdown, Self()));
  }

 private:
  void OnHandshake(beast::error_code ec) {
    waiting_ = false;
    if (ec) {
      // Plain HTTP, garbage, a missing or untrusted client certificate, a timeout: this
      // connection ends, the listener goes on.
      if (ec != net::error::operation_aborted) metrics_.RecordTlsHandshakeFailure();
      return Fail(ec, "handshake");
    }
    StartRead();
  }

  void OnShutdown(beast::error_code) {
    beast::error_code ignored;
    beast::get_lowest_layer(stream_).socket().close(ignored);
  }

  // Declared before stream_: the SSL object must not outlive the context it was made from.
  std::shared_ptr<ssl::context> context_;
  beast::ssl_stream<LoopStream> stream_;
};

class PlainSession : public HttpSession<PlainSession> {
 public:
  PlainSession(LoopSocket socket, HttpHandler& handler, const SessionLimits& limits,
               ConnectionTracker& tracker, ServerMetrics& metrics)
      : HttpSession(handler, limits, tracker, metrics), stream_(std::move(socket)) {}

  LoopStream& stream() { return stream_; }
  void OnStart() { StartRead(); }
  void Close() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream_.socket().close(ignored);
  }

 private:
  LoopStream stream_;
};

}  // namespace

std::shared_ptr<Connection> MakeTlsSession(LoopSocket socket, std::shared_ptr<ssl::context> context,
                                           HttpHandler& handler, const SessionLimits& limits,
                                           ConnectionTracker& tracker, ServerMetrics& metrics) {
  return std::make_shared<TlsSession>(std::move(socket), std::move(context), handler, limits,
                                      tracker, metrics);
}

std::shared_ptr<Connection> MakePlainSession(LoopSocket socket, HttpHandler& handler,
                                             const SessionLimits& limits,
                                             ConnectionTracker& tracker, ServerMetrics& metrics) {
  return std::make_shared<PlainSession>(std::move(socket), handler, limits, tracker, metrics);
}

Listener::Listener(net::io_context& io, LoopPicker next_loop, tcp::endpoint endpoint,
                   Factory factory, ConnectionTracker& tracker, ServerMetrics& metrics)
    : next_loop_(std::move(next_loop)),
      acceptor_(io),
      retry_timer_(acceptor_.get_executor()),
      factory_(std::move(factory)),
      tracker_(tracker),
      metrics_(metrics) {
  boost::system::error_code ec;
  acceptor_.open(endpoint.protocol(), ec);
  if (ec && endpoint.address().is_v6() && endpoint.address().is_unspecified()) {
    // ":PORT" on a host without IPv6: every IPv4 interface instead.
    endpoint = tcp::endpoint(net::ip::address_v4::any(), endpoint.port());
    ec = {};
    acceptor_.open(endpoint.protocol(), ec);
  }
  if (ec) throw boost::system::system_error(ec, "open");
  if (endpoint.address().is_v6() && endpoint.address().is_unspecified()) {
    acceptor_.set_option(net::ip::v6_only(false), ec);  // dual-stack where allowed
  }
  acceptor_.set_option(net::socket_base::reuse_address(true));
  acceptor_.bind(endpoint);
  acceptor_.listen(net::socket_base::max_listen_connections);
  local_endpoint_ = acceptor_.local_endpoint();
}

void Listener::Start() {
  net::dispatch(acceptor_.get_executor(), [self = shared_from_this()] { self->Accept(); });
}

void Listener::Stop() {
  net::post(acceptor_.get_executor(), [self = shared_from_this()] {
    self->stopped_ = true;
    boost::system::error_code ignored;
    self->acceptor_.close(ignored);
    self->retry_timer_.cancel();
  });
}

void Listener::Accept() {
  if (stopped_) return;
  acceptor_.async_accept(
      next_loop_(), [self = shared_from_this()](boost::system::error_code ec, LoopSocket socket) {
        if (self->stopped_) return;
        if (ec) {
          // Out of file descriptors and the like: back off instead of spinning.
          Log(LogLevel::kWarn, "accept failed",
              {{"listener", self->tracker_.listener()}, {"error", ec.message()}});
          self->retry_timer_.expires_after(std::chrono::milliseconds(100));
          self->retry_timer_.async_wait([self](boost::system::error_code wait_ec) {
            if (!wait_ec) self->Accept();
          });
          return;
        }
        socket.set_option(tcp::no_delay(true), ec);
        std::shared_ptr<Connection> connection = self->factory_(std::move(socket));
        if (connection && self->tracker_.TryAdd(connection)) {
          connection->Start();
        } else {
          self->metrics_.RecordConnectionRejected(self->tracker_.listener());
        }
        self->Accept();
      });
}

}  // namespace stratum_guard::server
