#pragma once

#include <prometheus/registry.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "common/reloader.h"
#include "policy/policy_store.h"
#include "server/connection.h"
#include "server/metrics.h"
#include "server/tls_context.h"
#include "server/webhook_handler.h"

namespace stratum_guard::server {

// Everything `stratum-guard serve` can be told; defaults as the flags document them
// (docs/OPERATIONS.md).
struct ServerOptions {
  std::string listen = ":8443";
  // Serving certificate from files (reloaded when they change) ...
  std::string tls_cert_file;
  std::string tls_key_file;
  // ... or in memory (development mode); used when tls_cert_file is empty.
  TlsMaterial tls_material;
  std::string client_ca_file;  // optional; reloaded with the certificate
  // Self-managed certificates: tls_material is only a placeholder until the first SetTls, and
  // /readyz answers 503 until then, so no Service routes to a certificate nobody trusts.
  bool await_tls = false;
  std::string policy_file;  // empty: the embedded policy, never reloaded
  std::string docs_url = "https://github.com/stratum-guard/stratum-guard/blob/main/docs/POLICY.md";
  // --enforcement: wins over the policy's `enforcement:`; nullopt lets the policy decide.
  std::optional<policy::Enforcement> enforcement;
  unsigned workers = 0;  // 0: the container's CPU quota, else hardware threads (common/cpus.h)
  SessionLimits limits;
  std::size_t max_connections = 1024;
  std::chrono::milliseconds shutdown_grace{15'000};
  std::chrono::milliseconds reload_interval = common::kDefaultReloadInterval;
  ImageInspection images;  // --inspect-images; off unless main hands it an inspector
};

// The admission webhook's TLS listener, with the reloaders of certificate and policy files. The
// metrics listener is a MetricsServer of its own (server/metrics_server.h).
//
// Threads: one io_context per worker thread, each run by that thread alone (as nginx runs one
// event loop per worker process). The listeners accept on the first loop and deal connections
// round-robin to all of them; a connection then lives on one loop, so its handlers never run
// concurrently without a strand, and no request is handed between threads. A shared pool of
// threads on one io_context cost 92 against 70 us of CPU per request under the same load
// (wake-ups between threads, strand dispatch; docs/BENCHMARKS.md). The price: a slow request
// delays the other connections of its loop only, not of the whole server.
//
// Lifecycle: construct, Start() (binds; throws on a configuration error such as a bad
// address, an unreadable or invalid certificate), then Wait(); Stop() from any thread (a
// signal-handling thread, a test) begins the graceful shutdown that Wait() returns from.
// The PolicyStore and Registry are shared with whatever else runs in the process (the
// sweeper) and must outlive the Server.
//
// Time: the reload interval and the shutdown grace are measured on `clock`, so tests drive
// both with a common::SimulatedClock (Sleep::kWaitsForAdvance). The request timeouts of
// sessions stay on Asio's timers: they guard sockets, which only real time moves.
class Server {
 public:
  Server(ServerOptions options, policy::PolicyStore& policies, prometheus::Registry& registry,
         common::Clock& clock = common::SystemClock::Instance());
  ~Server();                       // stops and waits if still running
  Server(const Server&) = delete;  // owns threads and sockets
  Server& operator=(const Server&) = delete;

  void Start();
  // Stops accepting, lets requests in flight finish within shutdown_grace, closes the rest.
  // Thread-safe and idempotent. Not async-signal-safe: call it from a thread that waited for
  // the signal (sigwait), not from a signal handler.
  void Stop();
  // Blocks until the shutdown completed and the workers have exited.
  void Wait();

  boost::asio::ip::tcp::endpoint webhook_endpoint() const { return webhook_endpoint_; }

  // Polls the watched files once, on the calling thread (tests drive reloads with this).
  void CheckReloads();

  // Serves `material` to new connections from now on (connections in flight keep theirs), as a
  // file reload does, and counts it as a TLS reload. With await_tls, the first call makes the
  // server ready. Throws std::runtime_error when the material does not load; the previous
  // certificate then stays. Thread-safe; for certificates kept in memory (a Secret).
  void SetTls(const TlsMaterial& material);

 private:
  void LoadTls(const std::vector<std::string>& contents);
  void ReloadUntilStopped();
  void BeginShutdown();
  void DrainTick(common::Clock::Steady deadline);
  void StopLoops();

  const ServerOptions options_;
  policy::PolicyStore& policies_;
  common::Clock& clock_;
  ServerMetrics metrics_;
  AdmissionMetrics admission_metrics_;
  PolicyMetrics policy_metrics_;
  std::shared_ptr<void> policy_subscription_;
  TlsContextStore tls_;
  std::atomic<bool> ready_{false};
  std::atomic<bool> stop_requested_{false};
  WebhookHandler webhook_handler_;
  ConnectionTracker webhook_connections_;
  std::mutex reload_mutex_;
  std::vector<std::unique_ptr<common::Reloader>> reloaders_;
  boost::asio::io_context& NextLoop();
  // The steps of Start().
  void LoadTlsAndWatch();
  void WatchPolicy();
  void Listen();
  void RunWorkers();

  // Declared after everything sessions refer to: destroying an io_context destroys pending
  // handlers, and with them the last references to sessions. loops_[0] also runs the
  // listener, the drain timer and the shutdown.
  std::vector<std::unique_ptr<boost::asio::io_context>> loops_;
  std::atomic<std::size_t> next_loop_{0};
  // Polls the drain on real time; the grace deadline itself is on clock_.
  boost::asio::steady_timer drain_timer_;
  std::shared_ptr<Listener> webhook_listener_;
  boost::asio::ip::tcp::endpoint webhook_endpoint_;
  std::vector<std::thread> workers_;
  std::thread reload_thread_;
  bool started_ = false;
};

}  // namespace stratum_guard::server
