#include "server/metrics_server.h"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <stdexcept>

#include "common/log.h"
#include "server/address.h"

namespace stratum_guard::server {

namespace net = boost::asio;
using common::Log;
using common::LogLevel;

MetricsServer::MetricsServer(MetricsServerOptions options, prometheus::Registry& registry)
    : options_(std::move(options)),
      metrics_(registry, {"metrics"}),
      handler_({&registry, &process_collector_}),
      connections_("metrics", options_.max_connections, metrics_) {
  options_.limits.max_body_bytes = kMaxRequestBytes;
}

MetricsServer::~MetricsServer() { Stop(); }

void MetricsServer::Start() {
  if (thread_.joinable()) throw std::logic_error("MetricsServer::Start called twice");
  std::string error;
  std::optional<net::ip::tcp::endpoint> address = ParseListenAddress(options_.listen, &error);
  if (!address) throw std::runtime_error(error);
  listener_ = std::make_shared<Listener>(
      loop_, [this]() -> net::io_context& { return loop_; }, *address,
      [this](LoopSocket socket) {
        return MakePlainSession(std::move(socket), handler_, options_.limits, connections_,
                                metrics_);
      },
      connections_, metrics_);
  endpoint_ = listener_->local_endpoint();
  listener_->Start();
  Log(LogLevel::kInfo, "listening",
      {{"listener", "metrics"}, {"address", FormatEndpoint(endpoint_)}, {"tls", false}});
  thread_ = std::thread([this] {
    auto work = net::make_work_guard(loop_);
    for (;;) {
      try {
        loop_.run();
        return;
      } catch (const std::exception& e) {
        // Handlers do not throw by contract; if one ever does, keep serving.
        Log(LogLevel::kError, "metrics listener caught an exception", {{"error", e.what()}});
      }
    }
  });
}

void MetricsServer::Stop() {
  if (!thread_.joinable()) return;
  // A scrape in flight is cut: Prometheus scrapes again at its next interval.
  net::post(loop_, [this] {
    listener_->Stop();
    connections_.ShutdownAll();
    loop_.stop();
  });
  thread_.join();
}

}  // namespace stratum_guard::server
