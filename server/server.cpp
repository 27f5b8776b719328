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

Server::Server(ServerOptions options, policy::PolicyStore& policies, prometheus::Registry& registry,
               common::Clock& clock)
    : options_(std::move(options)),
      policies_(policies),
      clock_(clock),
      metrics_(registry, {"webhook"}),
      admission_metrics_(registry),
      policy_metrics_(registry),
      webhook_handler_(
          policies_, admission_metrics_, JudgeOptions{options_.docs_url, options_.enforcement},
          [this] { return ready_.load(); }, kDefaultMaxJsonDepth, options_.images),
      webhook_connections_("webhook", options_.max_connections, metrics_),
      loops_(MakeLoops(WorkerCount(options_.workers))),
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
  admission_metrics_.SetCertificateExpiry(*not_after);
}

void Server::SetTls(const TlsMaterial& material) {
  {
    std::lock_guard lock(reload_mutex_);
    try {
      LoadTls({material.certificate_pem, material.private_key_pem, material.client_ca_pem});
    } catch (const std::exception&) {
      admission_metrics_.RecordTlsReload(false);
      throw;
    }
  }
  admission_metrics_.RecordTlsReload(true);
  // Not after Stop(): a shutdown that turned /readyz to 503 stays so.
  if (started_ && !stop_requested_.load()) ready_ = true;
}

net::io_context& Server::NextLoop() {
  return *loops_[next_loop_.fetch_add(1, std::memory_order_relaxed) % loops_.size()];
}

void Server::Start() {
  if (started_) throw std::logic_error("Server::Start called twice");
  // Every policy, the first and each reload (whoever sets it), gets its rules' series at zero.
  policy_subscription_ = policies_.Subscribe([this](const policy::Policy& policy) {
    admission_metrics_.AddRuleSeries(policy);
    policy_metrics_.SetPolicyRules(policy.rule_count());
  });
  LoadTlsAndWatch();
  WatchPolicy();
  Listen();
  started_ = true;
  ready_ = !options_.await_tls;
  RunWorkers();
  if (!reloaders_.empty() && options_.reload_interval.count() > 0) {
    reload_thread_ = std::thread([this] { ReloadUntilStopped(); });
  }
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
        [this](bool ok) { admission_metrics_.RecordTlsReload(ok); }));
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
        policies_.Set(policy::Policy::Compile(c.at(0), source));
      },
      [this](bool ok) { policy_metrics_.RecordPolicyReload(ok); }));
}

// Binds the webhook's port (throws on a bad address or a port in use) and starts accepting.
void Server::Listen() {
  tcp::endpoint webhook = EndpointOrThrow(options_.listen);
  webhook_listener_ = std::make_shared<Listener>(
      *loops_[0], [this]() -> net::io_context& { return NextLoop(); }, webhook,
      [this](LoopSocket socket) {
        return MakeTlsSession(std::move(socket), tls_.Get(), webhook_handler_, options_.limits,
                              webhook_connections_, metrics_);
      },
      webhook_connections_, metrics_);
  webhook_endpoint_ = webhook_listener_->local_endpoint();
  webhook_listener_->Start();
  Log(LogLevel::kInfo, "listening",
      {{"listener", "webhook"},
       {"address", FormatEndpoint(webhook_endpoint_)},
       {"tls", true},
       {"client_auth",
        !options_.client_ca_file.empty() || !options_.tls_material.client_ca_pem.empty()}});
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

// On a thread of its own, so that compiling a large policy never holds up the loops.
void Server::ReloadUntilStopped() {
  auto stopping = [this] { return stop_requested_.load(); };
  while (clock_.SleepFor(options_.reload_interval, stopping)) CheckReloads();
}

void Server::Stop() {
  if (!started_ || stop_requested_.exchange(true)) return;
  net::post(*loops_[0], [this] { BeginShutdown(); });
}

void Server::BeginShutdown() {
  ready_ = false;
  Log(LogLevel::kInfo, "shutting down",
      {{"open_connections", static_cast<std::int64_t>(webhook_connections_.Count())},
       {"grace_ms", static_cast<std::int64_t>(options_.shutdown_grace.count())}});
  webhook_listener_->Stop();
  webhook_connections_.ShutdownAll();
  DrainTick(clock_.Now() + options_.shutdown_grace);
}

void Server::DrainTick(common::Clock::Steady deadline) {
  std::size_t open = webhook_connections_.Count();
  if (open == 0) {
    Log(LogLevel::kInfo, "stopped");
    StopLoops();
    return;
  }
  if (clock_.Now() >= deadline) {
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
  // Reviews still waiting on a registry answer into the stopped loops, which drop the answers
  // with their sessions when they are destroyed, after this.
  webhook_handler_.Stop();
  if (reload_thread_.joinable()) reload_thread_.join();
}

}  // namespace stratum_guard::server
