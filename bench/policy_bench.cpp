// Policy::Evaluate against the product target: a typical pod (3 containers, ~10 args, ~10 env
// vars) under 10 microseconds, and decode + evaluate within 2x of RapidJSON parsing alone.
// Run: build with -DSTRATUM_GUARD_BENCH=ON, then ./bench/policy_bench

#include <benchmark/benchmark.h>
#include <rapidjson/document.h>

#include <string>

#include "policy/policy.h"

namespace {

using stratum_guard::policy::ExtractWorkload;
using stratum_guard::policy::Policy;

// A Deployment as the API server sends it: an app, a sidecar and an init container, with
// ordinary flags, a shell one-liner and a dozen env vars.
const char kTypicalDeployment[] = R"({
  "apiVersion": "apps/v1", "kind": "Deployment",
  "metadata": {"name": "web", "namespace": "shop", "labels": {"app": "web", "tier": "frontend"}},
  "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
    "template": {"metadata": {"labels": {"app": "web"}},
      "spec": {
        "initContainers": [{"name": "migrate", "image": "ghcr.io/acme/web:2.14.1",
          "command": ["/bin/sh", "-c", "until nc -z postgres 5432; do sleep 1; done; /app/migrate up"],
          "env": [{"name": "DATABASE_URL", "value": "postgres://web@postgres:5432/shop"}]}],
        "containers": [
          {"name": "web", "image": "ghcr.io/acme/web:2.14.1",
           "command": ["/app/server"],
           "args": ["--listen=0.0.0.0:8080", "--metrics-listen=0.0.0.0:9090", "--log-level=info",
                    "--db", "postgres://web@postgres:5432/shop", "--cache", "redis:6379",
                    "--workers", "8", "--config", "/etc/web/config.yaml"],
           "env": [{"name": "ENV", "value": "production"}, {"name": "PORT", "value": "8080"},
                   {"name": "REDIS_HOST", "value": "redis.shop.svc.cluster.local"},
                   {"name": "FEATURE_FLAGS", "value": "checkout-v2,search-v3"},
                   {"name": "OTEL_EXPORTER_OTLP_ENDPOINT", "value": "http://otel-collector:4317"},
                   {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                   {"name": "SECRET_KEY", "valueFrom": {"secretKeyRef": {"name": "web", "key": "k"}}},
                   {"name": "TZ", "value": "Europe/Paris"},
                   {"name": "GOMAXPROCS", "value": "2"},
                   {"name": "SENTRY_DSN", "value": "https://abc123@o1.ingest.sentry.io/42"}],
           "ports": [{"containerPort": 8080}, {"containerPort": 9090}],
           "resources": {"requests": {"cpu": "250m", "memory": "256Mi"}}},
          {"name": "envoy", "image": "envoyproxy/envoy:v1.28.0",
           "args": ["-c", "/etc/envoy/envoy.yaml", "--service-cluster", "web", "--log-level", "warn"],
           "env": [{"name": "ENVOY_UID", "value": "0"}]}]}}}})";

std::string BigDeployment() {
  // 30 containers with 40 args and 40 env vars each: the worst case a real object comes near.
  std::string containers;
  for (int c = 0; c < 30; ++c) {
    if (c > 0) containers += ",";
    containers += R"({"name": "c)" + std::to_string(c) + R"(", "image": "ghcr.io/acme/svc-)" +
                  std::to_string(c) + R"(:1.0", "command": ["/app/run"], "args": [)";
    for (int a = 0; a < 40; ++a) {
      if (a > 0) containers += ",";
      containers += R"("--option-)" + std::to_string(a) + R"(=value-)" + std::to_string(a) + R"(")";
    }
    containers += R"(], "env": [)";
    for (int e = 0; e < 40; ++e) {
      if (e > 0) containers += ",";
      containers += R"({"name": "VAR_)" + std::to_string(e) + R"(", "value": "service-)" +
                    std::to_string(e) + R"(.acme.svc.cluster.local:80"})";
    }
    containers += "]}";
  }
  return R"({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "big",
    "namespace": "shop"}, "spec": {"template": {"spec": {"containers": [)" +
         containers + "]}}}}";
}

void Parse(benchmark::State& state, const std::string& json) {
  for (auto _ : state) {
    rapidjson::Document doc;
    doc.Parse(json.c_str(), json.size());
    benchmark::DoNotOptimize(doc.IsObject());
  }
}

void Evaluate(benchmark::State& state, const std::string& json) {
  auto policy = Policy::Default();
  rapidjson::Document doc;
  doc.Parse(json.c_str(), json.size());
  auto workload = ExtractWorkload(doc["kind"].GetString(), doc);
  for (auto _ : state) {
    auto verdict = policy->Evaluate(*workload);
    benchmark::DoNotOptimize(verdict.findings.data());
  }
}

void ParseExtractEvaluate(benchmark::State& state, const std::string& json) {
  auto policy = Policy::Default();
  for (auto _ : state) {
    rapidjson::Document doc;
    doc.Parse(json.c_str(), json.size());
    auto workload = ExtractWorkload(doc["kind"].GetString(), doc);
    auto verdict = policy->Evaluate(*workload);
    benchmark::DoNotOptimize(verdict.findings.data());
  }
}

void BM_ParseTypical(benchmark::State& s) { Parse(s, kTypicalDeployment); }
void BM_EvaluateTypical(benchmark::State& s) { Evaluate(s, kTypicalDeployment); }
void BM_ParseEvaluateTypical(benchmark::State& s) { ParseExtractEvaluate(s, kTypicalDeployment); }
void BM_ParseBig(benchmark::State& s) { Parse(s, BigDeployment()); }
void BM_EvaluateBig(benchmark::State& s) { Evaluate(s, BigDeployment()); }
void BM_ParseEvaluateBig(benchmark::State& s) { ParseExtractEvaluate(s, BigDeployment()); }

void BM_EvaluateMiner(benchmark::State& state) {
  // A denial, with findings to build: the slower, rarer path.
  std::string json = R"({"kind": "Pod", "metadata": {"name": "m", "namespace": "x"},
    "spec": {"containers": [{"name": "m", "image": "alpine:3.19", "command": ["sh", "-c",
    "echo eG1yaWcgLW8gc3RyYXR1bSt0Y3A6Ly9wb29sLnN1cHBvcnR4bXIuY29tOjMzMzM= | base64 -d | sh"],
    "env": [{"name": "POOL", "value": "stratum+tcp://gulf.moneroocean.stream:10128"}]}]}})";
  Evaluate(state, json);
}

BENCHMARK(BM_ParseTypical);
BENCHMARK(BM_EvaluateTypical);
BENCHMARK(BM_ParseEvaluateTypical);
BENCHMARK(BM_ParseBig);
BENCHMARK(BM_EvaluateBig);
BENCHMARK(BM_ParseEvaluateBig);
BENCHMARK(BM_EvaluateMiner);

}  // namespace

BENCHMARK_MAIN();
