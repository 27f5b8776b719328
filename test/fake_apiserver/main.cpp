// fake-apiserver: the test fake as a standalone process, for benchmarks (e.g. the Python
// client baseline), the soak test (test/soak) and manual runs. Loads N generated pods (every
// K-th a miner), writes a kubeconfig and ca.crt into --dir, prints one "ready" line and serves
// until SIGTERM/SIGINT. The --fault-* flags make it fail at random (fake_apiserver.h,
// RandomFaults); /debug/pods and /debug/deletes let another process add pods and count
// deletions.
#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "test/fake_apiserver/fake_apiserver.h"

int main(int argc, char** argv) {
  using namespace stratum_guard::fake_apiserver;
  CLI::App app{"A fake Kubernetes API server for stratum-guard tests and benchmarks."};
  int pods = 1000;
  int miner_every = 1000;
  int namespaces = 50;
  std::string dir = "fake-apiserver";
  std::string token = "test-token";
  app.add_option("--pods", pods, "Pods to load")->capture_default_str();
  app.add_option("--miner-every", miner_every, "Every N-th pod is a miner (0: none)")
      ->capture_default_str();
  app.add_option("--namespaces", namespaces, "Namespaces to spread pods over")
      ->capture_default_str();
  app.add_option("--dir", dir, "Where to write kubeconfig and ca.crt")->capture_default_str();
  app.add_option("--token", token, "Bearer token")->capture_default_str();
  FakeApiServer::Options options;
  auto& faults = options.random_faults;
  app.add_option("--fault-seed", faults.seed, "Seed of the random faults (same seed, same draws)")
      ->capture_default_str();
  app.add_option("--fault-5xx-rate", faults.error_rate,
                 "Share of requests answered 500, 502, 503 or 504")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  app.add_option("--fault-429-rate", faults.throttle_rate,
                 "Share of requests answered 429 with Retry-After")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  app.add_option("--fault-retry-after", faults.retry_after_seconds,
                 "Retry-After seconds of a random 429")
      ->capture_default_str()
      ->check(CLI::Range(0, 86400));
  app.add_option("--fault-slow-rate", faults.slow_rate,
                 "Share of requests answered late (up to --fault-slow-ms)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  app.add_option_function<std::int64_t>(
         "--fault-slow-ms",
         [&faults](std::int64_t ms) { faults.slow_max = std::chrono::milliseconds(ms); },
         "Longest delay of a slow answer, milliseconds (default 0: none)")
      ->check(CLI::Range(std::int64_t{0}, std::int64_t{600'000}));
  app.add_option("--fault-watch-drop-rate", faults.watch_drop_rate,
                 "Share of watches cut mid-stream, without the last chunk")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  app.add_option_function<std::int64_t>(
         "--fault-watch-drop-ms",
         [&faults](std::int64_t ms) { faults.watch_drop_within = std::chrono::milliseconds(ms); },
         "A dropped watch is cut within this many milliseconds of its start (default 10000)")
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{3'600'000}));
  CLI11_PARSE(app, argc, argv);
  if (faults.error_rate + faults.throttle_rate > 1.0) {
    std::cerr << "--fault-5xx-rate plus --fault-429-rate must be at most 1" << std::endl;
    return 2;
  }
  options.token = token;

  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);  // before any thread starts

  FakeApiServer server(options);
  std::vector<std::string> batch;
  for (int i = 0; i < pods; ++i) {
    std::string ns = "ns-" + std::to_string(i % std::max(namespaces, 1));
    std::string name = "app-" + std::to_string(i / 10) + "-" + std::to_string(i);
    PodTemplate pod = (miner_every > 0 && i % miner_every == miner_every - 1)
                          ? MinerPod(ns, "miner-" + std::to_string(i))
                          : BenignPod(ns, name);
    batch.push_back(MakePodJson(pod));
    if (batch.size() == 10'000) {
      server.LoadPods(batch);
      batch.clear();
    }
  }
  server.LoadPods(batch);
  server.Start();
  KubeconfigForm form;
  form.token = token;
  std::string kubeconfig = WriteKubeconfig(server, dir, form);
  std::string ca = dir + "/ca.crt";
  std::ofstream(ca) << server.ca_pem();
  std::cout << "ready url=" << server.server_url() << " kubeconfig=" << kubeconfig << " ca=" << ca
            << " pods=" << server.pod_count() << std::endl;
  int signal = 0;
  sigwait(&signals, &signal);
  server.Stop();
  std::cout << "stopped deletes=" << server.deletes().size() << std::endl;
  return 0;
}
