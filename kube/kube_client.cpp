#include "kube/kube_client.h"

#include <stdexcept>

#include "common/files.h"
#include "https/client.h"
#include "kube/exec_credential.h"

namespace stratum_guard::kube {

std::string QueryEscape(std::string_view value) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(value.size());
  for (unsigned char c : value) {
    bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                      c == '-' || c == '.' || c == '_' || c == '~';
    if (unreserved) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xf]);
    }
  }
  return out;
}

namespace {

https::ClientOptions ClientOptionsFor(const ClusterConfig& config, const KubeClient::Options& o) {
  https::ClientOptions c;
  c.host = config.host;
  c.port = config.port;
  c.base_path = config.base_path;
  c.server_name = config.tls_server_name;
  c.ca_pem = config.ca_pem;
  c.insecure_skip_verify = config.insecure_skip_tls_verify;
  c.client_cert_pem = config.client_cert_pem;
  c.client_key_pem = config.client_key_pem;
  c.connect_timeout = o.connect_timeout;
  c.request_timeout = o.request_timeout;
  c.max_body_bytes = o.max_body_bytes;
  c.max_line_bytes = o.max_watch_line_bytes;
  c.max_idle_connections = o.max_idle_connections;
  c.user_agent = o.user_agent;
  return c;
}

// The bearer token re-read from its file, for every request.
bool ReadTokenFile(const std::string& path, https::Credentials& out, std::string& error) {
  auto text = common::ReadFile(path, &error);
  if (!text) return false;
  std::string_view t = *text;
  while (!t.empty() && (t.back() == '\n' || t.back() == '\r' || t.back() == ' ')) {
    t.remove_suffix(1);
  }
  out.bearer_token = std::string(t);
  return true;
}

KubeError FromHttps(const https::Error& e) {
  if (e.kind == https::Error::Kind::kCancelled) return KubeError::Cancelled();
  return KubeError::Transport(e.message);
}

}  // namespace

struct KubeClient::Impl {
  Impl(ClusterConfig c, Options o) : config(std::move(c)), options(std::move(o)) {
    https::ClientOptions client_options = ClientOptionsFor(config, options);
    if (config.exec) {
      common::Clock& clock = options.clock != nullptr ? *options.clock : system_clock;
      plugin = std::make_unique<ExecCredentialPlugin>(*config.exec, clock);
      client_options.credentials = [this](const common::CancelCheck& cancelled,
                                          https::Credentials& out, std::string& error) {
        return plugin->Get(cancelled, out, error);
      };
    } else if (!config.token_file.empty()) {
      client_options.credentials = [path = config.token_file](const common::CancelCheck&,
                                                              https::Credentials& out,
                                                              std::string& error) {
        if (ReadTokenFile(path, out, error)) return true;
        error = "token file: " + error;
        return false;
      };
    } else if (!config.token.empty()) {
      client_options.credentials = [token = config.token](const common::CancelCheck&,
                                                          https::Credentials& out, std::string&) {
        out.bearer_token = token;
        return true;
      };
    }
    try {
      client = std::make_unique<https::Client>(std::move(client_options));
    } catch (const std::invalid_argument& e) {
      throw KubeConfigError(config.source + ": " + e.what());
    }
  }

  // The process's stop and the call's own check, either of which ends the call.
  common::CancelCheck Cancel(const common::CancelCheck& call) const {
    if (!options.cancelled) return call;
    if (!call) return options.cancelled;
    return [&call, this] { return options.cancelled() || call(); };
  }

  // A 401 may mean the plugin's credential was revoked before its expiry: the next request
  // runs the plugin again, as client-go does.
  void Observe(int status) {
    if (status == 401 && plugin) plugin->Invalidate();
  }

  // One request; non-2xx decoded from its Status; 2xx bodies parsed in place into `doc`.
  KubeError Json(const char* method, const std::string& target, const std::string& body,
                 std::string* storage, rapidjson::Document* doc,
                 const char* content_type = "application/json") {
    https::Request request;
    request.method = method;
    request.target = target;
    request.body = body;
    request.content_type = content_type;
    https::Response res;
    if (https::Error e = client->Do(request, &res, options.cancelled); !e.ok()) {
      return FromHttps(e);
    }
    Observe(res.status);
    if (res.status < 200 || res.status > 299) {
      return DecodeStatus(res.status, res.body, res.Header("Retry-After"));
    }
    if (doc == nullptr) return {};
    *storage = std::move(res.body);
    doc->ParseInsitu(storage->data());
    if (doc->HasParseError() || !doc->IsObject()) {
      return KubeError::Decode("response to " + target + " is not a JSON object");
    }
    return {};
  }

  ClusterConfig config;
  Options options;
  common::SystemClock system_clock;
  std::unique_ptr<ExecCredentialPlugin> plugin;
  std::unique_ptr<https::Client> client;
};

KubeClient::KubeClient(ClusterConfig config) : KubeClient(std::move(config), Options()) {}

KubeClient::KubeClient(ClusterConfig config, Options options)
    : impl_(std::make_unique<Impl>(std::move(config), std::move(options))) {}

std::uint64_t KubeClient::connections_opened() const { return impl_->client->connections_opened(); }

KubeClient::~KubeClient() = default;

KubeError KubeClient::ListPods(const std::string& continue_token, int limit,
                               const PodVisitor& visit, ListPage* page) {
  std::string target = "/api/v1/pods";
  char sep = '?';
  if (limit > 0) {
    target += sep + std::string("limit=") + std::to_string(limit);
    sep = '&';
  }
  if (!continue_token.empty())
    target += sep + std::string("continue=") + QueryEscape(continue_token);
  std::string storage;
  rapidjson::Document doc;
  if (KubeError e = impl_->Json("GET", target, "", &storage, &doc); !e.ok()) return e;
  // Pods of this page held parsed in memory: counted as they are visited, released after.
  std::size_t visited = 0;
  KubeError e = DecodePodList(
      doc,
      [&](const rapidjson::Value& pod) {
        ++visited;
        std::size_t held = pods_held_.fetch_add(1) + 1;
        std::size_t seen = max_pods_held_.load();
        while (held > seen && !max_pods_held_.compare_exchange_weak(seen, held)) {
        }
        visit(pod);
      },
      page);
  pods_held_.fetch_sub(visited);
  return e;
}

KubeError KubeClient::GetPod(const std::string& ns, const std::string& name,
                             const PodVisitor& visit) {
  std::string storage;
  rapidjson::Document doc;
  KubeError e =
      impl_->Json("GET", "/api/v1/namespaces/" + ns + "/pods/" + name, "", &storage, &doc);
  if (e.ok()) visit(doc);
  return e;
}

KubeError KubeClient::DeletePod(const std::string& ns, const std::string& name,
                                const std::string& uid,
                                std::optional<std::int64_t> grace_period_seconds) {
  return impl_->Json("DELETE", "/api/v1/namespaces/" + ns + "/pods/" + name,
                     DeleteOptionsJson(uid, grace_period_seconds), nullptr, nullptr);
}

KubeError KubeClient::CreateEvent(const std::string& ns, const std::string& event_json) {
  return impl_->Json("POST", "/api/v1/namespaces/" + ns + "/events", event_json, nullptr, nullptr);
}

namespace {
std::string LeasePath(const std::string& ns) {
  return "/apis/coordination.k8s.io/v1/namespaces/" + ns + "/leases";
}
}  // namespace

KubeError KubeClient::GetLease(const std::string& ns, const std::string& name, Lease* out) {
  std::string storage;
  rapidjson::Document doc;
  KubeError e = impl_->Json("GET", LeasePath(ns) + "/" + name, "", &storage, &doc);
  if (e.ok() && !LeaseFromJson(doc, out)) return KubeError::Decode("not a Lease");
  return e;
}

KubeError KubeClient::CreateLease(const Lease& lease, Lease* out) {
  std::string storage;
  rapidjson::Document doc;
  KubeError e =
      impl_->Json("POST", LeasePath(lease.namespace_), LeaseToJson(lease), &storage, &doc);
  if (e.ok() && !LeaseFromJson(doc, out)) return KubeError::Decode("not a Lease");
  return e;
}

KubeError KubeClient::UpdateLease(const Lease& lease, Lease* out) {
  std::string storage;
  rapidjson::Document doc;
  KubeError e = impl_->Json("PUT", LeasePath(lease.namespace_) + "/" + lease.name,
                            LeaseToJson(lease), &storage, &doc);
  if (e.ok() && !LeaseFromJson(doc, out)) return KubeError::Decode("not a Lease");
  return e;
}

namespace {
std::string PolicyReportPath(const std::string& ns, const std::string& name = {}) {
  std::string path = std::string(kPolicyReportsPath) + "/namespaces/" + ns + "/policyreports";
  return name.empty() ? path : path + "/" + name;
}
}  // namespace

KubeError KubeClient::ListPolicyReports(const std::string& label_selector,
                                        const PodVisitor& visit) {
  std::string target = std::string(kPolicyReportsPath) + "/policyreports";
  if (!label_selector.empty()) target += "?labelSelector=" + QueryEscape(label_selector);
  std::string storage;
  rapidjson::Document doc;
  if (KubeError e = impl_->Json("GET", target, "", &storage, &doc); !e.ok()) return e;
  const rapidjson::Value* items = common::JsonMember(doc, "items");
  if (items == nullptr || items->IsNull()) return {};
  if (!items->IsArray()) return KubeError::Decode("policy report list: items is not an array");
  for (const auto& report : items->GetArray()) visit(report);
  return {};
}

KubeError KubeClient::GetPolicyReport(const std::string& ns, const std::string& name,
                                      const PodVisitor& visit) {
  std::string storage;
  rapidjson::Document doc;
  KubeError e = impl_->Json("GET", PolicyReportPath(ns, name), "", &storage, &doc);
  if (e.ok()) visit(doc);
  return e;
}

KubeError KubeClient::CreatePolicyReport(const std::string& ns, const std::string& report_json,
                                         const PodVisitor& visit) {
  std::string storage;
  rapidjson::Document doc;
  KubeError e = impl_->Json("POST", PolicyReportPath(ns), report_json, &storage, &doc);
  if (e.ok()) visit(doc);
  return e;
}

KubeError KubeClient::UpdatePolicyReport(const std::string& ns, const std::string& name,
                                         const std::string& report_json, const PodVisitor& visit) {
  std::string storage;
  rapidjson::Document doc;
  KubeError e = impl_->Json("PUT", PolicyReportPath(ns, name), report_json, &storage, &doc);
  if (e.ok()) visit(doc);
  return e;
}

KubeError KubeClient::DeletePolicyReport(const std::string& ns, const std::string& name) {
  return impl_->Json("DELETE", PolicyReportPath(ns, name), "", nullptr, nullptr);
}

// One object in, the stored object to `visit`: the shape of every call below.
namespace {
KubeError VisitJson(KubeClient::Impl& impl, const char* method, const std::string& target,
                    const std::string& body, const PodVisitor& visit,
                    const char* content_type = "application/json") {
  std::string storage;
  rapidjson::Document doc;
  KubeError e = impl.Json(method, target, body, &storage, &doc, content_type);
  if (e.ok()) visit(doc);
  return e;
}
std::string SecretPath(const std::string& ns, const std::string& name = {}) {
  std::string path = "/api/v1/namespaces/" + ns + "/secrets";
  return name.empty() ? path : path + "/" + name;
}
}  // namespace

KubeError KubeClient::GetSecret(const std::string& ns, const std::string& name,
                                const PodVisitor& visit) {
  return VisitJson(*impl_, "GET", SecretPath(ns, name), "", visit);
}

KubeError KubeClient::CreateSecret(const std::string& ns, const std::string& secret_json,
                                   const PodVisitor& visit) {
  return VisitJson(*impl_, "POST", SecretPath(ns), secret_json, visit);
}

KubeError KubeClient::UpdateSecret(const std::string& ns, const std::string& name,
                                   const std::string& secret_json, const PodVisitor& visit) {
  return VisitJson(*impl_, "PUT", SecretPath(ns, name), secret_json, visit);
}

KubeError KubeClient::GetValidatingWebhookConfiguration(const std::string& name,
                                                        const PodVisitor& visit) {
  return VisitJson(*impl_, "GET", std::string(kValidatingWebhookConfigurationsPath) + "/" + name,
                   "", visit);
}

KubeError KubeClient::PatchValidatingWebhookConfiguration(const std::string& name,
                                                          const std::string& json_patch,
                                                          const PodVisitor& visit) {
  return VisitJson(*impl_, "PATCH", std::string(kValidatingWebhookConfigurationsPath) + "/" + name,
                   json_patch, visit, "application/json-patch+json");
}

KubeError KubeClient::WatchPods(const std::string& resource_version, int timeout_seconds,
                                const WatchVisitor& visit, const common::CancelCheck& cancelled) {
  https::Request request;
  request.target = "/api/v1/pods?watch=1&allowWatchBookmarks=true";
  if (!resource_version.empty()) {
    request.target += "&resourceVersion=" + QueryEscape(resource_version);
  }
  if (timeout_seconds > 0) request.target += "&timeoutSeconds=" + std::to_string(timeout_seconds);
  auto idle = std::chrono::seconds(timeout_seconds > 0 ? timeout_seconds : 600) +
              impl_->options.watch_idle_grace;
  KubeError decode_error;
  https::Response res;
  https::Error e = impl_->client->Lines(
      request, idle, &res,
      [&](std::string& line) {
        bool more = true;
        decode_error = DecodeWatchEvent(line, visit, &more);
        return more && decode_error.ok();
      },
      impl_->Cancel(cancelled));
  if (!e.ok()) {
    KubeError error = FromHttps(e);
    if (error.kind == KubeError::Kind::kTransport) error.message = "watch: " + error.message;
    return error;
  }
  if (!decode_error.ok()) return decode_error;
  impl_->Observe(res.status);
  if (res.status != 200) return DecodeStatus(res.status, res.body, res.Header("Retry-After"));
  return {};
}

}  // namespace stratum_guard::kube
