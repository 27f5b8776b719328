#include "test/manifests/exported_metrics.h"

#include <signal.h>

#include <chrono>
#include <exception>

#include "test/fake_apiserver/fake_apiserver.h"
#include "test/testing/child_process.h"
#include "test/testing/prometheus_text.h"
#include "test/testing/temp_dir.h"
#include "test/testing/tls_client.h"

namespace stratum_guard::manifests {
namespace {

using std::chrono::seconds;

ExportedMetrics Scrape() {
  ExportedMetrics result;
  try {
    // prometheus-cpp writes no `# TYPE` line for a family without series. Every family has a
    // series from the start (docs/OPERATIONS.md, "Metrics"), so the scrape is of an idle
    // binary: no review, no deletion. A name missing then is a name an alert cannot see until
    // its first event, or one the binary never exports.
    fake_apiserver::FakeApiServer api;
    api.Start();
    testing::TempDir dir;
    const std::string kubeconfig = fake_apiserver::WriteKubeconfig(api, dir.path());
    testing::ChildProcess server(
        STRATUM_GUARD_BINARY,
        {"serve", "--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0", "--dev-cert-dir",
         dir.File("certs"), "--sweep", "--kubeconfig", kubeconfig, "--leader-elect=false"});
    const unsigned short webhook_port = server.WaitForListening("webhook");
    const unsigned short metrics_port = server.WaitForListening("metrics");
    if (webhook_port == 0 || metrics_port == 0) {
      result.error = "the server did not start listening";
      return result;
    }
    // The sweeper registers its families when it starts, on its own thread.
    if (!server.WaitForLog("sweeper: starting", {}, seconds(30))) {
      result.error = "the sweeper did not start";
      return result;
    }
    const testing::Response response = testing::PlainGet(metrics_port, "/metrics");
    server.Signal(SIGTERM);
    server.WaitExit(seconds(30));
    if (response.result_int() != 200) {
      result.error = "GET /metrics answered " + std::to_string(response.result_int());
      return result;
    }
    auto exposition = testing::ParsePrometheusText(response.body(), &result.error);
    if (!exposition.has_value()) return result;
    for (const testing::Sample& sample : exposition->samples) result.names.insert(sample.name);
    for (const auto& [family, type] : exposition->types) {
      if (type == "histogram") {
        result.names.insert({family + "_bucket", family + "_sum", family + "_count"});
      } else {
        result.names.insert(family);
      }
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
