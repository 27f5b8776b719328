#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "kube/kube_api.h"
#include "kube/kube_config.h"

namespace stratum_guard::kube {

// KubeApi over HTTPS: the REST paths and their JSON on top of https::Client, which pools
// keep-alive connections, verifies the server against the configured CA and host name and runs
// each call on the calling thread, so the sweep loop, the watch and the leader elector can each
// block on their own call. Credentials are fetched before every request: a token file is
// re-read (a rotated service-account token is picked up at once), an exec plugin's credential
// is reused until it expires or the API server answers 401. Thread-safe.
class KubeClient : public KubeApi {
 public:
  struct Options {
    std::chrono::milliseconds connect_timeout{10'000};  // resolve + TCP + TLS handshake
    std::chrono::milliseconds request_timeout{30'000};  // write + full response (non-watch)
    // Extra silence tolerated on a watch beyond its timeoutSeconds before it is called dead.
    std::chrono::milliseconds watch_idle_grace{30'000};
    std::size_t max_body_bytes = std::size_t{256} << 20;  // one response (a list page)
    std::size_t max_watch_line_bytes = std::size_t{16} << 20;
    std::size_t max_idle_connections = 4;
    std::string user_agent = "stratum-guard";
    // Every call, whatever it is, gives up (kCancelled) once this is true: the process is
    // stopping and a stalled API server must not hold it. Empty: never.
    common::CancelCheck cancelled;
    // Decides when an exec plugin's credential expired; nullptr: the system clock.
    common::Clock* clock = nullptr;
  };

  // Throws KubeConfigError when the CA or client certificate/key cannot be loaded.
  explicit KubeClient(ClusterConfig config);
  KubeClient(ClusterConfig config, Options options);
  ~KubeClient() override;
  KubeClient(const KubeClient&) = delete;  // owns sockets and a TLS context
  KubeClient& operator=(const KubeClient&) = delete;

  KubeError ListPods(const std::string& continue_token, int limit, const PodVisitor& visit,
                     ListPage* page) override;
  KubeError WatchPods(const std::string& resource_version, int timeout_seconds,
                      const WatchVisitor& visit, const common::CancelCheck& cancelled) override;
  KubeError GetPod(const std::string& ns, const std::string& name,
                   const PodVisitor& visit) override;
  KubeError DeletePod(const std::string& ns, const std::string& name, const std::string& uid,
                      std::optional<std::int64_t> grace_period_seconds) override;
  KubeError CreateEvent(const std::string& ns, const std::string& event_json) override;
  KubeError GetLease(const std::string& ns, const std::string& name, Lease* out) override;
  KubeError CreateLease(const Lease& lease, Lease* out) override;
  KubeError UpdateLease(const Lease& lease, Lease* out) override;
  KubeError ListPolicyReports(const std::string& label_selector, const PodVisitor& visit) override;
  KubeError GetPolicyReport(const std::string& ns, const std::string& name,
                            const PodVisitor& visit) override;
  KubeError CreatePolicyReport(const std::string& ns, const std::string& report_json,
                               const PodVisitor& visit) override;
  KubeError UpdatePolicyReport(const std::string& ns, const std::string& name,
                               const std::string& report_json, const PodVisitor& visit) override;
  KubeError DeletePolicyReport(const std::string& ns, const std::string& name) override;
  KubeError GetSecret(const std::string& ns, const std::string& name,
                      const PodVisitor& visit) override;
  KubeError CreateSecret(const std::string& ns, const std::string& secret_json,
                         const PodVisitor& visit) override;
  KubeError UpdateSecret(const std::string& ns, const std::string& name,
                         const std::string& secret_json, const PodVisitor& visit) override;
  KubeError GetValidatingWebhookConfiguration(const std::string& name,
                                              const PodVisitor& visit) override;
  KubeError PatchValidatingWebhookConfiguration(const std::string& name,
                                                const std::string& json_patch,
                                                const PodVisitor& visit) override;

  // The most pods of list pages this client has held parsed in memory at once: never more
  // than one page's worth, which is what keeps a sweep of any cluster size bounded.
  std::size_t max_pods_held() const { return max_pods_held_.load(); }
  std::uint64_t connections_opened() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
  std::atomic<std::size_t> pods_held_{0};
  std::atomic<std::size_t> max_pods_held_{0};
};

// Percent-encodes a query parameter value (RFC 3986 unreserved characters pass through).
std::string QueryEscape(std::string_view value);

}  // namespace stratum_guard::kube
