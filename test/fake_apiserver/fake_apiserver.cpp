#include "test/fake_apiserver/fake_apiserver.h"

#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <sys/socket.h>

#include <algorithm>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <list>
#include <random>
#include <stdexcept>

#include "common/base64.h"
#include "common/clock.h"
#include "common/json.h"
#include "test/fake_apiserver/certs.h"
#include "test/testing/json_patch.h"

namespace stratum_guard::fake_apiserver {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;
using Writer = rapidjson::Writer<rapidjson::StringBuffer>;
using SteadyTime = std::chrono::steady_clock::time_point;

namespace {

std::string PercentDecode(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      out.push_back(static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16)));
      i += 2;
    } else if (s[i] == '+') {
      out.push_back(' ');
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

std::string Str(const rapidjson::Value& v, const char* name) {
  return std::string(common::JsonString(v, name));
}

const rapidjson::Value* Obj(const rapidjson::Value& v, const char* name) {
  const rapidjson::Value* member = common::JsonMember(v, name);
  return member != nullptr && member->IsObject() ? member : nullptr;
}

std::string Serialize(const rapidjson::Value& v) {
  rapidjson::StringBuffer buffer;
  Writer w(buffer);
  v.Accept(w);
  return {buffer.GetString(), buffer.GetSize()};
}

void SetString(rapidjson::Value& object, const char* name, const std::string& value,
               rapidjson::Document::AllocatorType& alloc) {
  rapidjson::Value v(value.c_str(), static_cast<rapidjson::SizeType>(value.size()), alloc);
  auto it = object.FindMember(name);
  if (it != object.MemberEnd()) {
    it->value = v;
  } else {
    object.AddMember(rapidjson::Value(name, alloc), v, alloc);
  }
}

rapidjson::Value& EnsureObject(rapidjson::Value& object, const char* name,
                               rapidjson::Document::AllocatorType& alloc) {
  auto it = object.FindMember(name);
  if (it == object.MemberEnd() || !it->value.IsObject()) {
    if (it != object.MemberEnd()) object.RemoveMember(it);
    object.AddMember(rapidjson::Value(name, alloc), rapidjson::Value(rapidjson::kObjectType),
                     alloc);
    return object[name];
  }
  return it->value;
}

std::string NowRfc3339() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// A meta/v1 Status as the API server writes it.
std::string StatusJson(int code, const std::string& reason, const std::string& message,
                       const std::string& name = {}, const std::string& kind = {},
                       const std::string& group = {}) {
  rapidjson::StringBuffer buffer;
  Writer w(buffer);
  w.StartObject();
  w.Key("kind");
  w.String("Status");
  w.Key("apiVersion");
  w.String("v1");
  w.Key("metadata");
  w.StartObject();
  w.EndObject();
  w.Key("status");
  w.String("Failure");
  w.Key("message");
  w.String(message);
  w.Key("reason");
  w.String(reason);
  if (!name.empty() || !kind.empty()) {
    w.Key("details");
    w.StartObject();
    if (!name.empty()) {
      w.Key("name");
      w.String(name);
    }
    if (!group.empty()) {
      w.Key("group");
      w.String(group);
    }
    if (!kind.empty()) {
      w.Key("kind");
      w.String(kind);
    }
    w.EndObject();
  }
  w.Key("code");
  w.Int(code);
  w.EndObject();
  return {buffer.GetString(), buffer.GetSize()};
}

struct StoredPod {
  std::string ns;
  std::string name;
  std::string uid;
  std::uint64_t rv = 0;
  std::shared_ptr<const std::string> json;
};

struct HistoryEvent {
  std::uint64_t rv = 0;
  std::string type;
  std::string ns;
  std::shared_ptr<const std::string> json;
};

struct StoredLease {
  std::string json;
  std::uint64_t rv = 0;
  std::string holder;
};

// A stored object of the kinds kept as JSON (PolicyReports, Secrets, webhook configurations).
struct StoredObject {
  std::string json;
  std::uint64_t rv = 0;
};

struct FaultState {
  FakeApiServer::Fault fault;
  int seen = 0;
  int fired = 0;
};

using Stream = beast::ssl_stream<tcp::socket>;
using Request = http::request<http::string_body>;

}  // namespace

struct FakeApiServer::Impl {
  explicit Impl(Options o) : options(std::move(o)), ctx(ssl::context::tls_server) {}

  Options options;
  TestPki pki;
  ssl::context ctx;
  net::io_context ioc;  // owns sockets only; every operation here is synchronous
  std::unique_ptr<tcp::acceptor> acceptor;
  std::thread accept_thread;
  std::atomic<bool> running{false};
  std::uint16_t port = 0;

  mutable std::mutex mu;
  std::condition_variable cv;
  std::uint64_t generation = 0;  // bumped by Stop(): watches of an older one end at once
  std::map<std::string, std::string> tokens;  // token -> user
  std::string default_token;
  std::map<std::string, StoredPod> pods;  // key "ns/name"
  std::deque<HistoryEvent> history;
  std::uint64_t rv = 1000;
  std::uint64_t compacted_rv = 0;
  std::uint64_t continue_epoch = 0;  // tokens of an older epoch are expired
  bool gone_as_http = false;
  std::uint64_t uid_counter = 0;
  std::vector<FaultState> faults;
  std::vector<DeleteRecord> delete_records;
  std::vector<EventRecord> event_records;
  std::map<std::string, StoredLease> leases;
  std::map<std::string, SteadyTime> lease_write_by_user;
  bool reports_installed = true;
  std::map<std::string, StoredObject> reports;                 // key "ns/name"
  std::map<std::string, StoredObject> secrets;                 // key "ns/name"
  std::map<std::string, StoredObject> webhook_configurations;  // key: name (cluster-scoped)
  std::uint64_t report_writes = 0;
  std::map<std::string, std::uint64_t> requests_by_method;
  std::uint64_t list_count = 0;
  std::uint64_t watch_count = 0;
  std::uint64_t unauthorized_count = 0;
  bool stalled = false;
  std::uint64_t stalled_requests = 0;                  // held by the stall right now
  std::mt19937_64 random{options.random_faults.seed};  // mu held

  struct Conn {
    std::thread thread;
    int fd = -1;
    std::shared_ptr<std::atomic<bool>> done;
  };
  std::mutex conn_mu;
  std::list<Conn> conns;

  SteadyTime LeaseClockNow() const {
    return options.clock ? options.clock->Now() : std::chrono::steady_clock::now();
  }

  // ---- state helpers (mu held) ----
  std::uint64_t NextRv() { return ++rv; }

  void Record(std::uint64_t event_rv, const char* type, const std::string& ns,
              std::shared_ptr<const std::string> json) {
    history.push_back({event_rv, type, ns, std::move(json)});
    while (history.size() > options.history_limit) {
      compacted_rv = history.front().rv;
      history.pop_front();
    }
    cv.notify_all();
  }

  std::string NewUid() {
    char buf[48];
    std::snprintf(buf, sizeof buf, "0f0e0d0c-0000-4000-8000-%012llx",
                  static_cast<unsigned long long>(++uid_counter));
    return buf;
  }

  // Stamps uid (if missing), resourceVersion and creationTimestamp. Returns false when the
  // JSON is not a pod with namespace and name.
  bool Stamp(const std::string& pod_json, StoredPod* out, bool keep_uid_only) {
    rapidjson::Document doc;
    doc.Parse(pod_json.c_str(), pod_json.size());
    if (doc.HasParseError() || !doc.IsObject()) return false;
    auto& alloc = doc.GetAllocator();
    rapidjson::Value& metadata = EnsureObject(doc, "metadata", alloc);
    out->ns = Str(metadata, "namespace");
    out->name = Str(metadata, "name");
    if (out->ns.empty() || out->name.empty()) return false;
    out->uid = Str(metadata, "uid");
    if (out->uid.empty() && !keep_uid_only) {
      out->uid = NewUid();
      SetString(metadata, "uid", out->uid, alloc);
    }
    out->rv = NextRv();
    SetString(metadata, "resourceVersion", std::to_string(out->rv), alloc);
    if (Str(metadata, "creationTimestamp").empty()) {
      SetString(metadata, "creationTimestamp", NowRfc3339(), alloc);
    }
    if (!doc.HasMember("kind")) doc.AddMember("kind", "Pod", alloc);
    if (!doc.HasMember("apiVersion")) doc.AddMember("apiVersion", "v1", alloc);
    out->json = std::make_shared<const std::string>(Serialize(doc));
    return true;
  }

  std::string Authenticate(const Request& req, const std::string& cert_user) {
    auto auth = req[http::field::authorization];
    constexpr std::string_view kBearer = "Bearer ";
    if (auth.substr(0, kBearer.size()) == kBearer) {
      std::string token(auth.substr(kBearer.size()));
      std::lock_guard lock(mu);
      auto it = tokens.find(token);
      return it == tokens.end() ? std::string() : it->second;
    }
    return cert_user;
  }

  std::optional<Fault> TakeFault(const std::string& method, const std::string& target,
                                 const std::string& user) {
    std::lock_guard lock(mu);
    for (auto& f : faults) {
      if (!f.fault.method.empty() && f.fault.method != method) continue;
      if (!f.fault.path_contains.empty() &&
          target.find(f.fault.path_contains) == std::string::npos) {
        continue;
      }
      if (!f.fault.user.empty() && f.fault.user != user) continue;
      ++f.seen;
      if (f.seen >= f.fault.nth && f.fired < f.fault.times) {
        ++f.fired;
        return f.fault;
      }
    }
    return std::nullopt;
  }

  // One draw per request, in arrival order; a slow answer sleeps here, on the connection's
  // own thread, so it delays only its own client.
  std::optional<Fault> DrawRandomFault() {
    const Options::RandomFaults& r = options.random_faults;
    std::chrono::milliseconds delay{0};
    std::optional<Fault> fault;
    {
      std::lock_guard lock(mu);
      std::uniform_real_distribution<double> unit(0.0, 1.0);
      double draw = unit(random);
      if (draw < r.error_rate) {
        static constexpr std::pair<int, const char*> kErrors[] = {{500, "InternalError"},
                                                                  {502, "BadGateway"},
                                                                  {503, "ServiceUnavailable"},
                                                                  {504, "Timeout"}};
        const auto& [status, reason] = kErrors[random() % 4];
        fault.emplace();
        fault->status = status;
        fault->reason = reason;
      } else if (draw < r.error_rate + r.throttle_rate) {
        fault.emplace();  // 429 TooManyRequests
        fault->retry_after_seconds = r.retry_after_seconds;
      }
      if (r.slow_max.count() > 0 && unit(random) < r.slow_rate) {
        delay = std::chrono::milliseconds(random() % (r.slow_max.count() + 1));
      }
    }
    if (delay.count() > 0) std::this_thread::sleep_for(delay);
    return fault;
  }

  // Stores a pod (ADDED, or MODIFIED when one of its name exists); its uid, or "" when the JSON
  // is not a pod with a namespace and a name.
  std::string Add(const std::string& pod_json) {
    std::lock_guard lock(mu);
    StoredPod pod;
    if (!Stamp(pod_json, &pod, false)) return "";
    std::string key = pod.ns + "/" + pod.name;
    bool existed = pods.count(key) > 0;
    Record(pod.rv, existed ? "MODIFIED" : "ADDED", pod.ns, pod.json);
    pods[key] = pod;
    return pod.uid;
  }

  // When a watch starting now is to be cut, and at what moment.
  std::optional<SteadyTime> DrawWatchCut() {
    const Options::RandomFaults& r = options.random_faults;
    if (r.watch_drop_rate <= 0) return std::nullopt;
    std::lock_guard lock(mu);
    if (std::uniform_real_distribution<double>(0.0, 1.0)(random) >= r.watch_drop_rate) {
      return std::nullopt;
    }
    auto within =
        static_cast<std::uint64_t>(std::max<std::int64_t>(r.watch_drop_within.count(), 1));
    return std::chrono::steady_clock::now() + std::chrono::milliseconds(random() % within);
  }

  bool Debug(Stream& s, Request& req, const std::string& target) {
    if (target == "/debug/pods" && req.method() == http::verb::post) {
      std::string uid = Add(req.body());
      if (uid.empty()) return SendStatus(s, req, 400, "BadRequest", "not a pod with a name");
      return Send(s, 201, "{\"uid\":\"" + uid + "\"}", req.version(), req.keep_alive());
    }
    if (target == "/debug/deletes" && req.method() == http::verb::get) {
      rapidjson::StringBuffer out;
      rapidjson::Writer<rapidjson::StringBuffer> w(out);
      w.StartObject();
      w.Key("deletes");
      w.StartArray();
      {
        std::lock_guard lock(mu);
        for (const auto& d : delete_records) {
          w.StartObject();
          w.Key("namespace");
          w.String(d.namespace_.c_str());
          w.Key("name");
          w.String(d.name.c_str());
          w.Key("status");
          w.Int(d.status);
          w.EndObject();
        }
      }
      w.EndArray();
      w.EndObject();
      return Send(s, 200, out.GetString(), req.version(), req.keep_alive());
    }
    return SendStatus(s, req, 404, "NotFound", "no such debug endpoint");
  }

  // ---- HTTP ----
  static bool Send(Stream& s, int status, const std::string& body, unsigned version,
                   bool keep_alive, int retry_after = -1) {
    http::response<http::string_body> res{static_cast<http::status>(status), version};
    res.set(http::field::content_type, "application/json");
    if (retry_after >= 0) res.set(http::field::retry_after, std::to_string(retry_after));
    res.keep_alive(keep_alive);
    res.body() = body;
    res.prepare_payload();
    beast::error_code ec;
    http::write(s, res, ec);
    return !ec;
  }

  bool SendStatus(Stream& s, const Request& req, int code, const std::string& reason,
                  const std::string& message, const std::string& name = {},
                  const std::string& kind = {}, const std::string& group = {}) {
    return Send(s, code, StatusJson(code, reason, message, name, kind, group), req.version(),
                req.keep_alive());
  }

  void Serve(tcp::socket socket) {
    Stream stream(std::move(socket), ctx);
    beast::error_code ec;
    stream.handshake(ssl::stream_base::server, ec);
    if (ec) return;
    std::string cert_user;
    if (X509* peer = SSL_get1_peer_certificate(stream.native_handle())) {
      if (SSL_get_verify_result(stream.native_handle()) == X509_V_OK) {
        char cn[256] = {};
        X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, cn, sizeof cn);
        cert_user = cn;
      }
      X509_free(peer);
    }
    beast::flat_buffer buffer;
    while (running) {
      http::request_parser<http::string_body> parser;
      parser.body_limit(64 << 20);
      http::read(stream, buffer, parser, ec);
      if (ec) break;
      Request req = parser.release();
      bool keep = req.keep_alive();
      if (!Handle(stream, req, cert_user)) break;
      if (!keep) break;
    }
    stream.shutdown(ec);  // best effort; the peer may be gone
  }

  // Holds a request while the server is stalled. Returns false when the server stopped.
  bool WaitWhileStalled() {
    std::unique_lock lock(mu);
    if (!stalled) return true;
    std::uint64_t held_generation = generation;
    ++stalled_requests;
    cv.notify_all();
    cv.wait(lock, [&] { return !stalled || generation != held_generation; });
    --stalled_requests;
    return generation == held_generation;
  }

  // Returns false when the connection must close (after a watch stream).
  bool Handle(Stream& s, Request& req, const std::string& cert_user) {
    if (!WaitWhileStalled()) return false;
    std::string method(req.method_string());
    std::string target(req.target());
    {
      std::lock_guard lock(mu);
      ++requests_by_method[method];
    }
    std::string user = Authenticate(req, cert_user);
    if (user.empty()) {
      {
        std::lock_guard lock(mu);
        ++unauthorized_count;
      }
      return SendStatus(s, req, 401, "Unauthorized", "Unauthorized");
    }
    if (target.rfind("/debug/", 0) == 0) return Debug(s, req, target);
    if (auto fault = TakeFault(method, target, user)) {
      return Send(s, fault->status,
                  StatusJson(fault->status, fault->reason, "injected fault: " + fault->reason),
                  req.version(), req.keep_alive(), fault->retry_after_seconds);
    }
    if (auto fault = DrawRandomFault()) {
      return Send(s, fault->status,
                  StatusJson(fault->status, fault->reason, "random fault: " + fault->reason),
                  req.version(), req.keep_alive(), fault->retry_after_seconds);
    }
    std::string path = target.substr(0, target.find('?'));
    std::map<std::string, std::string> query;
    if (auto q = target.find('?'); q != std::string::npos) {
      std::string_view rest = std::string_view(target).substr(q + 1);
      while (!rest.empty()) {
        auto amp = rest.find('&');
        std::string_view pair = rest.substr(0, amp);
        auto eq = pair.find('=');
        query[PercentDecode(pair.substr(0, eq))] =
            eq == std::string_view::npos ? "" : PercentDecode(pair.substr(eq + 1));
        if (amp == std::string_view::npos) break;
        rest.remove_prefix(amp + 1);
      }
    }
    std::vector<std::string> seg;
    {
      std::string_view p = path;
      while (!p.empty()) {
        if (p.front() == '/') {
          p.remove_prefix(1);
          continue;
        }
        auto slash = p.find('/');
        seg.emplace_back(p.substr(0, slash));
        if (slash == std::string_view::npos) break;
        p.remove_prefix(slash);
      }
    }
    auto verb = req.method();
    bool core = seg.size() >= 2 && seg[0] == "api" && seg[1] == "v1";
    // /api/v1/pods
    if (core && seg.size() == 3 && seg[2] == "pods" && verb == http::verb::get) {
      return ListOrWatch(s, req, "", query);
    }
    if (core && seg.size() >= 5 && seg[2] == "namespaces") {
      const std::string& ns = seg[3];
      if (seg[4] == "pods" && seg.size() == 5 && verb == http::verb::get) {
        return ListOrWatch(s, req, ns, query);
      }
      if (seg[4] == "pods" && seg.size() == 6) {
        if (verb == http::verb::get) return GetPod(s, req, ns, seg[5]);
        if (verb == http::verb::delete_) return DeletePod(s, req, ns, seg[5], user);
      }
      if (seg[4] == "events" && seg.size() == 5 && verb == http::verb::post) {
        return CreateEvent(s, req, ns);
      }
      if (seg[4] == "secrets") {
        if (seg.size() == 5 && verb == http::verb::post) return WriteSecret(s, req, ns, "");
        if (seg.size() == 6 && verb == http::verb::get) {
          return GetStored(s, req, secrets, ns + "/" + seg[5], seg[5], kSecrets);
        }
        if (seg.size() == 6 && verb == http::verb::put) return WriteSecret(s, req, ns, seg[5]);
      }
    }
    if (seg.size() >= 6 && seg[0] == "apis" && seg[1] == "coordination.k8s.io" && seg[2] == "v1" &&
        seg[3] == "namespaces" && seg[5] == "leases") {
      const std::string& ns = seg[4];
      if (seg.size() == 6 && verb == http::verb::post) return WriteLease(s, req, ns, "", user);
      if (seg.size() == 7 && verb == http::verb::get) return GetLease(s, req, ns, seg[6]);
      if (seg.size() == 7 && verb == http::verb::put) return WriteLease(s, req, ns, seg[6], user);
    }
    if (seg.size() == 5 && seg[0] == "apis" && seg[1] == "admissionregistration.k8s.io" &&
        seg[2] == "v1" && seg[3] == "validatingwebhookconfigurations") {
      if (verb == http::verb::get) {
        return GetStored(s, req, webhook_configurations, seg[4], seg[4], kWebhookConfigurations);
      }
      if (verb == http::verb::patch) return PatchWebhookConfiguration(s, req, seg[4]);
    }
    if (seg.size() >= 4 && seg[0] == "apis" && seg[1] == "wgpolicyk8s.io" && seg[2] == "v1alpha2" &&
        ReportsInstalled()) {
      if (seg.size() == 4 && seg[3] == "policyreports" && verb == http::verb::get) {
        return ListReports(s, req, query);
      }
      if (seg.size() >= 6 && seg[3] == "namespaces" && seg[5] == "policyreports") {
        const std::string& ns = seg[4];
        if (seg.size() == 6 && verb == http::verb::post) return WriteReport(s, req, ns, "");
        if (seg.size() == 7 && verb == http::verb::get) return GetReport(s, req, ns, seg[6]);
        if (seg.size() == 7 && verb == http::verb::put) return WriteReport(s, req, ns, seg[6]);
        if (seg.size() == 7 && verb == http::verb::delete_) return DeleteReport(s, req, ns, seg[6]);
      }
    }
    return SendStatus(s, req, 404, "NotFound", "the server could not find the requested resource");
  }

  // A namespaced resource's names, for the Status of a refused write.
  struct ResourceNames {
    std::string resource;  // "leases"
    std::string kind;      // "Lease"
    std::string group;     // "coordination.k8s.io"
  };
  struct Refusal {
    int code;
    std::string reason;
    std::string message;
    std::string details_kind;
  };

  // A create (POST) or update (PUT) refused as the API server refuses one of any kind: the
  // object exists already (409 AlreadyExists), does not exist (404), or the update carries no
  // resourceVersion (422) or a stale one (409 Conflict). `stored_rv`: nullopt when none is stored.
  static std::optional<Refusal> RefuseWrite(const ResourceNames& r, bool create,
                                            const std::string& name,
                                            std::optional<std::uint64_t> stored_rv,
                                            const std::string& sent_rv) {
    const std::string group = r.group.empty() ? "" : "." + r.group;
    const std::string qualified = r.resource + group + " \"" + name + "\"";
    if (create && stored_rv)
      return Refusal{409, "AlreadyExists", qualified + " already exists", r.resource};
    if (create) return std::nullopt;
    if (!stored_rv) return Refusal{404, "NotFound", qualified + " not found", r.resource};
    if (sent_rv.empty()) {
      return Refusal{422, "Invalid",
                     r.kind + group + " \"" + name +
                         "\" is invalid: metadata.resourceVersion: Invalid value: 0x0: must be "
                         "specified for an update",
                     r.kind};
    }
    if (sent_rv != std::to_string(*stored_rv)) {
      return Refusal{409, "Conflict",
                     "Operation cannot be fulfilled on " + qualified +
                         ": the object has been modified; please apply your changes to the "
                         "latest version and try again",
                     r.resource};
    }
    return std::nullopt;
  }

  bool SendRefusal(Stream& s, const Request& req, const Refusal& refusal, const ResourceNames& r,
                   const std::string& name) {
    return SendStatus(s, req, refusal.code, refusal.reason, refusal.message, name,
                      refusal.details_kind, r.group);
  }

  // The URL names the object of a PUT: a body naming another is refused.
  bool NameMismatch(const rapidjson::Value& metadata, const std::string& path_name) {
    return !path_name.empty() && Str(metadata, "name") != path_name;
  }
  bool SendNameMismatch(Stream& s, const Request& req, const rapidjson::Value& metadata,
                        const std::string& path_name) {
    return SendStatus(s, req, 400, "BadRequest",
                      "the name of the object (" + Str(metadata, "name") +
                          ") does not match the name on the URL (" + path_name + ")");
  }

  // ---- wgpolicyk8s.io/v1alpha2 policyreports, as a CRD's storage serves them ----
  bool ReportsInstalled() {
    std::lock_guard lock(mu);
    return reports_installed;
  }

  static inline const ResourceNames kReports{"policyreports", "PolicyReport", "wgpolicyk8s.io"};

  bool ReportNotFound(Stream& s, const Request& req, const std::string& name) {
    return SendStatus(s, req, 404, "NotFound",
                      "policyreports.wgpolicyk8s.io \"" + name + "\" not found", name,
                      "policyreports", "wgpolicyk8s.io");
  }

  // labelSelector of the form key=value (the only form the sweeper sends).
  bool ListReports(Stream& s, Request& req, std::map<std::string, std::string>& query) {
    std::string key, value;
    if (auto it = query.find("labelSelector"); it != query.end() && !it->second.empty()) {
      auto eq = it->second.find('=');
      if (eq == std::string::npos) {
        return SendStatus(s, req, 400, "BadRequest", "unable to parse requirement: " + it->second);
      }
      key = it->second.substr(0, eq);
      value = it->second.substr(eq + 1);
    }
    std::string body = "{\"apiVersion\":\"wgpolicyk8s.io/v1alpha2\",\"kind\":\"PolicyReportList\",";
    std::lock_guard lock(mu);
    body += "\"metadata\":{\"resourceVersion\":\"" + std::to_string(rv) + "\"},\"items\":[";
    bool first = true;
    for (const auto& [k, stored] : reports) {
      if (!key.empty()) {
        rapidjson::Document doc;
        doc.Parse(stored.json.c_str(), stored.json.size());
        const rapidjson::Value* metadata = Obj(doc, "metadata");
        const rapidjson::Value* labels = metadata ? Obj(*metadata, "labels") : nullptr;
        if (labels == nullptr || Str(*labels, key.c_str()) != value) continue;
      }
      if (!first) body += ",";
      first = false;
      body += stored.json;
    }
    body += "]}";
    return Send(s, 200, body, req.version(), req.keep_alive());
  }

  bool GetReport(Stream& s, Request& req, const std::string& ns, const std::string& name) {
    std::string body;
    {
      std::lock_guard lock(mu);
      if (auto it = reports.find(ns + "/" + name); it != reports.end()) body = it->second.json;
    }
    if (body.empty()) return ReportNotFound(s, req, name);
    return Send(s, 200, body, req.version(), req.keep_alive());
  }

  // What the CRD's schema enforces on results: the enums of result and severity.
  static std::string InvalidReportField(const rapidjson::Value& doc) {
    const rapidjson::Value* results = common::JsonMember(doc, "results");
    if (results == nullptr) return {};
    if (!results->IsArray()) return "results: Invalid value: must be of type array";
    for (const auto& r : results->GetArray()) {
      if (Str(r, "policy").empty()) return "results.policy: Required value";
      std::string result = Str(r, "result");
      if (!result.empty() && result != "pass" && result != "fail" && result != "warn" &&
          result != "error" && result != "skip") {
        return "results.result: Unsupported value: \"" + result + "\"";
      }
      std::string severity = Str(r, "severity");
      if (!severity.empty() && severity != "critical" && severity != "high" &&
          severity != "medium" && severity != "low" && severity != "info") {
        return "results.severity: Unsupported value: \"" + severity + "\"";
      }
    }
    return {};
  }

  // The name of a write (the URL's for a PUT, the body's for a POST) and its namespace, checked
  // as the API server checks them. When it refuses them: what sending the refusal returned, for
  // the caller to return.
  std::optional<bool> RefuseNames(Stream& s, Request& req, rapidjson::Document& doc,
                                  const ResourceNames& r, const std::string& ns,
                                  const std::string& path_name, std::string* name) {
    rapidjson::Value& metadata = EnsureObject(doc, "metadata", doc.GetAllocator());
    *name = path_name.empty() ? Str(metadata, "name") : path_name;
    const std::string qualified = r.group.empty() ? r.kind : r.kind + "." + r.group;
    if (name->empty()) {
      return SendStatus(s, req, 422, "Invalid",
                        qualified +
                            " \"\" is invalid: metadata.name: Required value: name or "
                            "generateName is required",
                        "", r.kind, r.group);
    }
    if (NameMismatch(metadata, path_name)) return SendNameMismatch(s, req, metadata, path_name);
    std::string body_ns = Str(metadata, "namespace");
    if (!body_ns.empty() && body_ns != ns) {
      return SendStatus(s, req, 400, "BadRequest",
                        "the namespace of the provided object does not match the namespace sent "
                        "on the request");
    }
    return std::nullopt;
  }

  // POST (name empty: taken from the body) or PUT, with the Lease's semantics.
  bool WriteReport(Stream& s, Request& req, const std::string& ns, const std::string& path_name) {
    rapidjson::Document doc;
    doc.Parse(req.body().c_str(), req.body().size());
    if (doc.HasParseError() || !doc.IsObject()) {
      return SendStatus(s, req, 400, "BadRequest", "PolicyReport is not valid JSON");
    }
    if (Str(doc, "kind") != "PolicyReport" || Str(doc, "apiVersion") != "wgpolicyk8s.io/v1alpha2") {
      return SendStatus(s, req, 400, "BadRequest",
                        "the body is not a wgpolicyk8s.io/v1alpha2 PolicyReport");
    }
    std::string name;
    if (auto sent = RefuseNames(s, req, doc, kReports, ns, path_name, &name)) return *sent;
    if (std::string invalid = InvalidReportField(doc); !invalid.empty()) {
      return SendStatus(s, req, 422, "Invalid",
                        "PolicyReport.wgpolicyk8s.io \"" + name + "\" is invalid: " + invalid, name,
                        "PolicyReport", "wgpolicyk8s.io");
    }
    return StoreWrite(s, req, kReports, reports, ns, name, path_name.empty(), doc, &report_writes);
  }

  // A create or update of any kind kept as JSON, once its body is checked: the refusals of
  // RefuseWrite, then the server's metadata (resourceVersion; uid and creationTimestamp kept
  // across updates). `ns` empty: cluster-scoped.
  bool StoreWrite(Stream& s, Request& req, const ResourceNames& r,
                  std::map<std::string, StoredObject>& store, const std::string& ns,
                  const std::string& name, bool create, rapidjson::Document& doc,
                  std::uint64_t* writes) {
    auto& alloc = doc.GetAllocator();
    rapidjson::Value& metadata = EnsureObject(doc, "metadata", alloc);
    const std::string key = ns.empty() ? name : ns + "/" + name;
    std::unique_lock lock(mu);
    auto it = store.find(key);
    if (auto refusal = RefuseWrite(
            r, create, name,
            it == store.end() ? std::nullopt : std::optional<std::uint64_t>(it->second.rv),
            Str(metadata, "resourceVersion"))) {
      lock.unlock();
      return SendRefusal(s, req, *refusal, r, name);
    }
    std::string uid;
    std::string created;
    if (!create) {
      rapidjson::Document old;
      old.Parse(it->second.json.c_str(), it->second.json.size());
      if (const rapidjson::Value* old_metadata = Obj(old, "metadata")) {
        uid = Str(*old_metadata, "uid");
        created = Str(*old_metadata, "creationTimestamp");
      }
    }
    StoredObject stored;
    stored.rv = NextRv();
    SetString(metadata, "name", name, alloc);
    if (!ns.empty()) SetString(metadata, "namespace", ns, alloc);
    SetString(metadata, "resourceVersion", std::to_string(stored.rv), alloc);
    SetString(metadata, "uid", create ? NewUid() : uid, alloc);
    SetString(metadata, "creationTimestamp", create ? NowRfc3339() : created, alloc);
    stored.json = Serialize(doc);
    std::string body = stored.json;
    store[key] = std::move(stored);
    if (writes != nullptr) ++*writes;
    lock.unlock();
    return Send(s, create ? 201 : 200, body, req.version(), req.keep_alive());
  }

  // ---- core/v1 secrets: create, get, update (what --manage-certs calls) ----
  static inline const ResourceNames kSecrets{"secrets", "Secret", ""};

  bool GetStored(Stream& s, Request& req, const std::map<std::string, StoredObject>& store,
                 const std::string& key, const std::string& name, const ResourceNames& r) {
    std::string body;
    {
      std::lock_guard lock(mu);
      if (auto it = store.find(key); it != store.end()) body = it->second.json;
    }
    if (body.empty()) {
      const std::string group = r.group.empty() ? "" : "." + r.group;
      return SendStatus(s, req, 404, "NotFound", r.resource + group + " \"" + name + "\" not found",
                        name, r.resource, r.group);
    }
    return Send(s, 200, body, req.version(), req.keep_alive());
  }

  bool WriteSecret(Stream& s, Request& req, const std::string& ns, const std::string& path_name) {
    rapidjson::Document doc;
    doc.Parse(req.body().c_str(), req.body().size());
    if (doc.HasParseError() || !doc.IsObject() || Str(doc, "kind") != "Secret" ||
        Str(doc, "apiVersion") != "v1") {
      return SendStatus(s, req, 400, "BadRequest", "the body is not a v1 Secret");
    }
    std::string name;
    if (auto sent = RefuseNames(s, req, doc, kSecrets, ns, path_name, &name)) return *sent;
    // What validation checks of a kubernetes.io/tls Secret: both keys are there.
    const rapidjson::Value* data = Obj(doc, "data");
    if (Str(doc, "type") == "kubernetes.io/tls" &&
        (data == nullptr || !data->HasMember("tls.crt") || !data->HasMember("tls.key"))) {
      return SendStatus(s, req, 422, "Invalid",
                        "Secret \"" + name + "\" is invalid: data[tls.crt]: Required value", name,
                        "Secret");
    }
    return StoreWrite(s, req, kSecrets, secrets, ns, name, path_name.empty(), doc, nullptr);
  }

  // ---- admissionregistration.k8s.io/v1 validatingwebhookconfigurations: get, JSON patch ----
  static inline const ResourceNames kWebhookConfigurations{"validatingwebhookconfigurations",
                                                           "ValidatingWebhookConfiguration",
                                                           "admissionregistration.k8s.io"};

  bool PatchWebhookConfiguration(Stream& s, Request& req, const std::string& name) {
    if (req[http::field::content_type] != "application/json-patch+json") {
      return SendStatus(s, req, 415, "UnsupportedMediaType",
                        "the body of the request was in an unknown format - accepted media "
                        "types include: application/json-patch+json, "
                        "application/merge-patch+json, application/apply-patch+yaml");
    }
    std::string body;
    {
      std::lock_guard lock(mu);
      auto it = webhook_configurations.find(name);
      if (it != webhook_configurations.end()) {
        rapidjson::Document doc;
        doc.Parse(it->second.json.c_str(), it->second.json.size());
        std::string error;
        if (!stratum_guard::testing::ApplyJsonPatch(req.body(), doc, &error)) {
          body = "!" + error;
        } else {
          it->second.rv = NextRv();
          SetString(EnsureObject(doc, "metadata", doc.GetAllocator()), "resourceVersion",
                    std::to_string(it->second.rv), doc.GetAllocator());
          it->second.json = body = Serialize(doc);
        }
      }
    }
    if (body.empty()) {
      return SendStatus(
          s, req, 404, "NotFound",
          "validatingwebhookconfigurations.admissionregistration.k8s.io \"" + name + "\" not found",
          name, "validatingwebhookconfigurations", "admissionregistration.k8s.io");
    }
    if (body[0] == '!') return SendStatus(s, req, 422, "Invalid", body.substr(1));
    return Send(s, 200, body, req.version(), req.keep_alive());
  }

  bool DeleteReport(Stream& s, Request& req, const std::string& ns, const std::string& name) {
    bool erased;
    {
      std::lock_guard lock(mu);
      erased = reports.erase(ns + "/" + name) > 0;
      if (erased) {
        ++report_writes;
        NextRv();
      }
    }
    if (!erased) return ReportNotFound(s, req, name);
    return Send(s, 200,
                "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},"
                "\"status\":\"Success\",\"details\":{\"name\":\"" +
                    name + "\",\"group\":\"wgpolicyk8s.io\",\"kind\":\"policyreports\"}}",
                req.version(), req.keep_alive());
  }

  bool GetPod(Stream& s, Request& req, const std::string& ns, const std::string& name) {
    std::shared_ptr<const std::string> json;
    {
      std::lock_guard lock(mu);
      auto it = pods.find(ns + "/" + name);
      if (it != pods.end()) json = it->second.json;
    }
    if (!json)
      return SendStatus(s, req, 404, "NotFound", "pods \"" + name + "\" not found", name, "pods");
    return Send(s, 200, *json, req.version(), req.keep_alive());
  }

  bool ListOrWatch(Stream& s, Request& req, const std::string& ns,
                   std::map<std::string, std::string>& query) {
    auto watch = query.find("watch");
    if (watch != query.end() && (watch->second == "1" || watch->second == "true")) {
      return Watch(s, req, ns, query);
    }
    std::size_t limit = 0;
    if (auto it = query.find("limit"); it != query.end() && !it->second.empty()) {
      limit = std::stoul(it->second);
    }
    std::string start_after;
    std::uint64_t list_rv;
    std::string body;
    {
      std::unique_lock lock(mu);
      ++list_count;
      list_rv = rv;
      if (auto it = query.find("continue"); it != query.end() && !it->second.empty()) {
        auto decoded = common::DecodeBase64(it->second);
        std::size_t c1 = decoded ? decoded->find(':') : std::string::npos;
        std::size_t c2 = c1 == std::string::npos ? c1 : decoded->find(':', c1 + 1);
        if (c2 == std::string::npos) {
          lock.unlock();
          return SendStatus(s, req, 400, "BadRequest", "continue key is not valid");
        }
        std::uint64_t epoch = std::stoull(decoded->substr(0, c1));
        list_rv = std::stoull(decoded->substr(c1 + 1, c2 - c1 - 1));
        start_after = decoded->substr(c2 + 1);
        if (epoch < continue_epoch) {
          lock.unlock();
          return SendStatus(
              s, req, 410, "Expired",
              "The provided continue parameter is too old to display a consistent list result. "
              "You can start a new list without the continue parameter, or use the continue "
              "token in this response to retrieve the remainder of the results. Continuing with "
              "the provided token results in an inconsistent list - objects that were created, "
              "modified, or deleted between the time the first chunk was returned and now may "
              "show up in the list.");
        }
      }
      std::string prefix = ns.empty() ? "" : ns + "/";
      auto it = start_after.empty() ? pods.lower_bound(prefix) : pods.upper_bound(start_after);
      std::string items;
      std::size_t n = 0;
      std::string last_key;
      bool more = false;
      for (; it != pods.end(); ++it) {
        if (!prefix.empty() && it->first.compare(0, prefix.size(), prefix) != 0) break;
        if (limit > 0 && n == limit) {
          more = true;
          break;
        }
        if (n > 0) items += ',';
        items += *it->second.json;
        last_key = it->first;
        ++n;
      }
      body.reserve(items.size() + 256);
      body += R"({"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":")";
      body += std::to_string(list_rv);
      body += '"';
      if (more) {
        body += R"(,"continue":")";
        body += common::EncodeBase64(std::to_string(continue_epoch) + ":" +
                                     std::to_string(list_rv) + ":" + last_key);
        body += '"';
      }
      body += R"(},"items":[)";
      body += items;
      body += "]}";
    }
    return Send(s, 200, body, req.version(), req.keep_alive());
  }

  static bool WriteChunk(Stream& s, const std::string& line) {
    beast::error_code ec;
    net::write(s, http::make_chunk(net::buffer(line)), ec);
    return !ec;
  }

  static std::string EventLine(std::string_view type, const std::string& object_json) {
    std::string line;
    line.reserve(object_json.size() + 32);
    line += R"({"type":")";
    line += type;
    line += R"(","object":)";
    line += object_json;
    line += "}\n";
    return line;
  }

  bool Watch(Stream& s, Request& req, const std::string& ns,
             std::map<std::string, std::string>& query) {
    std::string rv_param = query.count("resourceVersion") ? query["resourceVersion"] : "";
    int timeout_s = query.count("timeoutSeconds") && !query["timeoutSeconds"].empty()
                        ? std::stoi(query["timeoutSeconds"])
                        : 1800;
    bool bookmarks =
        query.count("allowWatchBookmarks") &&
        (query["allowWatchBookmarks"] == "true" || query["allowWatchBookmarks"] == "1");
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
    std::optional<SteadyTime> cut = DrawWatchCut();
    std::unique_lock lock(mu);
    ++watch_count;
    std::uint64_t gen = generation;
    bool synthetic = rv_param.empty() || rv_param == "0";
    std::uint64_t from = synthetic ? rv : std::stoull(rv_param);
    std::string too_old = StatusJson(410, "Expired",
                                     "too old resource version: " + std::to_string(from) + " (" +
                                         std::to_string(compacted_rv) + ")");
    if (!synthetic && from < compacted_rv && gone_as_http) {
      lock.unlock();
      return Send(s, 410, too_old, req.version(), false) && false;
    }
    std::vector<std::shared_ptr<const std::string>> initial;
    if (synthetic) {
      for (const auto& [key, pod] : pods) {
        if (ns.empty() || pod.ns == ns) initial.push_back(pod.json);
      }
    }
    lock.unlock();

    http::response<http::empty_body> res{http::status::ok, req.version()};
    res.set(http::field::content_type, "application/json");
    res.chunked(true);
    http::response_serializer<http::empty_body> sr{res};
    beast::error_code ec;
    http::write_header(s, sr, ec);
    if (ec) return false;
    for (const auto& json : initial) {
      if (!WriteChunk(s, EventLine("ADDED", *json))) return false;
    }
    auto next_bookmark = std::chrono::steady_clock::now() + options.bookmark_interval;
    while (true) {
      std::vector<HistoryEvent> batch;
      std::string bookmark;
      bool gone = false;
      lock.lock();
      while (true) {
        if (generation != gen || !running) return false;  // "crash": no last chunk
        if (cut && std::chrono::steady_clock::now() >= *cut) return false;  // dropped, likewise
        if (from < compacted_rv) {
          gone = true;
          too_old = StatusJson(410, "Expired",
                               "too old resource version: " + std::to_string(from) + " (" +
                                   std::to_string(compacted_rv) + ")");
          break;
        }
        auto first =
            std::upper_bound(history.begin(), history.end(), from,
                             [](std::uint64_t v, const HistoryEvent& e) { return v < e.rv; });
        for (auto it = first; it != history.end(); ++it) {
          if (ns.empty() || it->ns == ns) batch.push_back(*it);
        }
        if (!batch.empty()) {
          from = history.back().rv;
          break;
        }
        auto now = std::chrono::steady_clock::now();
        if (now >= deadline) break;
        if (bookmarks && now >= next_bookmark) {
          from = rv;  // nothing pending for this watcher up to the current revision
          bookmark = R"({"type":"BOOKMARK","object":{"kind":"Pod","apiVersion":"v1",)"
                     R"("metadata":{"resourceVersion":")" +
                     std::to_string(rv) + "\"}}}\n";
          next_bookmark = now + options.bookmark_interval;
          break;
        }
        auto wake = std::min(deadline, bookmarks ? next_bookmark : deadline);
        cv.wait_until(lock, cut ? std::min(wake, *cut) : wake);
      }
      lock.unlock();
      if (gone) {
        WriteChunk(s, EventLine("ERROR", too_old));
        break;
      }
      for (const auto& e : batch) {
        if (!WriteChunk(s, EventLine(e.type, *e.json))) return false;
      }
      if (!bookmark.empty() && !WriteChunk(s, bookmark)) return false;
      if (batch.empty() && bookmark.empty()) break;  // deadline
    }
    net::write(s, http::make_chunk_last(), ec);
    return false;
  }

  bool DeletePod(Stream& s, Request& req, const std::string& ns, const std::string& name,
                 const std::string& user) {
    rapidjson::Document options_doc;
    std::string precondition_uid;
    std::string precondition_rv;
    std::optional<std::int64_t> grace;
    if (!req.body().empty()) {
      options_doc.Parse(req.body().c_str(), req.body().size());
      if (options_doc.HasParseError() || !options_doc.IsObject()) {
        return SendStatus(s, req, 400, "BadRequest", "DeleteOptions is not valid JSON");
      }
      if (const auto* pre = Obj(options_doc, "preconditions")) {
        precondition_uid = Str(*pre, "uid");
        precondition_rv = Str(*pre, "resourceVersion");
      }
      if (auto it = options_doc.FindMember("gracePeriodSeconds");
          it != options_doc.MemberEnd() && it->value.IsInt64()) {
        grace = it->value.GetInt64();
      }
    }
    std::unique_lock lock(mu);
    DeleteRecord record;
    record.namespace_ = ns;
    record.name = name;
    record.precondition_uid = precondition_uid;
    record.grace_period_seconds = grace;
    record.user = user;
    if (auto lease =
            leases.find(options.tracked_lease_namespace + "/" + options.tracked_lease_name);
        lease != leases.end()) {
      record.lease_holder = lease->second.holder;
    }
    if (auto w = lease_write_by_user.find(user); w != lease_write_by_user.end()) {
      record.ms_since_user_lease_write =
          std::chrono::duration_cast<std::chrono::milliseconds>(LeaseClockNow() - w->second)
              .count();
    }
    auto it = pods.find(ns + "/" + name);
    int status;
    std::string body;
    if (it == pods.end()) {
      status = 404;
      body = StatusJson(404, "NotFound", "pods \"" + name + "\" not found", name, "pods");
    } else if (!precondition_uid.empty() && precondition_uid != it->second.uid) {
      status = 409;
      body = StatusJson(409, "Conflict",
                        "Operation cannot be fulfilled on Pod \"" + name +
                            "\": Precondition failed: UID in precondition: " + precondition_uid +
                            ", UID in object meta: " + it->second.uid,
                        name, "Pod");
    } else if (!precondition_rv.empty() && precondition_rv != std::to_string(it->second.rv)) {
      status = 409;
      body = StatusJson(
          409, "Conflict",
          "Operation cannot be fulfilled on Pod \"" + name +
              "\": Precondition failed: ResourceVersion in precondition: " + precondition_rv +
              ", ResourceVersion in object meta: " + std::to_string(it->second.rv),
          name, "Pod");
    } else {
      status = 200;
      rapidjson::Document doc;
      doc.Parse(it->second.json->c_str(), it->second.json->size());
      auto& alloc = doc.GetAllocator();
      rapidjson::Value& metadata = EnsureObject(doc, "metadata", alloc);
      std::uint64_t new_rv = NextRv();
      SetString(metadata, "resourceVersion", std::to_string(new_rv), alloc);
      SetString(metadata, "deletionTimestamp", NowRfc3339(), alloc);
      auto json = std::make_shared<const std::string>(Serialize(doc));
      body = *json;
      pods.erase(it);
      Record(new_rv, "DELETED", ns, json);
    }
    record.status = status;
    delete_records.push_back(record);
    lock.unlock();
    return Send(s, status, body, req.version(), req.keep_alive());
  }

  bool CreateEvent(Stream& s, Request& req, const std::string& ns) {
    rapidjson::Document doc;
    doc.Parse(req.body().c_str(), req.body().size());
    if (doc.HasParseError() || !doc.IsObject()) {
      return SendStatus(s, req, 400, "BadRequest", "Event is not valid JSON");
    }
    auto& alloc = doc.GetAllocator();
    rapidjson::Value& metadata = EnsureObject(doc, "metadata", alloc);
    std::string body_ns = Str(metadata, "namespace");
    if (!body_ns.empty() && body_ns != ns) {
      return SendStatus(s, req, 400, "BadRequest",
                        "the namespace of the provided object does not match the namespace sent "
                        "on the request");
    }
    std::string name = Str(metadata, "name");
    if (name.empty()) {
      return SendStatus(s, req, 422, "Invalid",
                        "Event \"\" is invalid: metadata.name: Required value: name or "
                        "generateName is required",
                        "", "Event");
    }
    EventRecord record;
    record.namespace_ = ns;
    record.name = name;
    record.reason = Str(doc, "reason");
    record.message = Str(doc, "message");
    record.type = Str(doc, "type");
    if (const auto* involved = Obj(doc, "involvedObject")) {
      record.involved_kind = Str(*involved, "kind");
      record.involved_namespace = Str(*involved, "namespace");
      record.involved_name = Str(*involved, "name");
      record.involved_uid = Str(*involved, "uid");
    }
    if (const auto* source = Obj(doc, "source"))
      record.source_component = Str(*source, "component");
    std::string body;
    {
      std::lock_guard lock(mu);
      SetString(metadata, "namespace", ns, alloc);
      SetString(metadata, "uid", NewUid(), alloc);
      SetString(metadata, "resourceVersion", std::to_string(NextRv()), alloc);
      body = Serialize(doc);
      record.json = body;
      event_records.push_back(std::move(record));
    }
    return Send(s, 201, body, req.version(), req.keep_alive());
  }

  bool GetLease(Stream& s, Request& req, const std::string& ns, const std::string& name) {
    std::string body;
    {
      std::lock_guard lock(mu);
      auto it = leases.find(ns + "/" + name);
      if (it != leases.end()) body = it->second.json;
    }
    if (body.empty()) {
      return SendStatus(s, req, 404, "NotFound",
                        "leases.coordination.k8s.io \"" + name + "\" not found", name, "leases",
                        "coordination.k8s.io");
    }
    return Send(s, 200, body, req.version(), req.keep_alive());
  }

  // POST (name empty: taken from the body) or PUT.
  bool WriteLease(Stream& s, Request& req, const std::string& ns, const std::string& path_name,
                  const std::string& user) {
    rapidjson::Document doc;
    doc.Parse(req.body().c_str(), req.body().size());
    if (doc.HasParseError() || !doc.IsObject()) {
      return SendStatus(s, req, 400, "BadRequest", "Lease is not valid JSON");
    }
    auto& alloc = doc.GetAllocator();
    rapidjson::Value& metadata = EnsureObject(doc, "metadata", alloc);
    std::string name = path_name.empty() ? Str(metadata, "name") : path_name;
    if (NameMismatch(metadata, path_name)) return SendNameMismatch(s, req, metadata, path_name);
    std::string holder;
    if (const auto* spec = Obj(doc, "spec")) holder = Str(*spec, "holderIdentity");
    std::string key = ns + "/" + name;
    std::unique_lock lock(mu);
    auto it = leases.find(key);
    bool create = path_name.empty();
    static const ResourceNames kLeases{"leases", "Lease", "coordination.k8s.io"};
    if (auto refusal = RefuseWrite(
            kLeases, create, name,
            it == leases.end() ? std::nullopt : std::optional<std::uint64_t>(it->second.rv),
            Str(metadata, "resourceVersion"))) {
      lock.unlock();
      return SendRefusal(s, req, *refusal, kLeases, name);
    }
    StoredLease stored;
    stored.rv = NextRv();
    stored.holder = holder;
    SetString(metadata, "name", name, alloc);
    SetString(metadata, "namespace", ns, alloc);
    SetString(metadata, "resourceVersion", std::to_string(stored.rv), alloc);
    if (create) SetString(metadata, "uid", NewUid(), alloc);
    stored.json = Serialize(doc);
    std::string body = stored.json;
    leases[key] = std::move(stored);
    if (ns == options.tracked_lease_namespace && name == options.tracked_lease_name) {
      lease_write_by_user[user] = LeaseClockNow();
    }
    lock.unlock();
    return Send(s, create ? 201 : 200, body, req.version(), req.keep_alive());
  }

  void AcceptLoop() {
    while (running) {
      tcp::socket socket(ioc);
      beast::error_code ec;
      acceptor->accept(socket, ec);
      if (ec) {
        if (!running) break;
        continue;
      }
      std::lock_guard lock(conn_mu);
      for (auto it = conns.begin(); it != conns.end();) {
        if (it->done->load()) {
          it->thread.join();
          it = conns.erase(it);
        } else {
          ++it;
        }
      }
      Conn c;
      c.fd = socket.native_handle();
      c.done = std::make_shared<std::atomic<bool>>(false);
      c.thread = std::thread([this, s = std::move(socket), done = c.done]() mutable {
        Serve(std::move(s));
        done->store(true);
      });
      conns.push_back(std::move(c));
    }
  }
};

FakeApiServer::FakeApiServer() : FakeApiServer(Options()) {}

FakeApiServer::FakeApiServer(Options options) : impl_(std::make_unique<Impl>(std::move(options))) {
  impl_->pki = GenerateTestPki();
  ca_pem_ = impl_->pki.ca_pem;
  client_cert_pem_ = impl_->pki.client_cert_pem;
  client_key_pem_ = impl_->pki.client_key_pem;
  auto& ctx = impl_->ctx;
  ctx.use_certificate_chain(net::buffer(impl_->pki.server_cert_pem));
  ctx.use_private_key(net::buffer(impl_->pki.server_key_pem), ssl::context::pem);
  ctx.add_certificate_authority(net::buffer(impl_->pki.ca_pem));
  // Ask for a client certificate but do not require one: tokens authenticate the others.
  ctx.set_verify_mode(ssl::verify_peer);
  ctx.set_verify_callback([](bool, ssl::verify_context&) { return true; });
  impl_->default_token = impl_->options.token;
  impl_->tokens[impl_->options.token] = "test-user";
}

FakeApiServer::~FakeApiServer() { Stop(); }

void FakeApiServer::Start() {
  if (impl_->running) return;
  auto acceptor = std::make_unique<tcp::acceptor>(impl_->ioc);
  tcp::endpoint endpoint(net::ip::make_address("127.0.0.1"), port_);
  acceptor->open(endpoint.protocol());
  acceptor->set_option(net::socket_base::reuse_address(true));
  acceptor->bind(endpoint);
  acceptor->listen();
  port_ = acceptor->local_endpoint().port();
  impl_->port = port_;
  impl_->acceptor = std::move(acceptor);
  impl_->running = true;
  impl_->accept_thread = std::thread([this] { impl_->AcceptLoop(); });
}

void FakeApiServer::Stop() {
  if (!impl_->running) return;
  impl_->running = false;
  {
    std::lock_guard lock(impl_->mu);
    ++impl_->generation;
    impl_->cv.notify_all();
  }
  // shutdown(2) wakes a thread blocked in accept(2) or read(2) on Linux; the owning thread
  // then closes the descriptor itself.
  ::shutdown(impl_->acceptor->native_handle(), SHUT_RDWR);
  impl_->accept_thread.join();
  beast::error_code ec;
  impl_->acceptor->close(ec);
  impl_->acceptor.reset();
  std::list<Impl::Conn> conns;
  {
    std::lock_guard lock(impl_->conn_mu);
    conns.swap(impl_->conns);
  }
  for (auto& c : conns) ::shutdown(c.fd, SHUT_RDWR);
  for (auto& c : conns) c.thread.join();
}

std::string FakeApiServer::server_url() const {
  return "https://127.0.0.1:" + std::to_string(port_);
}

void FakeApiServer::SetStalled(bool stalled) {
  std::lock_guard lock(impl_->mu);
  impl_->stalled = stalled;
  impl_->cv.notify_all();
}

bool FakeApiServer::WaitForStalledRequest(std::chrono::milliseconds timeout) const {
  std::unique_lock lock(impl_->mu);
  return impl_->cv.wait_for(lock, timeout, [this] { return impl_->stalled_requests > 0; });
}

void FakeApiServer::SetToken(const std::string& token) {
  std::lock_guard lock(impl_->mu);
  impl_->tokens.erase(impl_->default_token);
  impl_->default_token = token;
  impl_->tokens[token] = "test-user";
}

void FakeApiServer::AddToken(const std::string& token, const std::string& user) {
  std::lock_guard lock(impl_->mu);
  impl_->tokens[token] = user;
}

std::string FakeApiServer::AddPod(const std::string& pod_json) {
  std::string uid = impl_->Add(pod_json);
  if (uid.empty()) throw std::invalid_argument("AddPod: not a pod");
  return uid;
}

void FakeApiServer::LoadPods(const std::vector<std::string>& pod_jsons) {
  std::lock_guard lock(impl_->mu);
  for (const auto& json : pod_jsons) {
    StoredPod pod;
    if (!impl_->Stamp(json, &pod, false)) throw std::invalid_argument("LoadPods: not a pod");
    impl_->pods[pod.ns + "/" + pod.name] = std::move(pod);
  }
  // No history for these: a watch must start from now on.
  impl_->compacted_rv = impl_->rv;
  impl_->history.clear();
}

bool FakeApiServer::UpdatePod(const std::string& pod_json) {
  std::lock_guard lock(impl_->mu);
  StoredPod pod;
  if (!impl_->Stamp(pod_json, &pod, true)) return false;
  auto it = impl_->pods.find(pod.ns + "/" + pod.name);
  if (it == impl_->pods.end()) return false;
  if (pod.uid.empty()) {
    pod.uid = it->second.uid;
    rapidjson::Document doc;
    doc.Parse(pod.json->c_str());
    SetString(doc["metadata"], "uid", pod.uid, doc.GetAllocator());
    pod.json = std::make_shared<const std::string>(Serialize(doc));
  }
  it->second = pod;
  impl_->Record(pod.rv, "MODIFIED", pod.ns, pod.json);
  return true;
}

bool FakeApiServer::RemovePod(const std::string& ns, const std::string& name) {
  std::lock_guard lock(impl_->mu);
  auto it = impl_->pods.find(ns + "/" + name);
  if (it == impl_->pods.end()) return false;
  std::uint64_t rv = impl_->NextRv();
  rapidjson::Document doc;
  doc.Parse(it->second.json->c_str());
  SetString(doc["metadata"], "resourceVersion", std::to_string(rv), doc.GetAllocator());
  impl_->Record(rv, "DELETED", ns, std::make_shared<const std::string>(Serialize(doc)));
  impl_->pods.erase(it);
  return true;
}

bool FakeApiServer::HasPod(const std::string& ns, const std::string& name) const {
  std::lock_guard lock(impl_->mu);
  return impl_->pods.count(ns + "/" + name) > 0;
}

std::size_t FakeApiServer::pod_count() const {
  std::lock_guard lock(impl_->mu);
  return impl_->pods.size();
}

std::uint64_t FakeApiServer::resource_version() const {
  std::lock_guard lock(impl_->mu);
  return impl_->rv;
}

void FakeApiServer::ExpireContinueTokens() {
  std::lock_guard lock(impl_->mu);
  ++impl_->continue_epoch;
}

void FakeApiServer::Compact() {
  std::lock_guard lock(impl_->mu);
  // Every resourceVersion handed out so far becomes too old, including those of live watches
  // (they get an ERROR 410 event at once); a list made now returns one that is not.
  impl_->compacted_rv = ++impl_->rv;
  impl_->history.clear();
  impl_->cv.notify_all();
}

void FakeApiServer::SetWatchGoneAsHttpStatus(bool http_status) {
  std::lock_guard lock(impl_->mu);
  impl_->gone_as_http = http_status;
}

void FakeApiServer::InjectFault(const Fault& fault) {
  std::lock_guard lock(impl_->mu);
  impl_->faults.push_back({fault, 0, 0});
}

void FakeApiServer::ClearFaults() {
  std::lock_guard lock(impl_->mu);
  impl_->faults.clear();
}

namespace {
// Stores `json` as another writer would: a new resourceVersion, the namespace when given.
void PutObject(FakeApiServer::Impl& impl, std::map<std::string, StoredObject>& store,
               const std::string& ns, const std::string& json);
}  // namespace

void FakeApiServer::PutSecret(const std::string& ns, const std::string& secret_json) {
  PutObject(*impl_, impl_->secrets, ns, secret_json);
}

void FakeApiServer::PutWebhookConfiguration(const std::string& config_json) {
  PutObject(*impl_, impl_->webhook_configurations, "", config_json);
}

namespace {
std::optional<std::string> StoredJson(const FakeApiServer::Impl& impl,
                                      const std::map<std::string, StoredObject>& store,
                                      const std::string& key) {
  std::lock_guard lock(impl.mu);
  auto it = store.find(key);
  if (it == store.end()) return std::nullopt;
  return it->second.json;
}
}  // namespace

std::optional<std::string> FakeApiServer::secret_json(const std::string& ns,
                                                      const std::string& name) const {
  return StoredJson(*impl_, impl_->secrets, ns + "/" + name);
}

std::optional<std::string> FakeApiServer::webhook_configuration_json(
    const std::string& name) const {
  return StoredJson(*impl_, impl_->webhook_configurations, name);
}

namespace {
void PutObject(FakeApiServer::Impl& impl, std::map<std::string, StoredObject>& store,
               const std::string& ns, const std::string& json) {
  rapidjson::Document doc;
  doc.Parse(json.c_str(), json.size());
  std::lock_guard lock(impl.mu);
  auto& alloc = doc.GetAllocator();
  rapidjson::Value& metadata = EnsureObject(doc, "metadata", alloc);
  const std::string name = Str(metadata, "name");
  StoredObject stored;
  stored.rv = impl.NextRv();
  SetString(metadata, "resourceVersion", std::to_string(stored.rv), alloc);
  if (!ns.empty()) SetString(metadata, "namespace", ns, alloc);
  stored.json = Serialize(doc);
  store[ns.empty() ? name : ns + "/" + name] = std::move(stored);
}
}  // namespace

void FakeApiServer::SetPolicyReportsInstalled(bool installed) {
  std::lock_guard lock(impl_->mu);
  impl_->reports_installed = installed;
}

bool FakeApiServer::BumpPolicyReport(const std::string& ns, const std::string& name) {
  std::lock_guard lock(impl_->mu);
  auto it = impl_->reports.find(ns + "/" + name);
  if (it == impl_->reports.end()) return false;
  rapidjson::Document doc;
  doc.Parse(it->second.json.c_str(), it->second.json.size());
  it->second.rv = impl_->NextRv();
  SetString(EnsureObject(doc, "metadata", doc.GetAllocator()), "resourceVersion",
            std::to_string(it->second.rv), doc.GetAllocator());
  it->second.json = Serialize(doc);
  return true;
}

std::optional<std::string> FakeApiServer::policy_report_json(const std::string& ns,
                                                             const std::string& name) const {
  std::lock_guard lock(impl_->mu);
  auto it = impl_->reports.find(ns + "/" + name);
  if (it == impl_->reports.end()) return std::nullopt;
  return it->second.json;
}

std::size_t FakeApiServer::policy_report_count() const {
  std::lock_guard lock(impl_->mu);
  return impl_->reports.size();
}

std::uint64_t FakeApiServer::policy_report_writes() const {
  std::lock_guard lock(impl_->mu);
  return impl_->report_writes;
}

std::vector<FakeApiServer::DeleteRecord> FakeApiServer::deletes() const {
  std::lock_guard lock(impl_->mu);
  return impl_->delete_records;
}

std::vector<FakeApiServer::EventRecord> FakeApiServer::events() const {
  std::lock_guard lock(impl_->mu);
  return impl_->event_records;
}

std::optional<std::string> FakeApiServer::lease_json(const std::string& ns,
                                                     const std::string& name) const {
  std::lock_guard lock(impl_->mu);
  auto it = impl_->leases.find(ns + "/" + name);
  if (it == impl_->leases.end()) return std::nullopt;
  return it->second.json;
}

std::uint64_t FakeApiServer::requests(const std::string& method) const {
  std::lock_guard lock(impl_->mu);
  if (!method.empty()) {
    auto it = impl_->requests_by_method.find(method);
    return it == impl_->requests_by_method.end() ? 0 : it->second;
  }
  std::uint64_t total = 0;
  for (const auto& [m, n] : impl_->requests_by_method) total += n;
  return total;
}

std::uint64_t FakeApiServer::list_requests() const {
  std::lock_guard lock(impl_->mu);
  return impl_->list_count;
}

std::uint64_t FakeApiServer::watch_requests() const {
  std::lock_guard lock(impl_->mu);
  return impl_->watch_count;
}

std::uint64_t FakeApiServer::unauthorized() const {
  std::lock_guard lock(impl_->mu);
  return impl_->unauthorized_count;
}

namespace {
void WriteText(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  if (!out) throw std::runtime_error("cannot write " + path);
}
}  // namespace

std::string WriteKubeconfig(const FakeApiServer& server, const std::string& dir,
                            const KubeconfigForm& form) {
  std::filesystem::create_directories(dir);
  std::string token = form.token.empty() ? "test-token" : form.token;
  std::string cluster;
  if (form.inline_data) {
    cluster = "    certificate-authority-data: " + common::EncodeBase64(server.ca_pem()) + "\n";
  } else {
    WriteText(dir + "/ca.crt", server.ca_pem());
    cluster = "    certificate-authority: ca.crt\n";  // relative to the kubeconfig
  }
  std::string user;
  switch (form.auth) {
    case KubeconfigForm::Auth::kToken:
      user = "    token: " + token + "\n";
      break;
    case KubeconfigForm::Auth::kTokenFile:
      WriteText(dir + "/token", token + "\n");
      user = "    tokenFile: " + dir + "/token\n";
      break;
    case KubeconfigForm::Auth::kClientCert:
      if (form.inline_data) {
        user = "    client-certificate-data: " + common::EncodeBase64(server.client_cert_pem()) +
               "\n" + "    client-key-data: " + common::EncodeBase64(server.client_key_pem()) +
               "\n";
      } else {
        WriteText(dir + "/client.crt", server.client_cert_pem());
        WriteText(dir + "/client.key", server.client_key_pem());
        user = "    client-certificate: client.crt\n    client-key: " + dir + "/client.key\n";
      }
      break;
    case KubeconfigForm::Auth::kExec:
      user = "    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: " +
             form.exec_command + "\n      interactiveMode: Never\n";
      break;
  }
  std::string text =
      "apiVersion: v1\nkind: Config\ncurrent-context: fake\nclusters:\n"
      "- name: fake-cluster\n  cluster:\n    server: " +
      server.server_url() + "\n" + cluster +
      "contexts:\n- name: fake\n  context:\n    cluster: fake-cluster\n"
      "    user: fake-user\n    namespace: default\n"
      "users:\n- name: fake-user\n  user:\n" +
      user;
  std::string path = dir + "/kubeconfig";
  WriteText(path, text);
  return path;
}

std::string WriteScript(const std::string& dir, const std::string& name, const std::string& body) {
  std::string path = dir + "/" + name;
  WriteText(path, "#!/bin/sh\n" + body);
  std::filesystem::permissions(path, std::filesystem::perms::owner_all);
  return path;
}

PodTemplate BenignPod(const std::string& ns, const std::string& name) {
  PodTemplate pod;
  pod.namespace_ = ns;
  pod.name = name;
  pod.env = {{"LISTEN_PORT", "8080"}, {"LOG_LEVEL", "info"}};
  return pod;
}

PodTemplate MinerPod(const std::string& ns, const std::string& name) {
  PodTemplate pod;
  pod.namespace_ = ns;
  pod.name = name;
  pod.image = "xmrig/xmrig:6.21.0";
  pod.command = {"xmrig"};
  pod.args = {"-o",
              "stratum+tcp://pool.supportxmr.com:3333",
              "-u",
              "44AFFq5kSiGBoZ4NMDwYtN18obc8AemS33DBLWs3H7otXft3XjrpDtQGv7SqSsaBYBb98uNbr2VBBEt7f2"
              "wfn3RVGQBEP3A",
              "--donate-level",
              "1"};
  return pod;
}

namespace {

void WriteString(Writer& w, const std::string& s) {
  w.String(s.c_str(), static_cast<rapidjson::SizeType>(s.size()));
}

void WriteMetadata(Writer& w, const PodTemplate& p) {
  w.Key("metadata");
  w.StartObject();
  w.Key("name");
  WriteString(w, p.name);
  w.Key("namespace");
  WriteString(w, p.namespace_);
  if (!p.uid.empty()) {
    w.Key("uid");
    WriteString(w, p.uid);
  }
  if (p.terminating) {
    w.Key("deletionTimestamp");
    w.String("2026-11-01T11:00:00Z");
    w.Key("deletionGracePeriodSeconds");
    w.Int(30);
  }
  w.Key("labels");
  w.StartObject();
  bool has_app = false;
  for (const auto& [k, v] : p.labels) has_app = has_app || k == "app.kubernetes.io/name";
  if (!has_app) {
    w.Key("app.kubernetes.io/name");
    WriteString(w, p.name.substr(0, p.name.rfind('-')));
  }
  w.Key("pod-template-hash");
  w.String("6d4cf56db6");
  for (const auto& [k, v] : p.labels) {
    w.Key(k.c_str());
    WriteString(w, v);
  }
  w.EndObject();
  w.Key("annotations");
  w.StartObject();
  w.Key("kubectl.kubernetes.io/restartedAt");
  w.String("2026-11-01T10:00:00Z");
  w.EndObject();
  if (!p.controller_uid.empty()) {
    w.Key("ownerReferences");
    w.StartArray();
    w.StartObject();
    w.Key("apiVersion");
    w.String("apps/v1");
    w.Key("kind");
    w.String("ReplicaSet");
    w.Key("name");
    WriteString(w, p.name.substr(0, p.name.rfind('-')));
    w.Key("uid");
    WriteString(w, p.controller_uid);
    w.Key("controller");
    w.Bool(true);
    w.Key("blockOwnerDeletion");
    w.Bool(true);
    w.EndObject();
    w.EndArray();
  }
  w.EndObject();
}

// The one container, with the fields a real API server fills in.
void WriteContainer(Writer& w, const PodTemplate& p) {
  w.StartObject();
  w.Key("name");
  w.String("main");
  w.Key("image");
  WriteString(w, p.image);
  if (!p.command.empty()) {
    w.Key("command");
    w.StartArray();
    for (const auto& c : p.command) WriteString(w, c);
    w.EndArray();
  }
  if (!p.args.empty()) {
    w.Key("args");
    w.StartArray();
    for (const auto& a : p.args) WriteString(w, a);
    w.EndArray();
  }
  w.Key("env");
  w.StartArray();
  for (const auto& [k, v] : p.env) {
    w.StartObject();
    w.Key("name");
    WriteString(w, k);
    w.Key("value");
    WriteString(w, v);
    w.EndObject();
  }
  w.StartObject();
  w.Key("name");
  w.String("POD_IP");
  w.Key("valueFrom");
  w.StartObject();
  w.Key("fieldRef");
  w.StartObject();
  w.Key("fieldPath");
  w.String("status.podIP");
  w.EndObject();
  w.EndObject();
  w.EndObject();
  w.EndArray();
  w.Key("ports");
  w.StartArray();
  w.StartObject();
  w.Key("containerPort");
  w.Int(8080);
  w.Key("protocol");
  w.String("TCP");
  w.EndObject();
  w.EndArray();
  w.Key("resources");
  w.StartObject();
  w.Key("requests");
  w.StartObject();
  w.Key("cpu");
  w.String("100m");
  w.Key("memory");
  w.String("128Mi");
  w.EndObject();
  w.EndObject();
  w.Key("readinessProbe");
  w.StartObject();
  w.Key("httpGet");
  w.StartObject();
  w.Key("path");
  w.String("/healthz");
  w.Key("port");
  w.Int(8080);
  w.EndObject();
  w.Key("periodSeconds");
  w.Int(10);
  w.EndObject();
  w.Key("terminationMessagePath");
  w.String("/dev/termination-log");
  w.Key("imagePullPolicy");
  w.String("IfNotPresent");
  w.EndObject();
}

void WriteSpec(Writer& w, const PodTemplate& p) {
  w.Key("spec");
  w.StartObject();
  w.Key("containers");
  w.StartArray();
  WriteContainer(w, p);
  w.EndArray();
  w.Key("restartPolicy");
  w.String("Always");
  w.Key("terminationGracePeriodSeconds");
  w.Int(30);
  w.Key("dnsPolicy");
  w.String("ClusterFirst");
  w.Key("serviceAccountName");
  w.String("default");
  w.Key("nodeName");
  w.String("node-1");
  w.Key("schedulerName");
  w.String("default-scheduler");
  if (!p.image_pull_secrets.empty()) {
    w.Key("imagePullSecrets");
    w.StartArray();
    for (const std::string& name : p.image_pull_secrets) {
      w.StartObject();
      w.Key("name");
      w.String(name);
      w.EndObject();
    }
    w.EndArray();
  }
  w.EndObject();
}

void WriteStatus(Writer& w, const PodTemplate& p) {
  w.Key("status");
  w.StartObject();
  w.Key("phase");
  WriteString(w, p.phase);
  w.Key("conditions");
  w.StartArray();
  for (const char* type : {"Initialized", "Ready", "ContainersReady", "PodScheduled"}) {
    w.StartObject();
    w.Key("type");
    w.String(type);
    w.Key("status");
    w.String("True");
    w.Key("lastTransitionTime");
    w.String("2026-11-01T10:00:05Z");
    w.EndObject();
  }
  w.EndArray();
  w.Key("hostIP");
  w.String("10.0.0.11");
  w.Key("podIP");
  w.String("10.244.1.23");
  w.Key("startTime");
  w.String("2026-11-01T10:00:00Z");
  w.Key("qosClass");
  w.String("Burstable");
  w.EndObject();
}

}  // namespace

std::string MakePodJson(const PodTemplate& p) {
  rapidjson::StringBuffer buffer;
  Writer w(buffer);
  w.StartObject();
  w.Key("kind");
  w.String("Pod");
  w.Key("apiVersion");
  w.String("v1");
  WriteMetadata(w, p);
  WriteSpec(w, p);
  WriteStatus(w, p);
  w.EndObject();
  return {buffer.GetString(), buffer.GetSize()};
}

}  // namespace stratum_guard::fake_apiserver
