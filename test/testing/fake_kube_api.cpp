#include "test/testing/fake_kube_api.h"

#include <rapidjson/pointer.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "test/testing/json_patch.h"

namespace stratum_guard::kube::testing {

KubeError StatusError(int code, std::string reason) {
  KubeError e;
  e.kind = KubeError::Kind::kStatus;
  e.code = code;
  e.reason = reason.empty() ? std::string(ReasonForCode(code)) : std::move(reason);
  return e;
}

void FakeKubeApi::AddPod(const std::string& pod_json) {
  rapidjson::Document doc;
  doc.Parse(pod_json.c_str());
  std::lock_guard lock(mu_);
  pods_[std::string(MetadataString(doc, "namespace")) + "/" +
        std::string(MetadataString(doc, "name"))] = pod_json;
}

bool FakeKubeApi::HasPod(const std::string& ns, const std::string& name) const {
  std::lock_guard lock(mu_);
  return pods_.count(ns + "/" + name) > 0;
}

void FakeKubeApi::FailNext(const std::string& method, KubeError error, int count) {
  std::lock_guard lock(mu_);
  for (int i = 0; i < count; ++i) failures_[method].push_back(error);
}

bool FakeKubeApi::Fail(const std::string& method, KubeError* error) {
  ++calls_[method];
  auto& queue = failures_[method];
  if (queue.empty()) return false;
  *error = queue.front();
  queue.erase(queue.begin());
  return true;
}

KubeError FakeKubeApi::ListPods(const std::string& continue_token, int limit,
                                const PodVisitor& visit, ListPage* page) {
  std::vector<std::string> batch;
  {
    std::lock_guard lock(mu_);
    KubeError e;
    if (Fail("list", &e)) return e;
    if (!continue_token.empty() && expire_continue_ > 0) {
      --expire_continue_;
      return StatusError(410, "Expired");
    }
    auto it = continue_token.empty() ? pods_.begin() : pods_.upper_bound(continue_token);
    int n = 0;
    std::string last;
    for (; it != pods_.end() && (limit <= 0 || n < limit); ++it, ++n) {
      batch.push_back(it->second);
      last = it->first;
    }
    page->resource_version = std::to_string(rv_);
    page->continue_token = it == pods_.end() ? "" : last;
  }
  for (const auto& json : batch) {
    rapidjson::Document doc;
    doc.Parse(json.c_str());
    visit(doc);
  }
  return {};
}

KubeError FakeKubeApi::WatchPods(const std::string&, int, const WatchVisitor&,
                                 const common::CancelCheck&) {
  std::lock_guard lock(mu_);
  ++calls_["watch"];
  return {};
}

KubeError FakeKubeApi::GetPod(const std::string& ns, const std::string& name,
                              const PodVisitor& visit) {
  std::string json;
  {
    std::lock_guard lock(mu_);
    KubeError e;
    if (Fail("get_pod", &e)) return e;
    auto it = pods_.find(ns + "/" + name);
    if (it == pods_.end()) return StatusError(404);
    json = it->second;
  }
  rapidjson::Document doc;
  doc.Parse(json.c_str());
  visit(doc);
  return {};
}

KubeError FakeKubeApi::DeletePod(const std::string& ns, const std::string& name,
                                 const std::string& uid, std::optional<std::int64_t> grace) {
  std::lock_guard lock(mu_);
  KubeError e;
  if (Fail("delete", &e)) return e;
  auto it = pods_.find(ns + "/" + name);
  if (it == pods_.end()) return StatusError(404);
  rapidjson::Document doc;
  doc.Parse(it->second.c_str());
  if (MetadataString(doc, "uid") != uid) return StatusError(409);
  pods_.erase(it);
  deletions_.push_back({ns, name, uid, grace});
  return {};
}

KubeError FakeKubeApi::CreateEvent(const std::string&, const std::string& event_json) {
  std::lock_guard lock(mu_);
  KubeError e;
  if (Fail("event", &e)) return e;
  events_.push_back(event_json);
  return {};
}

KubeError FakeKubeApi::GetLease(const std::string& ns, const std::string& name, Lease* out) {
  std::lock_guard lock(mu_);
  KubeError e;
  if (Fail("get_lease", &e)) return e;
  auto it = leases_.find(ns + "/" + name);
  if (it == leases_.end()) return StatusError(404);
  *out = it->second;
  return {};
}

KubeError FakeKubeApi::CreateLease(const Lease& lease, Lease* out) {
  std::lock_guard lock(mu_);
  KubeError e;
  if (Fail("create_lease", &e)) return e;
  std::string key = lease.namespace_ + "/" + lease.name;
  if (leases_.count(key)) return StatusError(409, "AlreadyExists");
  Lease stored = lease;
  stored.resource_version = std::to_string(++rv_);
  leases_[key] = stored;
  *out = stored;
  return {};
}

KubeError FakeKubeApi::UpdateLease(const Lease& lease, Lease* out) {
  std::lock_guard lock(mu_);
  KubeError e;
  if (Fail("update_lease", &e)) return e;
  std::string key = lease.namespace_ + "/" + lease.name;
  auto it = leases_.find(key);
  if (it == leases_.end()) return StatusError(404);
  if (it->second.resource_version != lease.resource_version) return StatusError(409);
  Lease stored = lease;
  stored.resource_version = std::to_string(++rv_);
  it->second = stored;
  *out = stored;
  return {};
}

KubeError FakeKubeApi::ReportsNotInstalled(const std::string& method) {
  std::lock_guard lock(mu_);
  KubeError e;
  if (Fail(method, &e)) return e;
  return StatusError(404);
}

KubeError FakeKubeApi::ListPolicyReports(const std::string&, const PodVisitor&) {
  return ReportsNotInstalled("list_reports");
}
KubeError FakeKubeApi::GetPolicyReport(const std::string&, const std::string&, const PodVisitor&) {
  return ReportsNotInstalled("get_report");
}
KubeError FakeKubeApi::CreatePolicyReport(const std::string&, const std::string&,
                                          const PodVisitor&) {
  return ReportsNotInstalled("create_report");
}
KubeError FakeKubeApi::UpdatePolicyReport(const std::string&, const std::string&,
                                          const std::string&, const PodVisitor&) {
  return ReportsNotInstalled("update_report");
}
KubeError FakeKubeApi::DeletePolicyReport(const std::string&, const std::string&) {
  return ReportsNotInstalled("delete_report");
}

namespace {

std::string Serialize(const rapidjson::Value& value) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  value.Accept(writer);
  return buffer.GetString();
}

void Visit(const std::string& json, const PodVisitor& visit) {
  rapidjson::Document doc;
  doc.Parse(json.c_str());
  visit(doc);
}

}  // namespace

std::string FakeKubeApi::Stamp(const std::string& json, const std::string& ns) {
  rapidjson::Document doc;
  doc.Parse(json.c_str());
  if (doc.HasParseError() || !doc.IsObject()) return json;
  std::string rv = std::to_string(++rv_);
  rapidjson::Pointer("/metadata/resourceVersion").Set(doc, rv.c_str());
  if (!ns.empty()) rapidjson::Pointer("/metadata/namespace").Set(doc, ns.c_str());
  return Serialize(doc);
}

KubeError FakeKubeApi::GetStored(const std::string& method,
                                 const std::map<std::string, std::string>& store,
                                 const std::string& key, const PodVisitor& visit) {
  std::string json;
  {
    std::lock_guard lock(mu_);
    KubeError e;
    if (Fail(method, &e)) return e;
    auto it = store.find(key);
    if (it == store.end()) return StatusError(404);
    json = it->second;
  }
  Visit(json, visit);
  return {};
}

KubeError FakeKubeApi::GetSecret(const std::string& ns, const std::string& name,
                                 const PodVisitor& visit) {
  return GetStored("get_secret", secrets_, ns + "/" + name, visit);
}

KubeError FakeKubeApi::CreateSecret(const std::string& ns, const std::string& secret_json,
                                    const PodVisitor& visit) {
  std::string json;
  {
    std::lock_guard lock(mu_);
    KubeError e;
    if (Fail("create_secret", &e)) return e;
    rapidjson::Document doc;
    doc.Parse(secret_json.c_str());
    std::string key = ns + "/" + std::string(MetadataString(doc, "name"));
    if (secrets_.count(key)) return StatusError(409, "AlreadyExists");
    json = secrets_[key] = Stamp(secret_json, ns);
  }
  Visit(json, visit);
  return {};
}

KubeError FakeKubeApi::UpdateSecret(const std::string& ns, const std::string& name,
                                    const std::string& secret_json, const PodVisitor& visit) {
  std::string json;
  {
    std::lock_guard lock(mu_);
    KubeError e;
    if (Fail("update_secret", &e)) return e;
    auto it = secrets_.find(ns + "/" + name);
    if (it == secrets_.end()) return StatusError(404);
    rapidjson::Document sent, stored;
    sent.Parse(secret_json.c_str());
    stored.Parse(it->second.c_str());
    if (MetadataString(sent, "resourceVersion") != MetadataString(stored, "resourceVersion")) {
      return StatusError(409, "Conflict");
    }
    json = it->second = Stamp(secret_json, ns);
  }
  Visit(json, visit);
  return {};
}

KubeError FakeKubeApi::GetValidatingWebhookConfiguration(const std::string& name,
                                                         const PodVisitor& visit) {
  return GetStored("get_webhook", webhooks_, name, visit);
}

KubeError FakeKubeApi::PatchValidatingWebhookConfiguration(const std::string& name,
                                                           const std::string& json_patch,
                                                           const PodVisitor& visit) {
  std::string json;
  {
    std::lock_guard lock(mu_);
    KubeError e;
    if (Fail("patch_webhook", &e)) return e;
    auto it = webhooks_.find(name);
    if (it == webhooks_.end()) return StatusError(404);
    rapidjson::Document doc;
    doc.Parse(it->second.c_str());
    std::string error;
    if (!stratum_guard::testing::ApplyJsonPatch(json_patch, doc, &error)) {
      return StatusError(422, "Invalid");
    }
    json = it->second = Stamp(Serialize(doc), "");
  }
  Visit(json, visit);
  return {};
}

void FakeKubeApi::PutSecret(const std::string& ns, const std::string& secret_json) {
  rapidjson::Document doc;
  doc.Parse(secret_json.c_str());
  std::lock_guard lock(mu_);
  secrets_[ns + "/" + std::string(MetadataString(doc, "name"))] = Stamp(secret_json, ns);
}

void FakeKubeApi::PutWebhookConfiguration(const std::string& config_json) {
  rapidjson::Document doc;
  doc.Parse(config_json.c_str());
  std::lock_guard lock(mu_);
  webhooks_[std::string(MetadataString(doc, "name"))] = Stamp(config_json, "");
}

std::string FakeKubeApi::secret(const std::string& ns, const std::string& name) const {
  std::lock_guard lock(mu_);
  auto it = secrets_.find(ns + "/" + name);
  return it == secrets_.end() ? "" : it->second;
}

std::string FakeKubeApi::webhook_configuration(const std::string& name) const {
  std::lock_guard lock(mu_);
  auto it = webhooks_.find(name);
  return it == webhooks_.end() ? "" : it->second;
}

std::vector<FakeKubeApi::Deletion> FakeKubeApi::deletions() const {
  std::lock_guard lock(mu_);
  return deletions_;
}

std::vector<std::string> FakeKubeApi::events() const {
  std::lock_guard lock(mu_);
  return events_;
}

int FakeKubeApi::calls(const std::string& method) const {
  std::lock_guard lock(mu_);
  auto it = calls_.find(method);
  return it == calls_.end() ? 0 : it->second;
}

Lease FakeKubeApi::lease(const std::string& ns, const std::string& name) const {
  std::lock_guard lock(mu_);
  auto it = leases_.find(ns + "/" + name);
  return it == leases_.end() ? Lease{} : it->second;
}

}  // namespace stratum_guard::kube::testing
