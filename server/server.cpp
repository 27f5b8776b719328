#include "server/server.h"

#include <algorithm>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <stdexcept>

#include "certs/certificates.h"
#include "common/cpus.h"
#include "common/file_watcher.h"
#include "common/files.h"
#include "common/log.h"
#include "server/address.h"

namespace stratum_guard::server {

namespace net = boost::asio;
using common::Log;
using common::LogLevel;
using net::ip::tcp;

namespace {

std::string ReadOrThrow(const std::string& path) {
  std::string error;
  std::optional<std::string> text = common::ReadFile(path, &error);
  if (!text) throw std::runtime_error(error);
  return std::move(*text);
}

unsigned WorkerCount(unsigned requested) {
  return requested != 0 ? requested : common::AvailableCpus();
}

std::vector<std::unique_ptr<net::io_context>> MakeLoops(unsigned count) {
  std::vector<std::unique_ptr<net::io_context>> loops;
  // Concurrency hint 1: each loop is run by one thread, which lets Asio skip waking others.
  for (unsigned i = 0; i < count; ++i) loops.push_back(std::make_unique<net::io_context>(1));
  return loops;
}

tcp::endpoint EndpointOrThrow(const std::string& text) {
  std::string error;
  std::optional<tcp::endpoint> endpoint = ParseListenAddress(text, &error);
  if (!endpoint) throw std::runtime_error(error);
  return *endpoint;
}

}  // namespace

Server::Server(ServerOptions options, policy::PolicyStore& policies, prometheus::Registry& registry)
    : options_(std::move(options)),
      policies_(policies),
      metrics_(registry),
      registry_(registry),
      webhook_handler_(policies_, metrics_, JudgeOptions{options_.docs_url, options_.enforcement},
                       [this] { return ready_.load(); }),
      metrics_handler_({&registry_, &process_collector_}),
      webhook_connections_("webhook", options_.max_connections, metrics_),
      metrics_connections_("metrics", options_.max_connections, metrics_),
      loops_(MakeLoops(WorkerCount(options_.workers))),
      reload_timer_(*loops_[0]),
      drain_timer_(*loops_[0]) {}

Server::~Server() {
  if (started_) {
    Stop();
    Wait();
  }
}

void Server::LoadTls(const std::vector<std::string>& contents) {
  TlsMaterial material{contents.at(0), contents.at(1), contents.size() > 2 ? contents[2] : ""};
  std::shared_ptr<net::ssl::context> context = MakeServerTlsContext(material);
  auto not_after = certs::CertificateNotAfter(material.certificate_pem);
  if (!not_after) throw std::runtime_error("certificate: cannot read its expiry");
  tls_.Set(std::move(context));
  metrics_.SetCertificateExpiry(*not_after);
}

net::io_context& Server::NextLoop() {
  return *loops_[next_loop_.fetch_add(1, std::memory_order_relaxed) % loops_.size()];
}

void Server::Start() {
  if (started_) throw std::logic_error("Server::Start called twice");
  if (auto policy = policies_.Get()) metrics_.SetPolicyRules(policy->rule_count());
  LoadTlsAndWatch();
  WatchPolicy();
  Listen();
  if (!reloaders_.empty() && options_.reload_interval.count() > 0) ScheduleReload();
  started_ = true;
  ready_ = true;
  RunWorkers();
}

// The serving certificate from files (watched for changes) or from memory (development mode).
void Server::LoadTlsAndWatch() {
  if (!options_.tls_cert_file.empty()) {
    if (options_.tls_key_file.empty()) throw std::runtime_error("--tls-cert needs --tls-key");
    std::vector<std::string> paths = {options_.tls_cert_file, options_.tls_key_file};
    if (!options_.client_ca_file.empty()) paths.push_back(options_.client_ca_file);
    std::vector<std::string> contents;
    for (const std::string& path : paths) contents.push_back(ReadOrThrow(path));
    LoadTls(contents);
    reloaders_.push_back(std::make_unique<common::Reloader>(
        "tls", std::make_unique<common::PollingFileWatcher>(paths),
        [this](const std::vector<std::string>& c) { LoadTls(c); },
        [this](bool ok) { metrics_.RecordTlsReload(ok); }));
  } else {
    std::vector<std::string> contents = {options_.tls_material.certificate_pem,
                                         options_.tls_material.private_key_pem};
    if (!options_.client_ca_file.empty()) {
      contents.push_back(ReadOrThrow(options_.client_ca_file));
    } else if (!options_.tls_material.client_ca_pem.empty()) {
      contents.push_back(options_.tls_material.client_ca_pem);
    }
    LoadTls(contents);
  }
}

void Server::WatchPolicy() {
  if (options_.policy_file.empty()) return;
  std::string source = options_.policy_file;
  reloaders_.push_back(std::make_unique<common::Reloader>(
      "policy", std::make_unique<common::PollingFileWatcher>(std::vector<std::string>{source}),
      [this, source](const std::vector<std::string>& c) {
        std::shared_ptr<const policy::Policy> next = policy::Policy::Compile(c.at(0), source);
        policies_.Set(next);
        metrics_.SetPolicyRules(next->rule_count());
      },
      [this](bool ok) { metrics_.RecordPolicyReload(ok); }));
}

// Binds both ports (throws on a bad address or a port in use) and starts accepting.
void Server::Listen() {
  tcp::endpoint webhook = EndpointOrThrow(options_.listen);
  tcp::endpoint metrics = EndpointOrThrow(options_.metrics_listen);
  auto next_loop = [this]() -> net::io_context& { return NextLoop(); };
  webhook_listener_ = std::make_shared<Listener>(
      *loops_[0], next_loop, webhook,
      [this](LoopSocket socket) {
        return MakeTlsSession(std::move(socket), tls_.Get(), webhook_handler_, options_.limits,
                              webhook_connections_, metrics_);
      },
      webhook_connections_, metrics_);
  // The metrics port answers small requests; it shares the timeouts but not the body limit.
  SessionLimits metrics_limits = options_.limits;
  metrics_limits.max_body_bytes = 64 * 1024;
  metrics_listener_ = std::make_shared<Listener>(
      *loops_[0], next_loop, metrics,
      [this, metrics_limits](LoopSocket socket) {
        return MakePlainSession(std::move(socket), metrics_handler_, metrics_limits,
                                metrics_connections_, metrics_);
      },
      metrics_connections_, metrics_);
  webhook_endpoint_ = webhook_listener_->local_endpoint();
  metrics_endpoint_ = metrics_listener_->local_endpoint();
  webhook_listener_->Start();
  metrics_listener_->Start();
  Log(LogLevel::kInfo, "listening",
      {{"listener", "webhook"},
       {"address", FormatEndpoint(webhook_endpoint_)},
       {"tls", true},
       {"client_auth",
        !options_.client_ca_file.empty() || !options_.tls_material.client_ca_pem.empty()}});
  Log(LogLevel::kInfo, "listening",
      {{"listener", "metrics"}, {"address", FormatEndpoint(metrics_endpoint_)}, {"tls", false}});
}

void Server::RunWorkers() {
  for (auto& loop : loops_) {
    workers_.emplace_back([io = loop.get()] {
      // Keeps a loop with no connection yet from returning at once.
      auto work = net::make_work_guard(*io);
      for (;;) {
        try {
          io->run();
          return;
        } catch (const std::exception& e) {
          // Handlers do not throw by contract; if one ever does, keep the worker serving.
          Log(LogLevel::kError, "worker caught an exception", {{"error", e.what()}});
        }
      }
    });
  }
}

void Server::CheckReloads() {
  std::lock_guard lock(reload_mutex_);
  for (auto& reloader : reloaders_) reloader->Check();
}

void Server::ScheduleReload() {
  reload_timer_.expires_after(options_.reload_interval);
  reload_timer_.async_wait([this](boost::system::error_code ec) {
    if (ec || stop_requested_) return;
    CheckReloads();
    ScheduleReload();
  });
}

void Server::Stop() {
  if (!started_ || stop_requested_.exchange(true)) return;
  net::post(*loops_[0], [this] { BeginShutdown(); });
}

void Server::BeginShutdown() {
  ready_ = false;
  Log(LogLevel::kInfo, "shutting down",
      {{"open_connections",
        static_cast<std::int64_t>(webhook_connections_.Count() + metrics_connections_.Count())},
       {"grace_ms", static_cast<std::int64_t>(options_.shutdown_grace.count())}});
  webhook_listener_->Stop();
  metrics_listener_->Stop();
  reload_timer_.cancel();
  webhook_connections_.ShutdownAll();
  metrics_connections_.ShutdownAll();
  DrainTick(std::chrono::steady_clock::now() + options_.shutdown_grace);
}

void Server::DrainTick(std::chrono::steady_clock::time_point deadline) {
  std::size_t open = webhook_connections_.Count() + metrics_connections_.Count();
  if (open == 0) {
    Log(LogLevel::kInfo, "stopped");
    StopLoops();
    return;
  }
  if (std::chrono::steady_clock::now() >= deadline) {
    Log(LogLevel::kWarn, "shutdown grace expired, closing connections",
        {{"open_connections", static_cast<std::int64_t>(open)}});
    StopLoops();
    return;
  }
  drain_timer_.expires_after(std::chrono::milliseconds(10));
  drain_timer_.async_wait([this, deadline](boost::system::error_code ec) {
    if (!ec) DrainTick(deadline);
  });
}

void Server::StopLoops() {
  for (auto& loop : loops_) loop->stop();
}

void Server::Wait() {
  for (std::thread& worker : workers_) {
    if (worker.joinable()) worker.join();
  }
}

}  // namespace stratum_guard::server
