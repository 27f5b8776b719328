#include "test/manifests/exported_metrics.h"

#include <signal.h>

#include <chrono>
#include <exception>

#include "test/testing/child_process.h"
#include "test/testing/prometheus_text.h"
#include "test/testing/temp_dir.h"
#include "test/testing/tls_client.h"

namespace stratum_guard::manifests {
namespace {

ExportedMetrics Scrape() {
  ExportedMetrics result;
  testing::TempDir dir;
  // Port 1 on loopback refuses connections: the sweeper keeps retrying its list, and registers
  // its metrics before the first call, as in a cluster whose API server is briefly away.
  const std::string kubeconfig =
      dir.Write("kubeconfig",
                "apiVersion: v1\nkind: Config\n"
                "clusters: [{name: c, cluster: {server: 'https://127.0.0.1:1', "
                "insecure-skip-tls-verify: true}}]\n"
                "users: [{name: u, user: {token: t}}]\n"
                "contexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n");
  try {
    testing::ChildProcess server(
        STRATUM_GUARD_BINARY,
        {"serve", "--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0", "--dev-cert-dir",
         dir.File("certs"), "--sweep", "--kubeconfig", kubeconfig, "--leader-elect=false"});
    const unsigned short port = server.WaitForListening("metrics");
    if (port == 0) {
      result.error = "the server did not start listening for metrics";
      return result;
    }
    const testing::Response response = testing::PlainGet(port, "/metrics");
    server.Signal(SIGTERM);
    server.WaitExit(std::chrono::seconds(30));
    if (response.result_int() != 200) {
      result.error = "GET /metrics answered " + std::to_string(response.result_int());
      return result;
    }
    auto exposition = testing::ParsePrometheusText(response.body(), &result.error);
    if (!exposition.has_value()) return result;
    for (const testing::Sample& sample : exposition->samples) result.names.insert(sample.name);
    for (const auto& [family, type] : exposition->types) {
      std::set<std::string> series = {family};
      if (type == "histogram") {
        series = {family + "_bucket", family + "_sum", family + "_count"};
      } else if (type == "summary") {
        series = {family, family + "_sum", family + "_count"};
      }
      bool sampled = false;
      for (const std::string& name : series) sampled = sampled || result.names.count(name) > 0;
      if (!sampled) result.without_series.insert(family);
      result.names.insert(series.begin(), series.end());
    }
  } catch (const std::exception& e) {
    result.error = e.what();
  }
  return result;
}

}  // namespace

const ExportedMetrics& ScrapeTheBinary() {
  static const ExportedMetrics kScraped = Scrape();
  return kScraped;
}

}  // namespace stratum_guard::manifests
