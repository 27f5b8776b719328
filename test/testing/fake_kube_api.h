#pragma once

#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "kube/kube_api.h"

namespace stratum_guard::kube::testing {

// An in-process KubeApi for unit tests of the sweeper logic and leader election: pods as JSON,
// pages of `limit`, leases with resourceVersion checks, and per-call failure injection.
// Watches return at once (unit tests drive full passes; watches are tested over HTTPS).
// The PolicyReport CRD is never installed here (every call is a counted 404, "list_reports",
// ...): reports are tested against the fake HTTPS API server, which implements them.
class FakeKubeApi : public KubeApi {
 public:
  void AddPod(const std::string& pod_json);  // needs metadata.namespace/name/uid
  bool HasPod(const std::string& ns, const std::string& name) const;

  // The next `count` calls of `method` ("list", "delete", "event", "get_lease", "update_lease",
  // "create_lease", "get_pod") fail with `error`.
  void FailNext(const std::string& method, KubeError error, int count = 1);
  // The next `count` list calls that carry a continue token get 410 Expired.
  void ExpireContinueTokens(int count) { expire_continue_ = count; }

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
  // Secrets ("get_secret", "create_secret", "update_secret") and validating webhook
  // configurations ("get_webhook", "patch_webhook"), stored as JSON with a resourceVersion.
  // Patches apply RFC 6902 test/add/replace/remove on JSON Pointers (rapidjson::Pointer); a
  // failed test is 422 Invalid, as the API server answers it.
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
  // Stores an object as another writer would (a new resourceVersion is set); "" from the
  // accessors when absent.
  void PutSecret(const std::string& ns, const std::string& secret_json);
  void PutWebhookConfiguration(const std::string& config_json);
  std::string secret(const std::string& ns, const std::string& name) const;
  std::string webhook_configuration(const std::string& name) const;

  struct Deletion {
    std::string ns, name, uid;
    std::optional<std::int64_t> grace;
  };
  std::vector<Deletion> deletions() const;
  std::vector<std::string> events() const;  // JSON bodies
  int calls(const std::string& method) const;
  Lease lease(const std::string& ns, const std::string& name) const;

 private:
  bool Fail(const std::string& method, KubeError* error);
  KubeError ReportsNotInstalled(const std::string& method);
  mutable std::mutex mu_;
  std::map<std::string, std::string> pods_;  // "ns/name" -> json
  std::map<std::string, std::vector<KubeError>> failures_;
  std::map<std::string, int> calls_;
  std::vector<Deletion> deletions_;
  std::vector<std::string> events_;
  std::map<std::string, Lease> leases_;
  std::map<std::string, std::string> secrets_;                        // "ns/name" -> json
  std::map<std::string, std::string> webhooks_;                       // name -> json
  std::string Stamp(const std::string& json, const std::string& ns);  // sets a new rv
  KubeError GetStored(const std::string& method, const std::map<std::string, std::string>& store,
                      const std::string& key, const PodVisitor& visit);
  int rv_ = 100;
  int expire_continue_ = 0;
};

KubeError StatusError(int code, std::string reason = {});

}  // namespace stratum_guard::kube::testing
