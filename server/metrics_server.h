#pragma once

#include <prometheus/registry.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <cstddef>
#include <memory>
#include <string>
#include <thread>

#include "server/connection.h"
#include "server/metrics.h"
#include "server/process_metrics.h"
#include "server/webhook_handler.h"

namespace stratum_guard::server {

struct MetricsServerOptions {
  std::string listen = ":9090";
  // Timeouts as the webhook's; the body limit is the metrics port's own (kMaxRequestBytes).
  SessionLimits limits;
  std::size_t max_connections = 1024;
};

// The plain-HTTP metrics listener: GET /metrics and /healthz, on a thread of its own. Apart
// from the webhook's Server so that `sweep` alone has metrics, and so that a scrape never waits
// behind admission reviews.
//
// Lifecycle: construct, Start() (binds; throws on a bad address or a port in use), Stop() (or
// the destructor) closes the listener and its connections and joins the thread. The Registry
// must outlive the MetricsServer.
class MetricsServer {
 public:
  // A scrape is a GET: nothing larger is read.
  static constexpr std::size_t kMaxRequestBytes = 64 * 1024;

  MetricsServer(MetricsServerOptions options, prometheus::Registry& registry);
  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;  // owns a thread and a socket
  MetricsServer& operator=(const MetricsServer&) = delete;

  void Start();
  void Stop();  // idempotent; not thread-safe against Start
  boost::asio::ip::tcp::endpoint endpoint() const { return endpoint_; }

 private:
  MetricsServerOptions options_;
  ServerMetrics metrics_;
  ProcessCollector process_collector_;
  MetricsHandler handler_;
  ConnectionTracker connections_;
  // After everything sessions refer to: destroying the io_context destroys pending handlers,
  // and with them the last references to sessions.
  boost::asio::io_context loop_{1};
  std::shared_ptr<Listener> listener_;
  boost::asio::ip::tcp::endpoint endpoint_;
  std::thread thread_;
};

}  // namespace stratum_guard::server
