// `stratum-guard serve`: flags in, objects built, webhook run until SIGTERM/SIGINT.
#include <prometheus/registry.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <thread>

#include "certs/certificates.h"
#include "common/duration.h"
#include "common/log.h"
#include "common/reloader.h"
#include "main/commands.h"
#include "main/policy_flag.h"
#include "main/signals.h"
#include "main/sweeper_flags.h"
#include "policy/policy.h"
#include "policy/policy_store.h"
#include "server/server.h"

namespace stratum_guard::cli {
namespace {

using common::Log;
using common::LogLevel;

// The flags as typed; durations and the log level are parsed in RunServe so that a bad value
// is reported with the flag's name.
struct ServeFlags {
  std::string listen = ":8443";
  std::string metrics_listen = ":9090";
  std::string tls_cert;
  std::string tls_key;
  std::string client_ca;
  std::string dev_cert_dir = "dev-certs";
  std::string policy_file;
  std::string docs_url = "https://github.com/stratum-guard/stratum-guard/blob/main/docs/POLICY.md";
  std::optional<policy::Enforcement> enforcement;  // --enforcement, for the webhook and sweeper
  unsigned workers = 0;
  std::size_t max_body_bytes = 8 << 20;
  std::size_t max_connections = 1024;
  std::string header_timeout = "10s";
  std::string idle_timeout = "90s";
  std::string shutdown_grace = "15s";
  std::string reload_interval = common::FormatDuration(common::kDefaultReloadInterval);
  std::string log_level = "info";
  bool sweep = false;  // run the sweeper beside the webhook
  SweeperConfig sweeper;
};

bool ParseDurationFlag(const std::string& flag, const std::string& text,
                       std::chrono::milliseconds* out) {
  std::optional<std::chrono::milliseconds> value = common::ParseDuration(text);
  if (!value) {
    std::cerr << "stratum-guard serve: " << flag << ": \"" << text
              << "\" is not a duration (examples: 500ms, 10s, 2m)\n";
    return false;
  }
  *out = *value;
  return true;
}

// Development mode: a self-signed certificate for localhost, with its PEM written where
// clients can trust it (curl --cacert DIR/ca.pem).
bool MakeDevelopmentCertificate(const std::string& dir, server::TlsMaterial* material) {
  certs::PemPair pair = certs::DevelopmentCertificate();
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  std::string path = (std::filesystem::path(dir) / "ca.pem").string();
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << pair.certificate_pem;
    if (!out) {
      Log(LogLevel::kError, "cannot write the development certificate",
          {{"path", tmp}, {"error", std::strerror(errno)}});
      return false;
    }
  }
  std::filesystem::rename(tmp, path, ec);  // a client never reads a half-written file
  if (ec) {
    Log(LogLevel::kError, "cannot write the development certificate",
        {{"path", path}, {"error", ec.message()}});
    return false;
  }
  material->certificate_pem = std::move(pair.certificate_pem);
  material->private_key_pem = std::move(pair.private_key_pem);
  Log(LogLevel::kWarn,
      "development mode: serving a self-signed certificate for localhost made in memory; "
      "clients can trust it with the CA file written here. Use --tls-cert/--tls-key in a cluster",
      {{"ca_file", path}});
  return true;
}

int RunServe(const ServeFlags& flags) {
  common::LogLevel level;
  if (!common::ParseLogLevel(flags.log_level, &level)) {
    std::cerr << "stratum-guard serve: --log-level must be debug, info, warn or error\n";
    return kExitConfig;
  }
  common::SetLogLevel(level);
  SweeperConfig sweeper_config = flags.sweeper;
  sweeper_config.options.enforcement = flags.enforcement;
  if (flags.sweep) {
    if (std::string error = FinishSweeperConfig(sweeper_config, kube::ProcessEnv());
        !error.empty()) {
      std::cerr << "stratum-guard serve: " << error << "\n";
      return kExitConfig;
    }
  }
  if (flags.tls_cert.empty() != flags.tls_key.empty()) {
    std::cerr << "stratum-guard serve: --tls-cert and --tls-key go together\n";
    return kExitConfig;
  }
  server::ServerOptions options;
  if (!ParseDurationFlag("--header-timeout", flags.header_timeout,
                         &options.limits.header_timeout) ||
      !ParseDurationFlag("--idle-timeout", flags.idle_timeout, &options.limits.idle_timeout) ||
      !ParseDurationFlag("--shutdown-grace", flags.shutdown_grace, &options.shutdown_grace) ||
      !ParseDurationFlag("--reload-interval", flags.reload_interval, &options.reload_interval)) {
    return kExitConfig;
  }
  if (options.limits.header_timeout.count() == 0 || options.limits.idle_timeout.count() == 0) {
    std::cerr << "stratum-guard serve: timeouts must be above zero\n";
    return kExitConfig;
  }
  options.listen = flags.listen;
  options.metrics_listen = flags.metrics_listen;
  options.tls_cert_file = flags.tls_cert;
  options.tls_key_file = flags.tls_key;
  options.client_ca_file = flags.client_ca;
  options.policy_file = flags.policy_file;
  options.docs_url = flags.docs_url;
  options.enforcement = flags.enforcement;
  options.workers = flags.workers;
  options.limits.max_body_bytes = flags.max_body_bytes;
  options.max_connections = flags.max_connections;

  // The policy and the registry belong to the process, not to the server: `serve --sweep`
  // shares both with the sweeper.
  std::shared_ptr<const policy::Policy> initial;
  try {
    initial = LoadPolicyFlag(flags.policy_file);
  } catch (const std::exception& e) {
    Log(LogLevel::kError, "cannot load the policy", {{"error", e.what()}});
    return kExitConfig;
  }
  Log(LogLevel::kInfo, "policy loaded",
      {{"source", flags.policy_file.empty() ? std::string("<default>") : flags.policy_file},
       {"rules", static_cast<std::int64_t>(initial->rule_count())},
       {"enforcement", policy::EnforcementName(initial->EnforcementUnder(flags.enforcement))},
       {"enforcement_pinned_by_flag", flags.enforcement.has_value()}});
  policy::PolicyStore policies(initial);
  auto registry = std::make_shared<prometheus::Registry>();

  if (flags.tls_cert.empty()) {
    try {
      if (!MakeDevelopmentCertificate(flags.dev_cert_dir, &options.tls_material)) {
        return kExitConfig;
      }
    } catch (const std::exception& e) {
      Log(LogLevel::kError, "cannot make the development certificate", {{"error", e.what()}});
      return kExitConfig;
    }
  }

  StopSignals stop_signals;  // before any thread starts

  server::Server server(options, policies, *registry);
  try {
    server.Start();
  } catch (const std::exception& e) {
    Log(LogLevel::kError, "cannot start the webhook", {{"error", e.what()}});
    return kExitConfig;
  }
  // The sweeper shares the webhook's policy snapshots (a reload reaches both) and its metrics
  // registry (one /metrics). A sweeper that cannot start takes the process down with exit 1,
  // so a broken kubeconfig or RBAC shows as a crash loop instead of a silent half-install.
  common::StopSignal sweeper_stop;
  std::atomic<bool> sweeper_failed{false};
  std::thread sweeper_thread;
  if (flags.sweep) {
    sweeper_thread = std::thread([&] {
      try {
        RunSweeper(sweeper_config, policies, *registry, sweeper_stop);
      } catch (const std::exception& e) {
        Log(LogLevel::kError, "the sweeper stopped", {{"error", e.what()}});
        sweeper_failed = true;
        StopSignals::Raise();  // wake the Wait below
      }
    });
  }
  std::string_view signal_name = stop_signals.Wait();
  Log(LogLevel::kInfo, "signal received, draining", {{"signal", signal_name}});
  sweeper_stop.Stop();
  if (sweeper_thread.joinable()) sweeper_thread.join();
  server.Stop();
  server.Wait();
  return sweeper_failed ? kExitFailed : kExitOk;
}

}  // namespace

Command AddServeCommand(CLI::App& root) {
  CLI::App* app = root.add_subcommand(
      "serve", "Run the validating admission webhook (HTTPS) and its metrics endpoint");
  auto flags = std::make_shared<ServeFlags>();
  app->add_option("--listen", flags->listen,
                  "Webhook address, HOST:PORT or :PORT (all interfaces); port 0 is ephemeral")
      ->capture_default_str();
  app->add_option("--metrics-listen", flags->metrics_listen,
                  "Plain-HTTP address of /metrics and /healthz")
      ->capture_default_str();
  CLI::Option* cert =
      app->add_option("--tls-cert", flags->tls_cert, "Serving certificate chain (PEM), reloaded");
  CLI::Option* key = app->add_option("--tls-key", flags->tls_key, "Its private key (PEM)");
  cert->needs(key);
  key->needs(cert);
  app->add_option("--client-ca", flags->client_ca,
                  "Require client certificates signed by this CA (PEM), reloaded");
  app->add_option("--dev-cert-dir", flags->dev_cert_dir,
                  "Without --tls-cert: where the self-signed certificate is written as ca.pem")
      ->capture_default_str();
  app->add_option("--policy", flags->policy_file,
                  "Policy file (YAML), reloaded; default: the embedded policy");
  app->add_option("--docs-url", flags->docs_url, "Where denial messages point (#rule-id appended)")
      ->capture_default_str();
  AddEnforcementFlag(*app, flags->enforcement);
  app->add_option("--workers", flags->workers,
                  "Worker threads (0: the container's CPU quota, else hardware threads)")
      ->capture_default_str();
  app->add_option("--max-body-bytes", flags->max_body_bytes, "Largest request body (413 above)")
      ->capture_default_str();
  app->add_option("--max-connections", flags->max_connections,
                  "Open connections per listener; more are closed at once")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app->add_option("--header-timeout", flags->header_timeout,
                  "Time for a handshake, a request's headers, its body, a response")
      ->capture_default_str();
  app->add_option("--idle-timeout", flags->idle_timeout,
                  "Time a keep-alive connection may wait for its next request")
      ->capture_default_str();
  app->add_option("--shutdown-grace", flags->shutdown_grace,
                  "On SIGTERM/SIGINT, time for requests in flight to finish")
      ->capture_default_str();
  app->add_option("--reload-interval", flags->reload_interval,
                  "How often certificate and policy files are checked for changes")
      ->capture_default_str();
  app->add_option("--log-level", flags->log_level, "debug, info, warn or error")
      ->capture_default_str();
  app->add_flag("--sweep", flags->sweep,
                "Also run the sweeper (flags below), sharing this process's policy and metrics");
  AddSweeperFlags(*app, flags->sweeper);
  return {app, [flags] { return RunServe(*flags); }};
}

}  // namespace stratum_guard::cli
