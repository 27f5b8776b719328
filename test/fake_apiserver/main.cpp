// fake-apiserver: the test fake as a standalone process, for benchmarks (e.g. the Python
// client baseline) and manual runs. Loads N generated pods (every K-th a miner), writes a
// kubeconfig into --dir, prints one "ready" line and serves until SIGTERM/SIGINT.
#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>
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
  CLI11_PARSE(app, argc, argv);

  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);  // before any thread starts

  FakeApiServer::Options options;
  options.token = token;
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
  std::cout << "ready url=" << server.server_url() << " kubeconfig=" << kubeconfig
            << " pods=" << server.pod_count() << std::endl;
  int signal = 0;
  sigwait(&signals, &signal);
  server.Stop();
  std::cout << "stopped deletes=" << server.deletes().size() << std::endl;
  return 0;
}
