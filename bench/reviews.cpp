#include "bench/reviews.h"

#include <string>
#include <utility>
#include <vector>

namespace stratum_guard::bench {
namespace {

using Env = std::vector<std::pair<std::string, std::string>>;

std::string Quote(std::string_view s) {
  // The builders only use printable ASCII without quotes or backslashes.
  return "\"" + std::string(s) + "\"";
}

std::string Array(const std::vector<std::string>& items) {
  std::string out = "[";
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += ",";
    out += Quote(items[i]);
  }
  return out + "]";
}

std::string EnvJson(const Env& env) {
  std::string out = "[";
  for (std::size_t i = 0; i < env.size(); ++i) {
    if (i > 0) out += ",";
    out += "{\"name\":" + Quote(env[i].first) + ",\"value\":" + Quote(env[i].second) + "}";
  }
  return out + "]";
}

struct ContainerSpec {
  std::string name;
  std::string image;
  std::vector<std::string> command;
  std::vector<std::string> args;
  Env env;
  std::string extra_env;  // raw JSON env entries appended (valueFrom)
  int port = 0;
};

std::string ContainerJson(const ContainerSpec& c) {
  std::string out = "{\"name\":" + Quote(c.name) + ",\"image\":" + Quote(c.image);
  if (!c.command.empty()) out += ",\"command\":" + Array(c.command);
  if (!c.args.empty()) out += ",\"args\":" + Array(c.args);
  std::string env = EnvJson(c.env);
  if (!c.extra_env.empty()) {
    env.pop_back();
    if (!c.env.empty()) env += ",";
    env += c.extra_env + "]";
  }
  out += ",\"env\":" + env;
  if (c.port > 0) {
    const std::string port = std::to_string(c.port);
    out += ",\"ports\":[{\"name\":\"http\",\"containerPort\":" + port +
           ",\"protocol\":\"TCP\"}]"
           ",\"readinessProbe\":{\"httpGet\":{\"path\":\"/readyz\",\"port\":" +
           port +
           ",\"scheme\":\"HTTP\"},\"periodSeconds\":10,\"timeoutSeconds\":1,"
           "\"successThreshold\":1,\"failureThreshold\":3}"
           ",\"livenessProbe\":{\"httpGet\":{\"path\":\"/healthz\",\"port\":" +
           port +
           ",\"scheme\":\"HTTP\"},\"initialDelaySeconds\":10,\"periodSeconds\":10,"
           "\"timeoutSeconds\":1,\"successThreshold\":1,\"failureThreshold\":3}";
  }
  out +=
      ",\"resources\":{\"limits\":{\"cpu\":\"1\",\"memory\":\"512Mi\"},"
      "\"requests\":{\"cpu\":\"250m\",\"memory\":\"256Mi\"}}"
      ",\"volumeMounts\":[{\"name\":\"config\",\"mountPath\":\"/etc/app\",\"readOnly\":true},"
      "{\"name\":\"kube-api-access-x7k2p\",\"mountPath\":"
      "\"/var/run/secrets/kubernetes.io/serviceaccount\",\"readOnly\":true}]"
      ",\"terminationMessagePath\":\"/dev/termination-log\","
      "\"terminationMessagePolicy\":\"File\",\"imagePullPolicy\":\"IfNotPresent\""
      ",\"securityContext\":{\"allowPrivilegeEscalation\":false,\"runAsNonRoot\":true,"
      "\"readOnlyRootFilesystem\":true,\"capabilities\":{\"drop\":[\"ALL\"]}}}";
  return out;
}

std::string ContainerList(const std::vector<ContainerSpec>& containers) {
  std::string out = "[";
  for (std::size_t i = 0; i < containers.size(); ++i) {
    if (i > 0) out += ",";
    out += ContainerJson(containers[i]);
  }
  return out + "]";
}

std::string PodSpecJson(const std::vector<ContainerSpec>& containers,
                        const std::vector<ContainerSpec>& init_containers,
                        std::string_view restart_policy = "Always") {
  std::string out = "{";
  if (!init_containers.empty()) out += "\"initContainers\":" + ContainerList(init_containers) + ",";
  out += "\"containers\":" + ContainerList(containers) +
         ",\"volumes\":[{\"name\":\"config\",\"configMap\":{\"name\":\"web-config\","
         "\"defaultMode\":420}},{\"name\":\"kube-api-access-x7k2p\",\"projected\":{"
         "\"sources\":[{\"serviceAccountToken\":{\"expirationSeconds\":3607,\"path\":\"token\"}},"
         "{\"configMap\":{\"name\":\"kube-root-ca.crt\",\"items\":[{\"key\":\"ca.crt\","
         "\"path\":\"ca.crt\"}]}}],\"defaultMode\":420}}]"
         ",\"restartPolicy\":" +
         Quote(restart_policy) +
         ",\"terminationGracePeriodSeconds\":30,\"dnsPolicy\":\"ClusterFirst\","
         "\"serviceAccountName\":\"web\",\"serviceAccount\":\"web\","
         "\"securityContext\":{\"runAsUser\":10001,\"fsGroup\":10001},"
         "\"schedulerName\":\"default-scheduler\",\"enableServiceLinks\":true,"
         "\"priority\":0,\"preemptionPolicy\":\"PreemptLowerPriority\","
         "\"tolerations\":[{\"key\":\"node.kubernetes.io/not-ready\",\"operator\":\"Exists\","
         "\"effect\":\"NoExecute\",\"tolerationSeconds\":300},"
         "{\"key\":\"node.kubernetes.io/unreachable\",\"operator\":\"Exists\","
         "\"effect\":\"NoExecute\",\"tolerationSeconds\":300}]}";
  return out;
}

std::string Metadata(std::string_view name, std::string_view ns, std::string_view api_version,
                     std::string_view manager) {
  return "{\"name\":" + Quote(name) + ",\"namespace\":" + Quote(ns) +
         ",\"labels\":{\"app.kubernetes.io/name\":\"web\",\"app.kubernetes.io/part-of\":"
         "\"shop\",\"app.kubernetes.io/version\":\"2.14.1\",\"team\":\"checkout\"}"
         ",\"annotations\":{\"prometheus.io/scrape\":\"true\",\"prometheus.io/port\":\"9090\"}"
         ",\"managedFields\":[{\"manager\":" +
         Quote(manager) + ",\"operation\":\"Update\",\"apiVersion\":" + Quote(api_version) +
         ",\"time\":\"2026-11-28T10:00:00Z\",\"fieldsType\":\"FieldsV1\",\"fieldsV1\":{"
         "\"f:metadata\":{\"f:labels\":{\".\":{},\"f:app.kubernetes.io/name\":{},"
         "\"f:app.kubernetes.io/part-of\":{},\"f:app.kubernetes.io/version\":{},\"f:team\":{}}},"
         "\"f:spec\":{\"f:containers\":{\"k:{\\\"name\\\":\\\"web\\\"}\":{\".\":{},"
         "\"f:image\":{},\"f:name\":{},\"f:args\":{},\"f:env\":{}}}}}}]}";
}

// The AdmissionReview envelope around `object`, for `kind` in `group`/`version` and the
// matching plural `resource`.
std::string Review(std::string_view group, std::string_view version, std::string_view kind,
                   std::string_view resource, std::string_view name, std::string_view object) {
  const std::string gvk = "{\"group\":" + Quote(group) + ",\"version\":" + Quote(version) +
                          ",\"kind\":" + Quote(kind) + "}";
  const std::string gvr = "{\"group\":" + Quote(group) + ",\"version\":" + Quote(version) +
                          ",\"resource\":" + Quote(resource) + "}";
  std::string out =
      "{\"kind\":\"AdmissionReview\",\"apiVersion\":\"admission.k8s.io/v1\",\"request\":{"
      "\"uid\":\"0df28fbd-5f5f-11e8-bc74-36e6bb280816\",\"kind\":" +
      gvk + ",\"resource\":" + gvr + ",\"requestKind\":" + gvk + ",\"requestResource\":" + gvr +
      ",\"name\":" + Quote(name) +
      ",\"namespace\":\"shop\",\"operation\":\"CREATE\","
      "\"userInfo\":{\"username\":\"system:serviceaccount:argocd:argocd-application-controller\","
      "\"uid\":\"7d3a2c8e-1b1f-4a8e-9c55-0f3c1b2a9d10\",\"groups\":["
      "\"system:serviceaccounts\",\"system:serviceaccounts:argocd\",\"system:authenticated\"],"
      "\"extra\":{\"authentication.kubernetes.io/pod-name\":[\"argocd-application-controller-0\"]"
      "}},\"object\":";
  out += object;
  out +=
      ",\"oldObject\":null,\"dryRun\":false,\"options\":{\"kind\":\"CreateOptions\","
      "\"apiVersion\":\"meta.k8s.io/v1\",\"fieldManager\":\"argocd-controller\"}}}";
  return out;
}

std::vector<ContainerSpec> TypicalContainers() {
  ContainerSpec web;
  web.name = "web";
  web.image = "ghcr.io/acme/web:2.14.1@sha256:" + std::string(64, 'a');
  web.command = {"/app/server"};
  web.args = {"--listen=0.0.0.0:8080",
              "--metrics-listen=0.0.0.0:9090",
              "--log-level=info",
              "--db=postgres://web@postgres.shop.svc.cluster.local:5432/shop?sslmode=require",
              "--cache=redis.shop.svc.cluster.local:6379",
              "--workers=8",
              "--config=/etc/app/config.yaml"};
  web.env = {{"ENV", "production"},
             {"PORT", "8080"},
             {"REDIS_HOST", "redis.shop.svc.cluster.local"},
             {"FEATURE_FLAGS", "checkout-v2,search-v3,recommendations"},
             {"OTEL_EXPORTER_OTLP_ENDPOINT", "http://otel-collector.observability:4317"},
             {"OTEL_SERVICE_NAME", "web"},
             {"TZ", "Europe/Paris"},
             {"GOMAXPROCS", "2"},
             {"SENTRY_DSN", "https://abc123@o1.ingest.sentry.io/42"}};
  web.extra_env =
      "{\"name\":\"POD_NAME\",\"valueFrom\":{\"fieldRef\":{\"apiVersion\":\"v1\","
      "\"fieldPath\":\"metadata.name\"}}},{\"name\":\"DB_PASSWORD\",\"valueFrom\":{"
      "\"secretKeyRef\":{\"name\":\"web-db\",\"key\":\"password\"}}}";
  web.port = 8080;

  ContainerSpec envoy;
  envoy.name = "envoy";
  envoy.image = "envoyproxy/envoy:v1.28.0";
  envoy.args = {"-c",
                "/etc/envoy/envoy.yaml",
                "--service-cluster",
                "web",
                "--log-level",
                "warn",
                "--drain-time-s",
                "30"};
  envoy.env = {{"ENVOY_UID", "0"}};
  envoy.port = 15001;

  ContainerSpec fluent;
  fluent.name = "log-shipper";
  fluent.image = "fluent/fluent-bit:2.2.0";
  fluent.command = {"/fluent-bit/bin/fluent-bit"};
  fluent.args = {"-c", "/fluent-bit/etc/fluent-bit.conf", "--enable-hot-reload"};
  fluent.env = {{"FLUENT_ELASTICSEARCH_HOST", "elasticsearch.logging.svc.cluster.local"},
                {"FLUENT_ELASTICSEARCH_PORT", "9200"}};
  return {web, envoy, fluent};
}

std::string PodObject(std::string_view name, const std::vector<ContainerSpec>& containers,
                      const std::vector<ContainerSpec>& init_containers) {
  return "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":" +
         Metadata(name, "shop", "v1", "kubectl-client-side-apply") +
         ",\"spec\":" + PodSpecJson(containers, init_containers) + ",\"status\":{}}";
}

}  // namespace

std::string TypicalPodReview() {
  return Review("", "v1", "Pod", "pods", "web-7c9f8d6b5-x2x9q",
                PodObject("web-7c9f8d6b5-x2x9q", TypicalContainers(), {}));
}

std::string LargePodReview() {
  // Each container: 500 env vars with ~400-byte values (feature lists, JSON-ish configs), and
  // 200 args of ~120 bytes; 4 containers come to about 1 MiB.
  std::vector<ContainerSpec> containers;
  for (int c = 0; c < 4; ++c) {
    ContainerSpec spec;
    spec.name = "worker-" + std::to_string(c);
    spec.image = "registry.example.com/batch/etl-worker:5.3." + std::to_string(c);
    spec.command = {"/usr/local/bin/etl-worker"};
    for (int a = 0; a < 200; ++a) {
      spec.args.push_back("--source-" + std::to_string(a) +
                          "=s3://acme-datalake-eu-west-1/raw/events/year=2026/month=11/"
                          "partition-" +
                          std::to_string(a) + "/part-00000.snappy.parquet");
    }
    for (int e = 0; e < 500; ++e) {
      std::string value = "tenant-" + std::to_string(e) + ":";
      while (value.size() < 400) {
        value += "shard-" + std::to_string(value.size()) + ".etl.svc.cluster.local:8443,";
      }
      spec.env.emplace_back("ETL_ROUTE_" + std::to_string(c) + "_" + std::to_string(e), value);
    }
    spec.port = 8080 + c;
    containers.push_back(std::move(spec));
  }
  return Review("", "v1", "Pod", "pods", "etl-worker-0", PodObject("etl-worker-0", containers, {}));
}

std::string DeploymentReview() {
  const std::string object =
      "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":" +
      Metadata("web", "shop", "apps/v1", "argocd-controller") +
      ",\"spec\":{\"replicas\":3,\"revisionHistoryLimit\":10,\"progressDeadlineSeconds\":600,"
      "\"selector\":{\"matchLabels\":{\"app.kubernetes.io/name\":\"web\"}},"
      "\"strategy\":{\"type\":\"RollingUpdate\",\"rollingUpdate\":{\"maxUnavailable\":\"25%\","
      "\"maxSurge\":\"25%\"}},\"template\":{\"metadata\":{\"labels\":{"
      "\"app.kubernetes.io/name\":\"web\"},\"annotations\":{\"kubectl.kubernetes.io/"
      "restartedAt\":\"2026-11-28T09:00:00Z\"}},\"spec\":" +
      PodSpecJson(TypicalContainers(), {}) + "}},\"status\":{}}";
  return Review("apps", "v1", "Deployment", "deployments", "web", object);
}

std::string CronJobReview() {
  ContainerSpec backup;
  backup.name = "backup";
  backup.image = "ghcr.io/acme/pg-backup:16.1";
  backup.command = {"/bin/sh", "-c"};
  backup.args = {
      "set -euo pipefail; pg_dump --format=custom --no-owner $DATABASE_URL | "
      "gzip -9 | aws s3 cp - s3://acme-backups/shop/$(date +%Y-%m-%dT%H%M).dump.gz "
      "--sse aws:kms --only-show-errors"};
  backup.env = {{"AWS_REGION", "eu-west-1"},
                {"PGCONNECT_TIMEOUT", "10"},
                {"DATABASE_URL", "postgres://backup@postgres.shop.svc.cluster.local:5432/shop"}};
  ContainerSpec wait;
  wait.name = "wait-for-db";
  wait.image = "busybox:1.36";
  wait.command = {"/bin/sh", "-c", "until nc -z postgres.shop 5432; do sleep 2; done"};
  const std::string object =
      "{\"apiVersion\":\"batch/v1\",\"kind\":\"CronJob\",\"metadata\":" +
      Metadata("pg-backup", "shop", "batch/v1", "helm") +
      ",\"spec\":{\"schedule\":\"17 3 * * *\",\"timeZone\":\"Europe/Paris\","
      "\"concurrencyPolicy\":\"Forbid\",\"successfulJobsHistoryLimit\":3,"
      "\"failedJobsHistoryLimit\":1,\"jobTemplate\":{\"spec\":{\"backoffLimit\":2,"
      "\"activeDeadlineSeconds\":3600,\"template\":{\"metadata\":{\"labels\":{"
      "\"app.kubernetes.io/name\":\"pg-backup\"}},\"spec\":" +
      PodSpecJson({backup}, {wait}, "OnFailure") + "}}}},\"status\":{}}";
  return Review("batch", "v1", "CronJob", "cronjobs", "pg-backup", object);
}

std::string MinerPodReview() {
  std::vector<ContainerSpec> containers = TypicalContainers();
  ContainerSpec& web = containers[0];
  web.image = "xmrig/xmrig:6.21.0";
  web.command = {"xmrig"};
  web.args = {"-o",
              "stratum+tcp://pool.supportxmr.com:3333",
              "-u",
              "44AFFq5kSiGBoZ4NMDwYtN18obc8AemS33DBLWs3H7otXft3XjrpDtQGv7SqSsaBYBb98uNbr2"
              "VBBEt7f2wfn3RVGQBEP3A",
              "--donate-level",
              "1",
              "--cpu-priority",
              "5"};
  return Review("", "v1", "Pod", "pods", "web-7c9f8d6b5-m1n3r",
                PodObject("web-7c9f8d6b5-m1n3r", containers, {}));
}

std::string ReviewByName(std::string_view name) {
  if (name == "typical") return TypicalPodReview();
  if (name == "large") return LargePodReview();
  if (name == "deployment") return DeploymentReview();
  if (name == "cronjob") return CronJobReview();
  if (name == "miner") return MinerPodReview();
  return {};
}

}  // namespace stratum_guard::bench
