#pragma once

#include <rapidjson/document.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "common/json.h"
#include "kube/kube_error.h"

namespace stratum_guard::kube {

// The few Kubernetes API calls the sweeper makes. The production implementation is KubeClient
// (HTTPS to a real API server, or to the fake one in tests); unit tests use an in-process fake.
// Implementations are thread-safe: the leader elector and the sweep loop call concurrently.
// No method throws; every failure is a KubeError.

// One page of a pod list: its resourceVersion and the token for the next page ("" = last).
struct ListPage {
  std::string resource_version;
  std::string continue_token;
};

// Called once per pod of a page, in order (or once per object a call returns). The value is only
// valid during the call: the page is released before the next one is fetched, which is what
// bounds memory.
using PodVisitor = std::function<void(const rapidjson::Value& pod)>;

enum class WatchEventType { kAdded, kModified, kDeleted, kBookmark, kError };
std::string_view WatchEventTypeName(WatchEventType type);

// Called once per watch event; `object` is the pod, the bookmark's object or, for kError, a
// meta/v1 Status. Returning false ends the watch (WatchPods then returns ok).
using WatchVisitor = std::function<bool(WatchEventType type, const rapidjson::Value& object)>;

// coordination.k8s.io/v1 Lease, the fields leader election uses. Times are RFC 3339 MicroTime
// strings ("2026-11-28T18:00:00.000000Z") as they travel.
struct Lease {
  std::string namespace_;
  std::string name;
  std::string resource_version;  // empty for a Lease not yet created
  std::string holder_identity;
  int lease_duration_seconds = 0;
  std::string acquire_time;
  std::string renew_time;
  int lease_transitions = 0;
};

class KubeApi {
 public:
  virtual ~KubeApi() = default;

  // GET /api/v1/pods?limit=&continue= (all namespaces). `limit` 0 means no limit.
  virtual KubeError ListPods(const std::string& continue_token, int limit, const PodVisitor& visit,
                             ListPage* page) = 0;

  // GET /api/v1/pods?watch=1&resourceVersion=&allowWatchBookmarks=true&timeoutSeconds=.
  // Blocks while events stream; returns ok when the server ends the stream (timeout) or the
  // visitor returns false; kCancelled when `cancelled` fired (checked at least every 100 ms).
  // A 410 at the start comes back as an error with IsGone(); a 410 mid-stream arrives as an
  // kError event.
  virtual KubeError WatchPods(const std::string& resource_version, int timeout_seconds,
                              const WatchVisitor& visit, const common::CancelCheck& cancelled) = 0;

  // GET /api/v1/namespaces/{ns}/pods/{name}; `visit` sees the pod on success.
  virtual KubeError GetPod(const std::string& ns, const std::string& name,
                           const PodVisitor& visit) = 0;

  // DELETE /api/v1/namespaces/{ns}/pods/{name} with DeleteOptions carrying
  // preconditions.uid = `uid` and gracePeriodSeconds when set.
  virtual KubeError DeletePod(const std::string& ns, const std::string& name,
                              const std::string& uid,
                              std::optional<std::int64_t> grace_period_seconds) = 0;

  // POST /api/v1/namespaces/{ns}/events with a complete core/v1 Event as JSON.
  virtual KubeError CreateEvent(const std::string& ns, const std::string& event_json) = 0;

  // GET/POST/PUT /apis/coordination.k8s.io/v1/namespaces/{ns}/leases[/{name}]. Update sends
  // `lease.resource_version`, so a stale one gets 409 Conflict. `out` receives the stored Lease.
  virtual KubeError GetLease(const std::string& ns, const std::string& name, Lease* out) = 0;
  virtual KubeError CreateLease(const Lease& lease, Lease* out) = 0;
  virtual KubeError UpdateLease(const Lease& lease, Lease* out) = 0;

  // wgpolicyk8s.io/v1alpha2 PolicyReports (kPolicyReportsPath), a CRD that may not be
  // installed: then every call answers 404 for the whole group, which IsNotFound() shows.
  // GET {kPolicyReportsPath}?labelSelector= (all namespaces): `visit` sees each item.
  virtual KubeError ListPolicyReports(const std::string& label_selector,
                                      const PodVisitor& visit) = 0;
  // GET/POST/PUT/DELETE .../namespaces/{ns}/policyreports[/{name}]. `report_json` is a complete
  // PolicyReport; an update carries metadata.resourceVersion, so a stale one gets 409 Conflict.
  // `visit` sees the object as stored.
  virtual KubeError GetPolicyReport(const std::string& ns, const std::string& name,
                                    const PodVisitor& visit) = 0;
  virtual KubeError CreatePolicyReport(const std::string& ns, const std::string& report_json,
                                       const PodVisitor& visit) = 0;
  virtual KubeError UpdatePolicyReport(const std::string& ns, const std::string& name,
                                       const std::string& report_json, const PodVisitor& visit) = 0;
  virtual KubeError DeletePolicyReport(const std::string& ns, const std::string& name) = 0;

  // core/v1 Secrets, for self-managed webhook certificates: GET/POST/PUT
  // /api/v1/namespaces/{ns}/secrets[/{name}]. `secret_json` is a complete Secret; an update
  // carries metadata.resourceVersion, so a stale one gets 409 Conflict. `visit` sees the object
  // as stored.
  virtual KubeError GetSecret(const std::string& ns, const std::string& name,
                              const PodVisitor& visit) = 0;
  virtual KubeError CreateSecret(const std::string& ns, const std::string& secret_json,
                                 const PodVisitor& visit) = 0;
  virtual KubeError UpdateSecret(const std::string& ns, const std::string& name,
                                 const std::string& secret_json, const PodVisitor& visit) = 0;

  // admissionregistration.k8s.io/v1 ValidatingWebhookConfigurations (cluster-scoped): GET, and
  // PATCH with a JSON Patch (RFC 6902, application/json-patch+json) whose "test" operations make
  // it conditional. `visit` sees the object as stored.
  virtual KubeError GetValidatingWebhookConfiguration(const std::string& name,
                                                      const PodVisitor& visit) = 0;
  virtual KubeError PatchValidatingWebhookConfiguration(const std::string& name,
                                                        const std::string& json_patch,
                                                        const PodVisitor& visit) = 0;
};

inline constexpr std::string_view kValidatingWebhookConfigurationsPath =
    "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations";

inline constexpr std::string_view kPolicyReportsPath = "/apis/wgpolicyk8s.io/v1alpha2";

// JSON helpers shared by the client and the fakes.
std::string LeaseToJson(const Lease& lease);
// Returns false when `object` is not a Lease with metadata.
bool LeaseFromJson(const rapidjson::Value& object, Lease* out);
// DeleteOptions as the API documents it: kind, apiVersion, preconditions.uid, gracePeriodSeconds.
std::string DeleteOptionsJson(const std::string& uid, std::optional<std::int64_t> grace);
// RFC 3339 with microseconds in UTC, as metav1.MicroTime serialises.
std::string FormatMicroTime(common::Clock::Wall time);
// RFC 3339 with seconds, as metav1.Time serialises.
std::string FormatTime(common::Clock::Wall time);
// Parses RFC 3339 as FormatMicroTime/FormatTime write it (fraction optional), with 'Z' or a
// numeric offset. nullopt else.
std::optional<common::Clock::Wall> ParseTime(std::string_view text);

// object.metadata.<name> as a string, or "".
std::string_view MetadataString(const rapidjson::Value& object, std::string_view name);

// The decoders under KubeClient's list and watch, apart from the transport, so that tests and
// fuzz targets give them hostile bytes without a server.
// One page of a v1 PodList, already parsed: its metadata into `page`, then `visit` per item.
KubeError DecodePodList(const rapidjson::Value& list, const PodVisitor& visit, ListPage* page);
// One line of a watch stream, parsed in place (`line` is modified): the visitor's call, whose
// answer goes to `*more`, or the error that ends the watch.
KubeError DecodeWatchEvent(std::string& line, const WatchVisitor& visit, bool* more);

}  // namespace stratum_guard::kube
