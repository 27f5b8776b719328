#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace stratum_guard::common {
class Clock;
}  // namespace stratum_guard::common

namespace stratum_guard::fake_apiserver {

// A fake Kubernetes API server for tests and benchmarks: HTTPS on 127.0.0.1 (port 0, kept across
// restarts), a generated CA with server and client certificates, bearer-token or client
// certificate authentication, and just enough of the API for the sweeper, following the
// documented semantics and JSON shapes (kubernetes.io "API Concepts", meta/v1 Status,
// DeleteOptions, coordination.k8s.io/v1 Lease):
//   GET    /api/v1/pods, /api/v1/namespaces/{ns}/pods      list (limit/continue) or watch=1
//   GET    /api/v1/namespaces/{ns}/pods/{name}
//   DELETE /api/v1/namespaces/{ns}/pods/{name}              DeleteOptions preconditions
//   POST   /api/v1/namespaces/{ns}/events
//   GET/POST/PUT /apis/coordination.k8s.io/v1/namespaces/{ns}/leases[/{name}]
//   GET    /apis/wgpolicyk8s.io/v1alpha2/policyreports?labelSelector=key=value
//   GET/POST/PUT/DELETE /apis/wgpolicyk8s.io/v1alpha2/namespaces/{ns}/policyreports[/{name}]
//     (the CRD: installed by default, SetPolicyReportsInstalled(false) makes the whole group
//     404; the schema's result and severity enums are checked, 422 else)
//   GET/POST/PUT /api/v1/namespaces/{ns}/secrets[/{name}]      (a kubernetes.io/tls Secret
//     needs tls.crt and tls.key, 422 else)
//   GET/PATCH /apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/{name}
//     (PATCH: application/json-patch+json only, 415 else; a failed operation is 422)
// and, for a driver in another process (the soak test), with the same bearer token:
//   POST   /debug/pods       AddPod with the body; answers {"uid":...}
//   GET    /debug/deletes    every DELETE of a pod so far: {"deletes":[{"namespace","name",
//                            "status"}]}, in arrival order
// Simplifications, stated so tests do not rely on more: a continued list reads the current
// state after the token's key (a real server reads its etcd snapshot); a deleted pod disappears
// at once with a DELETED event (as a real server does for pods not bound to a node); one
// resourceVersion counter spans pods, events and leases, as etcd's revision does.
//
// Tests drive it in-process (AddPod, knobs, records); every method is thread-safe.
class FakeApiServer {
 public:
  struct Options {
    std::string token = "test-token";  // accepted bearer token (user "test-user")
    std::chrono::milliseconds bookmark_interval{1000};
    std::size_t history_limit = 200'000;  // watch events kept; older ones are compacted
    // Lease whose holder is recorded with every DELETE (for the leader election test).
    std::string tracked_lease_namespace = "stratum-guard";
    std::string tracked_lease_name = "stratum-guard-sweeper";
    // Measures DeleteRecord::ms_since_user_lease_write, on the clients' simulated timeline
    // when they run on one; null: the steady clock. Must outlive the server.
    const common::Clock* clock = nullptr;

    // Failures drawn at random, for soak runs (`fake-apiserver --fault-*`): each request after
    // authentication is, with these probabilities, answered 5xx (500, 502, 503 or 504), or 429
    // with Retry-After, or answered late; a watch is, with watch_drop_rate, cut mid-stream
    // (no last chunk) at a random moment within watch_drop_within. The same seed gives the
    // same draws in the same order. The /debug/ paths are never faulted.
    struct RandomFaults {
      std::uint64_t seed = 1;
      double error_rate = 0;
      double throttle_rate = 0;
      int retry_after_seconds = 1;
      double slow_rate = 0;
      std::chrono::milliseconds slow_max{0};  // a slow answer waits up to this long
      double watch_drop_rate = 0;
      std::chrono::milliseconds watch_drop_within{10'000};
    };
    RandomFaults random_faults;
  };

  // A failure served instead of the real answer: the `nth` matching call from now on (and the
  // `times - 1` after it) gets `status` with a Status body and optional Retry-After.
  struct Fault {
    std::string method;         // "GET", "DELETE", ...; empty matches any
    std::string path_contains;  // substring of the target; empty matches any
    std::string user;           // only this user's calls; empty matches any
    int nth = 1;
    int times = 1;
    int status = 429;
    std::string reason = "TooManyRequests";
    int retry_after_seconds = -1;  // < 0: no header
  };

  struct DeleteRecord {
    std::string namespace_;
    std::string name;
    std::string precondition_uid;
    std::optional<std::int64_t> grace_period_seconds;
    std::string user;
    int status = 0;            // what the fake answered
    std::string lease_holder;  // holder of the tracked lease at that moment
    // How long before this DELETE the request's user last wrote the tracked lease successfully
    // (-1 if never).
    std::int64_t ms_since_user_lease_write = -1;
  };

  struct EventRecord {
    std::string namespace_;
    std::string name;
    std::string reason;
    std::string message;
    std::string type;
    std::string involved_kind;
    std::string involved_namespace;
    std::string involved_name;
    std::string involved_uid;
    std::string source_component;
    std::string json;
  };

  explicit FakeApiServer(Options options);
  FakeApiServer();
  ~FakeApiServer();
  FakeApiServer(const FakeApiServer&) = delete;  // owns threads and sockets
  FakeApiServer& operator=(const FakeApiServer&) = delete;

  // Starts listening (the first time on a fresh port, afterwards on the same one).
  void Start();
  // Closes the listener and every connection at once, as a crashing API server would: watches
  // end mid-stream. State (pods, resourceVersions, leases) survives for the next Start().
  void Stop();
  std::uint16_t port() const { return port_; }
  std::string server_url() const;

  // PEM material generated at construction.
  const std::string& ca_pem() const { return ca_pem_; }
  const std::string& client_cert_pem() const { return client_cert_pem_; }  // CN=cert-user
  const std::string& client_key_pem() const { return client_key_pem_; }

  // Authentication: replaces the default token (the old one stops working: a rotation), or
  // adds another token for another user.
  void SetToken(const std::string& token);
  void AddToken(const std::string& token, const std::string& user);

  // Pods. AddPod takes a Pod as JSON, fills metadata.uid (when missing), resourceVersion and
  // creationTimestamp, stores it and emits ADDED; returns the uid.
  std::string AddPod(const std::string& pod_json);
  // Like AddPod for many pods at once, without watch history (benchmark loading).
  void LoadPods(const std::vector<std::string>& pod_jsons);
  bool UpdatePod(const std::string& pod_json);                     // MODIFIED; false if absent
  bool RemovePod(const std::string& ns, const std::string& name);  // DELETED
  bool HasPod(const std::string& ns, const std::string& name) const;
  std::size_t pod_count() const;
  std::uint64_t resource_version() const;

  // Knobs.
  void ExpireContinueTokens();  // every continue token issued so far answers 410 Expired
  // Drops the watch history: every resourceVersion issued so far is too old (410), live
  // watches included.
  void Compact();
  void SetWatchGoneAsHttpStatus(bool http);  // 410 as the HTTP status instead of an ERROR event
  void InjectFault(const Fault& fault);
  void ClearFaults();
  // While stalled, every request read gets no answer (the connection stays open) until
  // SetStalled(false), which answers them, or Stop(): an API server that hangs mid-request.
  void SetStalled(bool stalled);
  // Waits until a request is held by the stall; false after `timeout`.
  bool WaitForStalledRequest(std::chrono::milliseconds timeout) const;

  // PolicyReports. Bump: another writer updated the report (its resourceVersion moves on).
  void SetPolicyReportsInstalled(bool installed);
  bool BumpPolicyReport(const std::string& ns, const std::string& name);
  std::optional<std::string> policy_report_json(const std::string& ns,
                                                const std::string& name) const;
  std::size_t policy_report_count() const;
  std::uint64_t policy_report_writes() const;  // successful creates, updates and deletes

  // Secrets and validating webhook configurations, stored as another writer would (a new
  // resourceVersion); the accessors give nullopt when absent.
  void PutSecret(const std::string& ns, const std::string& secret_json);
  void PutWebhookConfiguration(const std::string& config_json);
  std::optional<std::string> secret_json(const std::string& ns, const std::string& name) const;
  std::optional<std::string> webhook_configuration_json(const std::string& name) const;

  // Records.
  std::vector<DeleteRecord> deletes() const;
  std::vector<EventRecord> events() const;
  std::optional<std::string> lease_json(const std::string& ns, const std::string& name) const;
  std::uint64_t requests(const std::string& method) const;  // "" = all
  std::uint64_t list_requests() const;
  std::uint64_t watch_requests() const;
  std::uint64_t unauthorized() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
  std::uint16_t port_ = 0;
  std::string ca_pem_;
  std::string client_cert_pem_;
  std::string client_key_pem_;
};

// Writes a kubeconfig for the fake server. The forms cover what the client supports.
struct KubeconfigForm {
  enum class Auth { kToken, kTokenFile, kClientCert, kExec };
  Auth auth = Auth::kToken;
  bool inline_data = true;   // *-data fields (base64) rather than file paths
  std::string token;         // empty: the server's default token
  std::string exec_command;  // kExec: the plugin (client.authentication.k8s.io/v1)
};
// Writes files (kubeconfig, and ca.crt/token/client.crt/client.key when not inline) into `dir`;
// returns the kubeconfig's path.
std::string WriteKubeconfig(const FakeApiServer& server, const std::string& dir,
                            const KubeconfigForm& form = {});

// Writes an executable shell script (`body` after "#!/bin/sh") into `dir`; returns its path.
// For fake exec credential plugins.
std::string WriteScript(const std::string& dir, const std::string& name, const std::string& body);

// A realistic Pod as JSON (labels, owner, resources, probes, status), about 2 KiB.
struct PodTemplate {
  std::string namespace_;
  std::string name;
  std::string image = "registry.example.com/shop/web:1.4.2";
  std::vector<std::string> command;
  std::vector<std::string> args;
  std::vector<std::pair<std::string, std::string>> env;
  std::vector<std::pair<std::string, std::string>> labels;
  std::string controller_uid;  // ownerReferences[controller] when non-empty
  std::string phase = "Running";
  std::string uid;                              // empty: the fake server assigns one
  bool terminating = false;                     // metadata.deletionTimestamp set
  std::vector<std::string> image_pull_secrets;  // spec.imagePullSecrets[].name
};
std::string MakePodJson(const PodTemplate& pod);
// An ordinary web pod.
PodTemplate BenignPod(const std::string& ns, const std::string& name);
// A pod running xmrig against a Stratum pool: what every default policy must deny.
PodTemplate MinerPod(const std::string& ns, const std::string& name);

}  // namespace stratum_guard::fake_apiserver
