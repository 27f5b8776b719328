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
#include "common/files.h"
#include "common/log.h"
#include "common/reloader.h"
#include "kube/kube_client.h"
#include "kube/kube_config.h"
#include "main/commands.h"
#include "main/flags.h"
#include "main/policy_flag.h"
#include "main/registry_flags.h"
#include "main/signals.h"
#include "main/sweeper_flags.h"
#include "policy/policy.h"
#include "policy/policy_store.h"
#include "server/metrics_server.h"
#include "server/server.h"
#include "webhookcerts/cert_controller.h"

namespace stratum_guard::cli {
namespace {

using common::Log;
using common::LogLevel;

// What `serve` is told: the server's own options, written by the flags directly (so their
// defaults are the struct's), and what only the command uses.
struct ServeFlags {
  server::ServerOptions server;
  // Its limits and connection cap are the webhook's (RunServe copies them).
  server::MetricsServerOptions metrics;
  std::string dev_cert_dir = "dev-certs";
  bool sweep = false;  // run the sweeper beside the webhook
  SweeperConfig sweeper;
  RegistryConfig registry;  // --inspect-images and its flags: the webhook's and the sweeper's
  // --manage-certs: the certificate comes from a Secret this process keeps (webhookcerts/).
  bool manage_certs = false;
  webhookcerts::Options certs;
  // Durations as the flags take them; copied into certs.lifetimes after parsing.
  std::chrono::milliseconds ca_validity{std::chrono::hours(24 * 365 * 10)};
  std::chrono::milliseconds cert_validity{std::chrono::hours(24 * 365)};
  std::chrono::milliseconds cert_overlap{std::chrono::minutes(10)};
};

// The namespace of the Secret and Service: the flag, else $POD_NAMESPACE, else the namespace
// file every pod's service account mount carries. Empty when none says.
std::string CertNamespace(const std::string& flag) {
  if (!flag.empty()) return flag;
  if (auto ns = kube::ProcessEnv()("POD_NAMESPACE"); ns && !ns->empty()) return *ns;
  std::string error;
  auto text = common::ReadFile(std::string(kube::kServiceAccountDir) + "/namespace", &error);
  if (!text) return {};
  std::string ns = *text;
  while (!ns.empty() && (ns.back() == '\n' || ns.back() == ' ')) ns.pop_back();
  return ns;
}

// Checks the --manage-certs flags and completes them. Returns an error message, empty if fine.
std::string FinishCertFlags(ServeFlags& flags) {
  webhookcerts::Options& c = flags.certs;
  if (!flags.server.tls_cert_file.empty()) {
    return "--manage-certs and --tls-cert are two sources of one certificate: choose one";
  }
  c.namespace_ = CertNamespace(c.namespace_);
  if (c.namespace_.empty()) {
    return "--manage-certs needs a namespace: --cert-namespace, $POD_NAMESPACE or the service "
           "account's namespace file";
  }
  using std::chrono::duration_cast;
  using std::chrono::seconds;
  c.lifetimes.ca_validity = duration_cast<seconds>(flags.ca_validity);
  c.lifetimes.serving_validity = duration_cast<seconds>(flags.cert_validity);
  c.lifetimes.overlap = duration_cast<seconds>(flags.cert_overlap);
  if (c.lifetimes.serving_validity.count() < 3 || c.lifetimes.ca_validity.count() < 3) {
    return "--cert-validity and --ca-validity must be at least 3s";
  }
  if (c.lifetimes.ca_validity <= c.lifetimes.serving_validity) {
    return "--ca-validity must be longer than --cert-validity";
  }
  if (c.lifetimes.overlap < c.check_interval) {
    return "--cert-overlap must be at least --cert-check-interval: every replica must see a "
           "new CA before any serves from it";
  }
  c.retry_interval = std::min(c.retry_interval, c.check_interval);
  return {};
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
  SweeperConfig sweeper_config = flags.sweeper;
  sweeper_config.options.enforcement = flags.server.enforcement;
  if (flags.sweep) {
    if (std::string error = FinishSweeperConfig(sweeper_config, kube::ProcessEnv());
        !error.empty()) {
      std::cerr << "stratum-guard serve: " << error << "\n";
      return kExitConfig;
    }
  }
  server::ServerOptions options = flags.server;
  ServeFlags cert_flags = flags;
  if (flags.manage_certs) {
    if (std::string error = FinishCertFlags(cert_flags); !error.empty()) {
      std::cerr << "stratum-guard serve: " << error << "\n";
      return kExitConfig;
    }
    // Until the Secret's certificate arrives the server holds a placeholder and is not ready.
    options.await_tls = true;
  }
  if (options.limits.max_inflight_body_bytes < options.limits.max_body_bytes) {
    std::cerr << "stratum-guard serve: --max-inflight-body-bytes ("
              << options.limits.max_inflight_body_bytes << ") is below --max-body-bytes ("
              << options.limits.max_body_bytes
              << "): a body between them would always be refused\n";
    return kExitConfig;
  }
  // The metrics port shares the webhook's timeouts, connection cap and body budget.
  server::MetricsServerOptions metrics_options = flags.metrics;
  metrics_options.limits = options.limits;
  metrics_options.max_connections = options.max_connections;

  // The policy and the registry belong to the process, not to the server: `serve --sweep`
  // shares both with the sweeper.
  std::shared_ptr<const policy::Policy> initial;
  try {
    initial = LoadPolicyFlag(options.policy_file);
  } catch (const std::exception& e) {
    Log(LogLevel::kError, "cannot load the policy", {{"error", e.what()}});
    return kExitConfig;
  }
  Log(LogLevel::kInfo, "policy loaded",
      {{"source", options.policy_file.empty() ? std::string("<default>") : options.policy_file},
       {"rules", static_cast<std::int64_t>(initial->rule_count())},
       {"enforcement", policy::EnforcementName(initial->EnforcementUnder(options.enforcement))},
       {"enforcement_pinned_by_flag", options.enforcement.has_value()}});
  policy::PolicyStore policies(initial);
  auto registry = std::make_shared<prometheus::Registry>();

  if (flags.manage_certs) {
    try {
      certs::PemPair placeholder = certs::DevelopmentCertificate();
      options.tls_material.certificate_pem = std::move(placeholder.certificate_pem);
      options.tls_material.private_key_pem = std::move(placeholder.private_key_pem);
    } catch (const std::exception& e) {
      Log(LogLevel::kError, "cannot make the placeholder certificate", {{"error", e.what()}});
      return kExitConfig;
    }
  } else if (options.tls_cert_file.empty()) {
    try {
      if (!MakeDevelopmentCertificate(flags.dev_cert_dir, &options.tls_material)) {
        return kExitConfig;
      }
    } catch (const std::exception& e) {
      Log(LogLevel::kError, "cannot make the development certificate", {{"error", e.what()}});
      return kExitConfig;
    }
  }

  // The API client of --manage-certs, connected before any thread starts (a broken
  // kubeconfig is a configuration error, exit 2).
  common::StopSignal cert_stop;
  std::unique_ptr<kube::KubeClient> cert_client;
  if (flags.manage_certs) {
    try {
      kube::KubeClient::Options client_options;
      // A stalled API server must not hold the shutdown.
      client_options.cancelled = [&cert_stop] { return cert_stop.stopped(); };
      cert_client = std::make_unique<kube::KubeClient>(
          kube::ResolveClusterConfig(flags.sweeper.kubeconfig, kube::ProcessEnv()), client_options);
    } catch (const std::exception& e) {
      Log(LogLevel::kError, "cannot configure the API client for --manage-certs",
          {{"error", e.what()}});
      return kExitConfig;
    }
  }

  // One image cache for the webhook and the sweeper; it outlives both.
  common::StopSignal images_stop;
  ImageInspectionRuntime images;
  RegistryConfig registry_config = flags.registry;
  if (std::string error =
          StartImageInspection(registry_config, flags.sweeper.kubeconfig, images_stop, &images);
      !error.empty()) {
    std::cerr << "stratum-guard serve: " << error << "\n";
    return kExitConfig;
  }
  if (images.images) {
    options.images.inspector = &images.images->inspector();
    options.images.credentials = &images.images->credentials();
    sweeper_config.options.images = &images.images->inspector();
    sweeper_config.options.image_credentials = &images.images->credentials();
  }

  StopSignals stop_signals;  // before any thread starts

  server::Server server(options, policies, *registry);
  server::MetricsServer metrics(metrics_options, *registry);
  try {
    server.Start();
  } catch (const std::exception& e) {
    Log(LogLevel::kError, "cannot start the webhook", {{"error", e.what()}});
    return kExitConfig;
  }
  try {
    metrics.Start();
  } catch (const std::exception& e) {
    Log(LogLevel::kError, "cannot start the metrics listener", {{"error", e.what()}});
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
  // Self-managed certificates: the controller keeps the Secret and the caBundle and hands each
  // new certificate to the server, whose first one makes it ready.
  std::thread cert_thread;
  if (flags.manage_certs) {
    Log(LogLevel::kInfo, "self-managed certificates",
        {{"secret", cert_flags.certs.namespace_ + "/" + cert_flags.certs.secret_name},
         {"webhook_configuration", cert_flags.certs.webhook_config_name},
         {"service", cert_flags.certs.service_name}});
    cert_thread = std::thread([&] {
      webhookcerts::CertController controller(
          cert_flags.certs, *cert_client,
          [&server](const std::string& cert, const std::string& key) {
            server.SetTls(server::TlsMaterial{cert, key, ""});
          });
      controller.Run(cert_stop);
    });
  }
  std::string_view signal_name = stop_signals.Wait();
  Log(LogLevel::kInfo, "signal received, draining", {{"signal", signal_name}});
  // The webhook first: /readyz turns 503 at once and the drain runs while the sweeper lets its
  // API calls finish, so a stalled API server cannot hold the webhook's shutdown.
  server.Stop();
  sweeper_stop.Stop();
  cert_stop.Stop();
  images_stop.Stop();
  if (cert_thread.joinable()) cert_thread.join();
  if (sweeper_thread.joinable()) sweeper_thread.join();
  server.Wait();
  metrics.Stop();  // last: a scrape during the drain still sees it
  return sweeper_failed ? kExitFailed : kExitOk;
}

}  // namespace

Command AddServeCommand(CLI::App& root) {
  CLI::App* app = root.add_subcommand(
      "serve", "Run the validating admission webhook (HTTPS) and its metrics endpoint");
  auto flags = std::make_shared<ServeFlags>();
  server::ServerOptions& o = flags->server;
  app->add_option("--listen", o.listen,
                  "Webhook address, HOST:PORT or :PORT (all interfaces); port 0 is ephemeral")
      ->capture_default_str();
  app->add_option("--metrics-listen", flags->metrics.listen,
                  "Plain-HTTP address of /metrics and /healthz")
      ->capture_default_str();
  CLI::Option* cert =
      app->add_option("--tls-cert", o.tls_cert_file, "Serving certificate chain (PEM), reloaded");
  CLI::Option* key = app->add_option("--tls-key", o.tls_key_file, "Its private key (PEM)");
  cert->needs(key);
  key->needs(cert);
  app->add_option("--client-ca", o.client_ca_file,
                  "Require client certificates signed by this CA (PEM), reloaded");
  app->add_option("--dev-cert-dir", flags->dev_cert_dir,
                  "Without --tls-cert: where the self-signed certificate is written as ca.pem")
      ->capture_default_str();
  app->add_option("--policy", o.policy_file,
                  "Policy file (YAML), reloaded; default: the embedded policy");
  app->add_option("--docs-url", o.docs_url, "Where denial messages point (#rule-id appended)")
      ->capture_default_str();
  AddEnforcementFlag(*app, o.enforcement);
  app->add_option("--workers", o.workers,
                  "Worker threads (0: the container's CPU quota, else hardware threads)")
      ->capture_default_str();
  app->add_option("--max-body-bytes", o.limits.max_body_bytes, "Largest request body (413 above)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app->add_option("--max-inflight-body-bytes", o.limits.max_inflight_body_bytes,
                  "Request body bytes held at once over all connections (503 above)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app->add_option("--min-body-rate", o.limits.min_body_rate,
                  "Slowest request body in bytes/s after its first second, which also bounds a "
                  "pause; a slower one is cut (0: --header-timeout alone)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app->add_option("--max-connections", o.max_connections,
                  "Open connections per listener; more are closed at once")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  DurationFlag(*app, "--header-timeout", o.limits.header_timeout,
               "Time for a handshake, a request's headers, its body, a response");
  DurationFlag(*app, "--idle-timeout", o.limits.idle_timeout,
               "Time a keep-alive connection may wait for its next request");
  DurationFlag(*app, "--shutdown-grace", o.shutdown_grace,
               "On SIGTERM/SIGINT, time for requests in flight to finish", /*allow_zero=*/true);
  DurationFlag(*app, "--reload-interval", o.reload_interval,
               "How often certificate and policy files are checked for changes",
               /*allow_zero=*/true);
  LogLevelFlag(*app);
  app->add_flag("--sweep", flags->sweep,
                "Also run the sweeper (flags below), sharing this process's policy and metrics");
  AddSweeperFlags(*app, flags->sweeper);
  AddRegistryFlags(*app, flags->registry);
  DurationFlag(*app, "--image-deadline", o.images.deadline,
               "--inspect-images: the most a review waits for image configs not yet cached "
               "(then it is judged on its pod spec, and the fetch goes on for the next one)");

  webhookcerts::Options& c = flags->certs;
  app->add_flag("--manage-certs", flags->manage_certs,
                "Keep the serving certificate in a Secret: create a CA and certificate, write the "
                "CA into the webhook configuration's caBundle, rotate before expiry (instead of "
                "--tls-cert); uses --kubeconfig");
  app->add_option("--cert-secret", c.secret_name,
                  "--manage-certs: the Secret (kubernetes.io/tls plus ca.crt, ca.key)")
      ->capture_default_str();
  app->add_option("--webhook-config", c.webhook_config_name,
                  "--manage-certs: the ValidatingWebhookConfiguration whose caBundle is kept")
      ->capture_default_str();
  app->add_option("--service", c.service_name,
                  "--manage-certs: the Service the certificate names (SERVICE.NAMESPACE.svc)")
      ->capture_default_str();
  app->add_option("--cert-namespace", c.namespace_,
                  "--manage-certs: namespace of the Secret and Service (default: $POD_NAMESPACE, "
                  "else the service account's namespace)");
  DurationFlag(*app, "--ca-validity", flags->ca_validity, "--manage-certs: life of a new CA");
  DurationFlag(*app, "--cert-validity", flags->cert_validity,
               "--manage-certs: life of a serving certificate");
  app->add_option("--cert-renew-fraction", c.lifetimes.renew_after_fraction,
                  "--manage-certs: a certificate is renewed once this share of its life passed")
      ->capture_default_str()
      ->check(CLI::Range(0.05, 0.95));
  DurationFlag(*app, "--cert-overlap", flags->cert_overlap,
               "--manage-certs: during a CA rotation, how long both CAs are trusted before the "
               "serving certificate switches, and again before the old CA goes");
  DurationFlag(*app, "--cert-check-interval", c.check_interval,
               "--manage-certs: how often the Secret is read (rotations by other replicas)");
  return {app, [flags] { return RunServe(*flags); }};
}

}  // namespace stratum_guard::cli
