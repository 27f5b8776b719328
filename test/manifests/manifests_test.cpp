// Renders every kustomize overlay under manifests/ with `kubectl kustomize` and checks what has to
// agree between the manifests and the code: the webhook configuration and the Service, the
// Service and the container, the probes and the server's endpoints, RBAC and the sweeper's API
// calls, the webhook rules and the policy engine's kinds, the shipped policy and the binary.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "policy/workload.h"
#include "test/manifests/exported_metrics.h"
#include "test/testing/eventually.h"

namespace stratum_guard::manifests {
namespace {

namespace fs = std::filesystem;
using stratum_guard::testing::Eventually;

const fs::path kSourceDir = STRATUM_GUARD_SOURCE_DIR;
constexpr const char* kBinary = STRATUM_GUARD_BINARY;
constexpr std::string_view kWebhookName = "validate.stratum-guard.io";
constexpr std::string_view kImage = "ghcr.io/stratum-guard/stratum-guard:0.1.0";

// ---------------------------------------------------------------------------------------------
// Running commands and rendering overlays.

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};

std::string ShellQuote(std::string_view s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  out += '\'';
  return out;
}

CommandResult RunCommand(const std::string& command) {
  CommandResult result;
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return result;
  std::array<char, 4096> buffer;
  std::size_t n;
  while ((n = fread(buffer.data(), 1, buffer.size(), pipe)) > 0)
    result.output.append(buffer.data(), n);
  int status = pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

bool HaveTool(std::string_view tool) {
  return RunCommand("command -v " + std::string(tool)).exit_code == 0;
}

bool HaveKubectl() {
  static const bool have = HaveTool("kubectl");
  return have;
}

#define SKIP_WITHOUT_KUBECTL()                                                                \
  do {                                                                                        \
    if (!HaveKubectl()) {                                                                     \
      GTEST_SKIP() << "kubectl not found in PATH: the kustomize overlays cannot be rendered " \
                      "(install kubectl, which bundles kustomize, to run this test)";         \
    }                                                                                         \
  } while (false)

std::string ReadFileOrEmpty(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

struct Rendering {
  bool ok = false;
  std::string error;
  std::vector<YAML::Node> objects;
};

Rendering RenderDir(const fs::path& dir) {
  Rendering r;
  CommandResult cmd = RunCommand("kubectl kustomize " + ShellQuote(dir.string()));
  if (cmd.exit_code != 0) {
    r.error = "kubectl kustomize " + dir.string() + " failed: " + cmd.output;
    return r;
  }
  try {
    for (const YAML::Node& doc : YAML::LoadAll(cmd.output)) {
      if (doc.IsMap()) r.objects.push_back(doc);
    }
  } catch (const YAML::Exception& e) {
    r.error = std::string("rendered YAML does not parse: ") + e.what();
    return r;
  }
  r.ok = true;
  return r;
}

// "OVERLAY+COMPONENT[+COMPONENT...]": the overlay with kustomize components added, as an
// admin's own kustomization would combine them (components cannot be rendered alone).
Rendering RenderWithComponents(const std::string& overlay,
                               const std::vector<std::string>& components) {
  std::string pattern = (fs::temp_directory_path() / "manifests_component_XXXXXX").string();
  if (mkdtemp(pattern.data()) == nullptr) return {false, "mkdtemp failed", {}};
  const fs::path dir = pattern;
  // kustomize accepts only relative paths to other kustomizations.
  const fs::path manifests = fs::relative(kSourceDir / "manifests", dir);
  std::ofstream out(dir / "kustomization.yaml");
  out << "resources:\n  - " << (manifests / overlay).string() << "\ncomponents:\n";
  for (const std::string& component : components) {
    out << "  - " << (manifests / component).string() << "\n";
  }
  out.close();
  Rendering r = RenderDir(dir);
  fs::remove_all(dir);
  return r;
}

// Overlays are rendered once per process: every test reads the same immutable rendering.
const Rendering& Render(const std::string& name) {
  static std::map<std::string, Rendering> cache;
  auto it = cache.find(name);
  if (it == cache.end()) {
    std::vector<std::string> parts;
    std::stringstream in(name);
    for (std::string part; std::getline(in, part, '+');) parts.push_back(part);
    const std::string overlay = parts.front();
    parts.erase(parts.begin());
    it = cache
             .emplace(name, parts.empty() ? RenderDir(kSourceDir / "manifests" / overlay)
                                          : RenderWithComponents(overlay, parts))
             .first;
  }
  return it->second;
}

// ---------------------------------------------------------------------------------------------
// Reading the rendered objects. yaml-cpp throws when indexing past a missing key, and assigning
// to a bound Node rewrites the shared document, so nested fields are read through Get(), which
// yields an undefined node for any missing step and never mutates.

YAML::Node Get(const YAML::Node& node, std::initializer_list<std::string_view> keys) {
  YAML::Node current(node);  // copy construction shares the node, unlike assignment
  for (std::string_view key : keys) {
    if (!current.IsMap()) return YAML::Node(YAML::NodeType::Undefined);
    const YAML::Node& map = current;
    YAML::Node next = map[std::string(key)];
    if (!next) return YAML::Node(YAML::NodeType::Undefined);
    current.reset(next);
  }
  return current;
}

// The first entry of a ValidatingWebhookConfiguration's webhooks, or an undefined node.
YAML::Node FirstWebhook(const YAML::Node& configuration) {
  const YAML::Node list = Get(configuration, {"webhooks"});
  if (!list.IsSequence() || list.size() == 0) return YAML::Node(YAML::NodeType::Undefined);
  return list[0];
}

std::string Str(const YAML::Node& n) { return n && n.IsScalar() ? n.as<std::string>() : ""; }

std::vector<std::string> Strings(const YAML::Node& n) {
  std::vector<std::string> out;
  if (n && n.IsSequence()) {
    for (const auto& item : n) out.push_back(Str(item));
  }
  return out;
}

bool Contains(const std::vector<std::string>& v, std::string_view s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

std::vector<YAML::Node> OfKind(const std::vector<YAML::Node>& objects, std::string_view kind) {
  std::vector<YAML::Node> out;
  for (const auto& o : objects) {
    if (Str(o["kind"]) == kind) out.push_back(o);
  }
  return out;
}

std::string Name(const YAML::Node& o) { return Str(Get(o, {"metadata", "name"})); }
std::string Namespace(const YAML::Node& o) { return Str(Get(o, {"metadata", "namespace"})); }

std::optional<YAML::Node> Find(const std::vector<YAML::Node>& objects, std::string_view kind,
                               std::string_view name) {
  for (const auto& o : OfKind(objects, kind)) {
    if (Name(o) == name) return o;
  }
  return std::nullopt;
}

// Value of --flag=value or --flag value in a container's args.
std::optional<std::string> Flag(const std::vector<std::string>& args, std::string_view flag) {
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (args[i] == flag && i + 1 < args.size()) return args[i + 1];
    if (args[i].size() > flag.size() && args[i].compare(0, flag.size(), flag) == 0 &&
        args[i][flag.size()] == '=') {
      return args[i].substr(flag.size() + 1);
    }
  }
  return std::nullopt;
}

// ":8443" and "0.0.0.0:8443" -> 8443; -1 when there is no port.
int PortOf(const std::string& address) {
  auto colon = address.rfind(':');
  if (colon == std::string::npos) return -1;
  try {
    return std::stoi(address.substr(colon + 1));
  } catch (...) {
    return -1;
  }
}

bool LabelsMatch(const YAML::Node& selector_labels, const YAML::Node& labels) {
  if (!selector_labels || !selector_labels.IsMap() || selector_labels.size() == 0) return false;
  for (const auto& kv : selector_labels) {
    if (Str(labels[kv.first.as<std::string>()]) != Str(kv.second)) return false;
  }
  return true;
}

// The single webhook Deployment of an install overlay and its single container.
struct Workload {
  YAML::Node deployment;
  YAML::Node pod_spec;
  YAML::Node container;
  std::vector<std::string> args;
};

std::optional<Workload> TheDeployment(const std::vector<YAML::Node>& objects) {
  auto deployments = OfKind(objects, "Deployment");
  if (deployments.size() != 1) return std::nullopt;
  Workload w;
  const YAML::Node& deployment = deployments[0];
  w.deployment = deployment;
  w.pod_spec = Get(deployment, {"spec", "template", "spec"});
  const YAML::Node containers = Get(w.pod_spec, {"containers"});
  if (!containers.IsSequence() || containers.size() != 1) return std::nullopt;
  w.container = containers[0];
  w.args = Strings(w.container["args"]);
  return w;
}

int ContainerPort(const YAML::Node& container, std::string_view name) {
  for (const auto& p : container["ports"]) {
    if (Str(p["name"]) == name) return p["containerPort"].as<int>();
  }
  return -1;
}

// The file path a container sees for `key` of the volume that references `source` (a Secret or
// ConfigMap) through a whole-directory mount.
std::optional<std::string> MountedPath(const Workload& w, std::string_view source_field,
                                       std::string_view source_name_field, std::string_view source,
                                       std::string_view key) {
  for (const auto& volume : w.pod_spec["volumes"]) {
    if (Str(Get(volume, {source_field, source_name_field})) != source) continue;
    for (const auto& mount : w.container["volumeMounts"]) {
      if (Str(mount["name"]) == Str(volume["name"]) && !mount["subPath"]) {
        return Str(mount["mountPath"]) + "/" + std::string(key);
      }
    }
  }
  return std::nullopt;
}

// ---------------------------------------------------------------------------------------------
// Plain file checks (no kubectl needed).

TEST(ManifestsFiles, BasePolicyCopyIsIdenticalToDefaultPolicy) {
  const std::string source = ReadFileOrEmpty(kSourceDir / "policy" / "default_policy.yaml");
  const std::string copy = ReadFileOrEmpty(kSourceDir / "manifests" / "base" / "policy.yaml");
  ASSERT_FALSE(source.empty());
  EXPECT_EQ(copy, source)
      << "manifests/base/policy.yaml must be a byte-for-byte copy of policy/default_policy.yaml "
         "(kustomize reads no file outside its directory). Refresh it with:\n"
         "  cp policy/default_policy.yaml manifests/base/policy.yaml";
}

// ---------------------------------------------------------------------------------------------
// Every overlay renders.

class EveryOverlay : public ::testing::TestWithParam<std::string> {};

TEST_P(EveryOverlay, Renders) {
  SKIP_WITHOUT_KUBECTL();
  const Rendering& r = Render(GetParam());
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_FALSE(r.objects.empty());
  for (const auto& o : r.objects) {
    EXPECT_FALSE(Str(o["apiVersion"]).empty()) << "object without apiVersion in " << GetParam();
    EXPECT_FALSE(Name(o).empty()) << "object without a name in " << GetParam();
  }
}

INSTANTIATE_TEST_SUITE_P(Overlays, EveryOverlay,
                         ::testing::Values("base", "default", "failure-policy-fail",
                                           "failure-policy-ignore", "cert-manager", "monitoring",
                                           "default+sweeper-delete",
                                           "failure-policy-ignore+sweeper-delete",
                                           "default+policy-reports", "default+image-inspection",
                                           "default+sweeper-delete+image-inspection"),
                         [](const auto& info) {
                           std::string name = info.param;
                           std::replace(name.begin(), name.end(), '-', '_');
                           std::replace(name.begin(), name.end(), '+', '_');
                           return name;
                         });

// ---------------------------------------------------------------------------------------------
// The install overlays: what has to agree.

struct InstallCase {
  std::string overlay;
  std::string failure_policy;
  // Where the serving certificate comes from.
  enum class Certs { kFiles, kCertManager, kSelfManaged } certs;
  bool sweeper_deletes = false;  // only with the sweeper-delete component
  bool inspect_images = false;   // only with the image-inspection component
};

// gtest prints the parameter in test names and failures.
void PrintTo(const InstallCase& c, std::ostream* os) { *os << c.overlay; }

class InstallOverlay : public ::testing::TestWithParam<InstallCase> {
 protected:
  void SetUp() override {
    SKIP_WITHOUT_KUBECTL();
    const Rendering& r = Render(GetParam().overlay);
    ASSERT_TRUE(r.ok) << r.error;
    objects_ = r.objects;
    auto w = TheDeployment(objects_);
    ASSERT_TRUE(w.has_value()) << "expected exactly one Deployment with one container";
    workload_ = *w;
    auto webhooks = OfKind(objects_, "ValidatingWebhookConfiguration");
    ASSERT_EQ(webhooks.size(), 1u);
    configuration_ = webhooks[0];
    ASSERT_EQ(Get(configuration_, {"webhooks"}).size(), 1u) << "one webhook, patched at index 0";
    webhook_ = FirstWebhook(configuration_);
    namespace_ = Namespace(workload_.deployment);
    ASSERT_FALSE(namespace_.empty());
  }

  std::vector<YAML::Node> objects_;
  Workload workload_;
  YAML::Node configuration_;
  YAML::Node webhook_;
  std::string namespace_;
};

TEST_P(InstallOverlay, WebhookCallsTheServiceThatReachesTheServer) {
  const YAML::Node service_ref = Get(webhook_, {"clientConfig", "service"});
  ASSERT_TRUE(service_ref.IsMap()) << "the webhook must call an in-cluster Service";
  EXPECT_FALSE(Get(webhook_, {"clientConfig", "url"})) << "url and service are exclusive";
  EXPECT_EQ(Str(service_ref["path"]), "/validate") << "the server serves POST /validate";
  EXPECT_EQ(Str(service_ref["namespace"]), namespace_);

  auto service = Find(objects_, "Service", Str(service_ref["name"]));
  ASSERT_TRUE(service.has_value()) << "no Service named " << Str(service_ref["name"]);
  EXPECT_EQ(Namespace(*service), namespace_);
  EXPECT_TRUE(LabelsMatch(Get((*service), {"spec", "selector"}),
                          Get(workload_.deployment, {"spec", "template", "metadata", "labels"})))
      << "the Service must select the webhook's pods";

  // The webhook's port (443 when left out) must be a Service port whose target is the
  // container's webhook port, which must be the port --listen binds.
  const int webhook_port = service_ref["port"] ? service_ref["port"].as<int>() : 443;
  // std::optional, not Node assignment: assigning to a bound yaml-cpp Node rewrites its contents.
  std::optional<YAML::Node> service_port;
  for (const auto& p : Get((*service), {"spec", "ports"})) {
    if (p["port"].as<int>() == webhook_port) service_port.emplace(p);
  }
  ASSERT_TRUE(service_port.has_value()) << "the Service has no port " << webhook_port;
  const int container_port = ContainerPort(workload_.container, "webhook");
  EXPECT_EQ(container_port, 8443);
  const std::string target = Str((*service_port)["targetPort"]);
  EXPECT_TRUE(target == std::to_string(container_port) || target == "webhook")
      << "Service targetPort " << target << " does not reach container port " << container_port;
  auto listen = Flag(workload_.args, "--listen");
  const int listen_port = listen ? PortOf(*listen) : 8443;  // the server's default is :8443
  EXPECT_EQ(listen_port, container_port) << "--listen must bind the container's webhook port";
}

TEST_P(InstallOverlay, MetricsPortAgreesWithFlagAndService) {
  const int container_port = ContainerPort(workload_.container, "metrics");
  auto flag = Flag(workload_.args, "--metrics-listen");
  EXPECT_EQ(flag ? PortOf(*flag) : 9090, container_port);
  auto service = Find(objects_, "Service", Str(Get(webhook_, {"clientConfig", "service", "name"})));
  ASSERT_TRUE(service.has_value());
  bool found = false;
  for (const auto& p : Get((*service), {"spec", "ports"})) {
    if (Str(p["name"]) == "metrics") {
      found = true;
      EXPECT_TRUE(Str(p["targetPort"]) == std::to_string(container_port) ||
                  Str(p["targetPort"]) == "metrics");
    }
  }
  EXPECT_TRUE(found) << "the Service needs a port named metrics for the ServiceMonitor";
}

TEST_P(InstallOverlay, ProbesUseTheServerHealthEndpointsOverHttps) {
  const int webhook_port = ContainerPort(workload_.container, "webhook");
  struct Probe {
    const char* field;
    const char* path;
  };
  for (const Probe& p : {Probe{"readinessProbe", "/readyz"}, Probe{"livenessProbe", "/healthz"}}) {
    const YAML::Node get = Get(workload_.container, {p.field, "httpGet"});
    ASSERT_TRUE(get.IsMap()) << p.field << " must be an httpGet probe";
    EXPECT_EQ(Str(get["path"]), p.path) << p.field;
    EXPECT_EQ(Str(get["scheme"]), "HTTPS") << p.field << ": port 8443 speaks only TLS";
    const std::string port = Str(get["port"]);
    EXPECT_TRUE(port == std::to_string(webhook_port) || port == "webhook") << p.field;
  }
}

TEST_P(InstallOverlay, WebhookSettings) {
  EXPECT_EQ(Str(webhook_["name"]), kWebhookName);
  EXPECT_EQ(Strings(webhook_["admissionReviewVersions"]),
            (std::vector<std::string>{"v1", "v1beta1"}));
  EXPECT_EQ(Str(webhook_["sideEffects"]), "None");
  EXPECT_EQ(Str(webhook_["matchPolicy"]), "Equivalent");
  ASSERT_TRUE(webhook_["timeoutSeconds"]);
  const int timeout = webhook_["timeoutSeconds"].as<int>();
  EXPECT_GE(timeout, 1);
  EXPECT_LE(timeout, 10) << "a slow webhook holds up every pod creation";
  EXPECT_EQ(Str(webhook_["failurePolicy"]), GetParam().failure_policy);
}

// The policy engine's kinds, each with the API group and resource its requests arrive as.
std::optional<std::pair<std::string, std::string>> ResourceOf(std::string_view kind) {
  static const std::map<std::string_view, std::pair<std::string, std::string>> kTable = {
      {"Pod", {"", "pods"}},
      {"PodTemplate", {"", "podtemplates"}},
      {"ReplicationController", {"", "replicationcontrollers"}},
      {"Deployment", {"apps", "deployments"}},
      {"ReplicaSet", {"apps", "replicasets"}},
      {"StatefulSet", {"apps", "statefulsets"}},
      {"DaemonSet", {"apps", "daemonsets"}},
      {"Job", {"batch", "jobs"}},
      {"CronJob", {"batch", "cronjobs"}},
  };
  auto it = kTable.find(kind);
  if (it == kTable.end()) return std::nullopt;
  return it->second;
}

// Whether some rule of the webhook sends CREATE and UPDATE of group/resource to the server.
// "*" as a resource matches no subresource, as in the API server.
bool Covered(const YAML::Node& webhook, const std::string& group, const std::string& resource) {
  const bool subresource = resource.find('/') != std::string::npos;
  for (const auto& rule : webhook["rules"]) {
    auto groups = Strings(rule["apiGroups"]);
    auto resources = Strings(rule["resources"]);
    auto operations = Strings(rule["operations"]);
    auto versions = Strings(rule["apiVersions"]);
    const bool group_ok = Contains(groups, group) || Contains(groups, "*");
    const bool resource_ok =
        Contains(resources, resource) || (!subresource && Contains(resources, "*"));
    const bool ops_ok = Contains(operations, "*") ||
                        (Contains(operations, "CREATE") && Contains(operations, "UPDATE"));
    if (group_ok && resource_ok && ops_ok && !versions.empty()) return true;
  }
  return false;
}

TEST_P(InstallOverlay, RulesCoverEveryKindThePolicyUnderstands) {
  ASSERT_FALSE(policy::PodTemplateKinds().empty());
  for (std::string_view kind : policy::PodTemplateKinds()) {
    auto resource = ResourceOf(kind);
    ASSERT_TRUE(resource.has_value())
        << "the policy engine understands " << kind
        << " but this test does not know its API group: add it here and to the webhook rules";
    EXPECT_TRUE(Covered(webhook_, resource->first, resource->second))
        << kind << " (" << resource->first << "/" << resource->second
        << ") is not in the webhook rules for CREATE and UPDATE";
  }
}

TEST_P(InstallOverlay, RulesCoverEphemeralContainers) {
  EXPECT_TRUE(Covered(webhook_, "", "pods/ephemeralcontainers"))
      << "kubectl debug adds containers through pods/ephemeralcontainers, which \"pods\" and "
         "\"*\" do not match";
}

TEST_P(InstallOverlay, NamespaceSelectorExcludesItsOwnNamespaceAndKubeSystem) {
  bool own = false;
  bool kube_system = false;
  for (const auto& e : Get(webhook_, {"namespaceSelector", "matchExpressions"})) {
    if (Str(e["key"]) == "kubernetes.io/metadata.name" && Str(e["operator"]) == "NotIn") {
      own = own || Contains(Strings(e["values"]), namespace_);
      kube_system = kube_system || Contains(Strings(e["values"]), "kube-system");
    }
  }
  EXPECT_TRUE(own) << "a broken webhook must not block its own namespace (" << namespace_ << ")";
  EXPECT_TRUE(kube_system) << "kube-system is exempt from the webhook (docs/INSTALL.md)";
  // Exemption by a label that anyone who can edit a namespace sets would be a bypass.
  EXPECT_FALSE(webhook_["objectSelector"]) << "no objectSelector: pod authors set their labels";
}

// The API calls the sweeper makes (issue 4); RBAC must grant exactly these.
using Grant = std::tuple<std::string, std::string, std::string, std::string>;  // scope, group,
                                                                               // resource, verb
std::set<Grant> ExpectedGrants(const std::string& ns) {
  std::set<Grant> g;
  for (const char* verb : {"get", "list", "watch", "delete"})
    g.insert({"cluster", "", "pods", verb});
  g.insert({"cluster", "", "events", "create"});
  for (const char* verb : {"get", "list", "create", "update", "delete"}) {
    g.insert({"cluster", "wgpolicyk8s.io", "policyreports", verb});
  }
  for (const char* verb : {"get", "create", "update"}) {
    g.insert({ns, "coordination.k8s.io", "leases", verb});
  }
  return g;
}

TEST_P(InstallOverlay, RbacGrantsExactlyTheSweepersCalls) {
  const std::string account = Str(workload_.pod_spec["serviceAccountName"]);
  ASSERT_FALSE(account.empty());
  ASSERT_TRUE(Find(objects_, "ServiceAccount", account).has_value());

  std::set<Grant> granted;
  auto collect = [&](const YAML::Node& binding, const std::string& scope) {
    bool ours = false;
    for (const auto& s : binding["subjects"]) {
      ours = ours || (Str(s["kind"]) == "ServiceAccount" && Str(s["name"]) == account &&
                      Str(s["namespace"]) == namespace_);
    }
    if (!ours) return;
    const std::string role_kind = Str(Get(binding, {"roleRef", "kind"}));
    auto role = Find(objects_, role_kind, Str(Get(binding, {"roleRef", "name"})));
    ASSERT_TRUE(role.has_value()) << Name(binding) << " binds a role that is not shipped";
    for (const auto& rule : (*role)["rules"]) {
      EXPECT_FALSE(rule["nonResourceURLs"]) << Name(*role);
      for (const auto& group : Strings(rule["apiGroups"])) {
        for (const auto& resource : Strings(rule["resources"])) {
          for (const auto& verb : Strings(rule["verbs"])) {
            EXPECT_NE(group, "*") << Name(*role) << ": no wildcard groups";
            EXPECT_NE(resource, "*") << Name(*role) << ": no wildcard resources";
            EXPECT_NE(verb, "*") << Name(*role) << ": no wildcard verbs";
            const bool pull_secrets = GetParam().inspect_images && scope == "cluster" &&
                                      resource == "secrets" && verb == "get";
            if (pull_secrets) {
              // --inspect-images reads the imagePullSecrets pods name, in any namespace: get,
              // never list or watch, which would hand the process every Secret.
              EXPECT_TRUE(Strings(rule["resourceNames"]).empty()) << Name(*role);
            } else if (resource == "secrets" || resource == "validatingwebhookconfigurations") {
              // Only --manage-certs touches these, and only the objects it names (create
              // excepted: RBAC cannot name what does not exist yet).
              EXPECT_TRUE(verb == "create" || !Strings(rule["resourceNames"]).empty())
                  << Name(*role) << ": " << verb << " " << resource << " must name its objects";
              EXPECT_NE(scope == "cluster" && resource == "secrets", true)
                  << Name(*role) << ": secrets only in the webhook's own namespace";
            }
            granted.insert({scope, group, resource, verb});
          }
        }
      }
    }
  };
  for (const auto& b : OfKind(objects_, "ClusterRoleBinding")) collect(b, "cluster");
  for (const auto& b : OfKind(objects_, "RoleBinding")) collect(b, Namespace(b));
  std::set<Grant> expected = ExpectedGrants(namespace_);
  if (GetParam().certs == InstallCase::Certs::kSelfManaged) {
    for (const char* verb : {"get", "update", "create"}) {
      expected.insert({namespace_, "", "secrets", verb});
    }
    for (const char* verb : {"get", "patch"}) {
      expected.insert(
          {"cluster", "admissionregistration.k8s.io", "validatingwebhookconfigurations", verb});
    }
  }
  if (GetParam().inspect_images) expected.insert({"cluster", "", "secrets", "get"});
  EXPECT_EQ(granted, expected);
}

TEST_P(InstallOverlay, LeaseFlagsMatchTheRole) {
  // The sweeper's Lease lives where --lease-namespace says: the pod's own namespace.
  auto lease_namespace = Flag(workload_.args, "--lease-namespace");
  ASSERT_TRUE(lease_namespace.has_value());
  if (*lease_namespace == "$(POD_NAMESPACE)") {
    bool from_downward_api = false;
    for (const auto& e : workload_.container["env"]) {
      from_downward_api =
          from_downward_api ||
          (Str(e["name"]) == "POD_NAMESPACE" &&
           Str(Get(e, {"valueFrom", "fieldRef", "fieldPath"})) == "metadata.namespace");
    }
    EXPECT_TRUE(from_downward_api);
  } else {
    EXPECT_EQ(*lease_namespace, namespace_);
  }
  // A Role limited to named Leases must name the one --lease-name uses.
  const std::string lease_name =
      Flag(workload_.args, "--lease-name").value_or("stratum-guard-sweeper");
  for (const auto& role : OfKind(objects_, "Role")) {
    for (const auto& rule : role["rules"]) {
      auto names = Strings(rule["resourceNames"]);
      if (Contains(Strings(rule["resources"]), "leases") && !names.empty()) {
        EXPECT_TRUE(Contains(names, lease_name)) << Name(role) << " does not name " << lease_name;
      }
    }
  }
}

TEST_P(InstallOverlay, DeploymentRunsServeWithTheSweeper) {
  EXPECT_EQ(Str(workload_.container["image"]), kImage);
  ASSERT_FALSE(workload_.args.empty());
  EXPECT_EQ(workload_.args[0], "serve");
  EXPECT_TRUE(Contains(workload_.args, "--sweep"));
  // Every replica runs the sweeper; the Lease must keep all but one from deleting.
  const auto leader_elect = Flag(workload_.args, "--leader-elect");
  EXPECT_TRUE(!leader_elect || *leader_elect == "true") << "leader election must stay on";
  // A new install observes first; deleting takes the sweeper-delete component.
  EXPECT_EQ(Contains(workload_.args, "--dry-run"), !GetParam().sweeper_deletes);
  // Looking inside images adds registry traffic: only with the image-inspection component.
  EXPECT_EQ(Contains(workload_.args, "--inspect-images"), GetParam().inspect_images);
  EXPECT_EQ(std::count_if(workload_.args.begin(), workload_.args.end(),
                          [](const std::string& a) { return a.starts_with("--dry-run"); }),
            GetParam().sweeper_deletes ? 0 : 1);
  // Scheduled before, and never preempted for, the workloads a fail-closed webhook guards.
  EXPECT_EQ(Str(workload_.pod_spec["priorityClassName"]), "system-cluster-critical");
  EXPECT_GE(Get(workload_.deployment, {"spec", "replicas"}).as<int>(), 2);

  std::map<std::string, std::string> env;
  for (const auto& e : workload_.container["env"]) {
    env[Str(e["name"])] = Str(Get(e, {"valueFrom", "fieldRef", "fieldPath"}));
  }
  EXPECT_EQ(env["POD_NAME"], "metadata.name");
  EXPECT_EQ(env["POD_NAMESPACE"], "metadata.namespace");
  // The sweeper needs the service-account token.
  EXPECT_NE(Str(workload_.pod_spec["automountServiceAccountToken"]), "false");

  bool spread_across_nodes = false;
  for (const auto& c : workload_.pod_spec["topologySpreadConstraints"]) {
    spread_across_nodes =
        spread_across_nodes ||
        (Str(c["topologyKey"]) == "kubernetes.io/hostname" &&
         LabelsMatch(Get(c, {"labelSelector", "matchLabels"}),
                     Get(workload_.deployment, {"spec", "template", "metadata", "labels"})));
  }
  EXPECT_TRUE(spread_across_nodes);

  for (const char* kind : {"requests", "limits"}) {
    for (const char* resource : {"cpu", "memory"}) {
      EXPECT_FALSE(Str(Get(workload_.container, {"resources", kind, resource})).empty())
          << kind << "." << resource;
    }
  }
}

// --manage-certs: the names its flags give are the ones its Role, ClusterRole and webhook
// configuration carry, and no Secret is mounted (the certificate arrives through the API).
TEST_P(InstallOverlay, SelfManagedCertificatesNameTheirObjects) {
  const bool self_managed = GetParam().certs == InstallCase::Certs::kSelfManaged;
  EXPECT_EQ(Contains(workload_.args, "--manage-certs"), self_managed);
  if (!self_managed) return;
  EXPECT_FALSE(Flag(workload_.args, "--tls-cert").has_value());
  EXPECT_FALSE(Flag(workload_.args, "--tls-key").has_value());
  for (const auto& v : workload_.pod_spec["volumes"]) {
    EXPECT_FALSE(v["secret"]) << "no Secret is mounted with --manage-certs";
  }
  const std::string secret = Flag(workload_.args, "--cert-secret").value_or("stratum-guard-tls");
  const std::string config = Flag(workload_.args, "--webhook-config").value_or("stratum-guard");
  const std::string service = Flag(workload_.args, "--service").value_or("stratum-guard");
  EXPECT_EQ(Name(configuration_), config);
  EXPECT_EQ(Str(Get(webhook_, {"clientConfig", "service", "name"})), service);
  EXPECT_FALSE(Flag(workload_.args, "--cert-namespace").has_value())
      << "the namespace comes from POD_NAMESPACE, so the overlay's namespace: stays the truth";
  EXPECT_FALSE(Get(configuration_, {"metadata", "annotations", "cert-manager.io/inject-ca-from"}))
      << "two writers of one caBundle";
  bool secret_named = false, config_named = false;
  for (const char* kind : {"Role", "ClusterRole"}) {
    for (const auto& role : OfKind(objects_, kind)) {
      for (const auto& rule : role["rules"]) {
        auto names = Strings(rule["resourceNames"]);
        if (Contains(Strings(rule["resources"]), "secrets") && !names.empty()) {
          EXPECT_EQ(names, std::vector<std::string>{secret}) << Name(role);
          secret_named = true;
        }
        if (Contains(Strings(rule["resources"]), "validatingwebhookconfigurations")) {
          EXPECT_EQ(names, std::vector<std::string>{config}) << Name(role);
          config_named = true;
        }
      }
    }
  }
  EXPECT_TRUE(secret_named && config_named);
}

TEST_P(InstallOverlay, CertificateAndPolicyAreMountedWhereTheFlagsPoint) {
  // --manage-certs mounts no certificate (SelfManagedCertificatesNameTheirObjects).
  std::string secret_name;
  if (GetParam().certs != InstallCase::Certs::kSelfManaged) {
    auto cert = Flag(workload_.args, "--tls-cert");
    auto key = Flag(workload_.args, "--tls-key");
    ASSERT_TRUE(cert && key) << "without --tls-cert the server makes a self-signed dev certificate";
    for (const auto& v : workload_.pod_spec["volumes"]) {
      if (v["secret"]) secret_name = Str(Get(v, {"secret", "secretName"}));
    }
    ASSERT_FALSE(secret_name.empty());
    EXPECT_EQ(MountedPath(workload_, "secret", "secretName", secret_name, "tls.crt"), cert);
    EXPECT_EQ(MountedPath(workload_, "secret", "secretName", secret_name, "tls.key"), key);
  }

  auto policy_flag = Flag(workload_.args, "--policy");
  ASSERT_TRUE(policy_flag.has_value());
  const std::string key_name = fs::path(*policy_flag).filename().string();
  bool mounted = false;
  for (const auto& cm : OfKind(objects_, "ConfigMap")) {
    if (MountedPath(workload_, "configMap", "name", Name(cm), key_name) == policy_flag) {
      mounted = true;
      EXPECT_TRUE(Get(cm, {"data", key_name})) << Name(cm) << " has no key " << key_name;
    }
  }
  EXPECT_TRUE(mounted) << *policy_flag << " is not a whole-directory ConfigMap mount";

  if (GetParam().certs == InstallCase::Certs::kCertManager) {
    auto certificate = Find(objects_, "Certificate", secret_name);
    ASSERT_TRUE(certificate.has_value());
    EXPECT_EQ(Str(Get((*certificate), {"spec", "secretName"})), secret_name);
    auto dns = Strings(Get((*certificate), {"spec", "dnsNames"}));
    const std::string service = Str(Get(webhook_, {"clientConfig", "service", "name"}));
    // The API server connects to SERVICE.NAMESPACE.svc.
    EXPECT_TRUE(Contains(dns, service + "." + namespace_ + ".svc"));
    EXPECT_EQ(
        Str(Get(configuration_, {"metadata", "annotations", "cert-manager.io/inject-ca-from"})),
        namespace_ + "/" + Name(*certificate));
  }
}

std::optional<std::string> ShippedPolicy(const std::vector<YAML::Node>& objects) {
  auto cm = Find(objects, "ConfigMap", "stratum-guard-policy");
  if (!cm) return std::nullopt;
  const YAML::Node text = Get((*cm), {"data", "policy.yaml"});
  if (!text) return std::nullopt;
  return text.as<std::string>();
}

TEST_P(InstallOverlay, ShippedPolicyIsTheDefaultPolicy) {
  auto text = ShippedPolicy(objects_);
  ASSERT_TRUE(text.has_value());
  EXPECT_EQ(*text, ReadFileOrEmpty(kSourceDir / "policy" / "default_policy.yaml"));
}

TEST_P(InstallOverlay, ShippedPolicyPassesPolicyValidate) {
  auto text = ShippedPolicy(objects_);
  ASSERT_TRUE(text.has_value());
  const fs::path file =
      fs::temp_directory_path() / ("manifests_policy_" + std::to_string(getpid()) + ".yaml");
  {
    std::ofstream out(file, std::ios::binary);
    out << *text;
  }
  CommandResult r =
      RunCommand(ShellQuote(kBinary) + " policy validate " + ShellQuote(file.string()));
  fs::remove(file);
  EXPECT_EQ(r.exit_code, 0) << "stratum-guard policy validate rejects the shipped policy:\n"
                            << r.output;
}

TEST_P(InstallOverlay, SecurityContextIsRestricted) {
  const YAML::Node pod = workload_.pod_spec["securityContext"];
  const YAML::Node c = workload_.container["securityContext"];
  EXPECT_TRUE(Str(pod["runAsNonRoot"]) == "true" || Str(c["runAsNonRoot"]) == "true");
  const std::string user =
      Str(c["runAsUser"]).empty() ? Str(pod["runAsUser"]) : Str(c["runAsUser"]);
  EXPECT_FALSE(user.empty() || user == "0") << "a numeric non-root user";
  EXPECT_EQ(Str(c["readOnlyRootFilesystem"]), "true");
  EXPECT_EQ(Str(c["allowPrivilegeEscalation"]), "false");
  EXPECT_NE(Str(c["privileged"]), "true");
  EXPECT_EQ(Strings(Get(c, {"capabilities", "drop"})), std::vector<std::string>{"ALL"});
  EXPECT_FALSE(Get(c, {"capabilities", "add"}));
  const std::string seccomp = Str(Get(c, {"seccompProfile", "type"})).empty()
                                  ? Str(Get(pod, {"seccompProfile", "type"}))
                                  : Str(Get(c, {"seccompProfile", "type"}));
  EXPECT_EQ(seccomp, "RuntimeDefault");
  EXPECT_NE(Str(workload_.pod_spec["hostNetwork"]), "true");
}

TEST_P(InstallOverlay, DisruptionBudgetAndNetworkPolicySelectThePods) {
  const YAML::Node pod_labels =
      Get(workload_.deployment, {"spec", "template", "metadata", "labels"});
  auto pdbs = OfKind(objects_, "PodDisruptionBudget");
  ASSERT_EQ(pdbs.size(), 1u);
  EXPECT_TRUE(LabelsMatch(Get(pdbs[0], {"spec", "selector", "matchLabels"}), pod_labels));
  EXPECT_EQ(Get(pdbs[0], {"spec", "minAvailable"}).as<int>(), 1);

  auto policies = OfKind(objects_, "NetworkPolicy");
  ASSERT_EQ(policies.size(), 1u);
  const YAML::Node np = policies[0];
  EXPECT_TRUE(LabelsMatch(Get(np, {"spec", "podSelector", "matchLabels"}), pod_labels));
  // The webhook port is open to every source: the API server may be off the pod network. The
  // metrics port is the monitoring add-on's to open, since only its settings say where
  // Prometheus runs.
  std::set<int> ingress_ports;
  for (const auto& rule : Get(np, {"spec", "ingress"})) {
    for (const auto& p : rule["ports"]) {
      ingress_ports.insert(p["port"].as<int>());
      EXPECT_FALSE(rule["from"]) << "port " << p["port"].as<int>() << " limited to some sources";
    }
  }
  EXPECT_EQ(ingress_ports, std::set<int>{8443});
  std::set<int> egress_ports;
  for (const auto& rule : Get(np, {"spec", "egress"})) {
    for (const auto& p : rule["ports"]) egress_ports.insert(p["port"].as<int>());
  }
  EXPECT_EQ(egress_ports, (std::set<int>{53, 443, 6443})) << "DNS and the API server only";
}

INSTANTIATE_TEST_SUITE_P(
    Overlays, InstallOverlay,
    ::testing::Values(
        InstallCase{"default", "Fail", InstallCase::Certs::kSelfManaged},
        InstallCase{"failure-policy-fail", "Fail", InstallCase::Certs::kFiles},
        InstallCase{"failure-policy-ignore", "Ignore", InstallCase::Certs::kFiles},
        InstallCase{"cert-manager", "Fail", InstallCase::Certs::kCertManager},
        InstallCase{"default+sweeper-delete", "Fail", InstallCase::Certs::kSelfManaged, true},
        InstallCase{"default+policy-reports", "Fail", InstallCase::Certs::kSelfManaged},
        InstallCase{"default+image-inspection", "Fail", InstallCase::Certs::kSelfManaged, false,
                    true},
        InstallCase{"default+sweeper-delete+image-inspection", "Fail",
                    InstallCase::Certs::kSelfManaged, true, true}),
    [](const auto& info) {
      std::string name = info.param.overlay;
      std::replace(name.begin(), name.end(), '-', '_');
      std::replace(name.begin(), name.end(), '+', '_');
      return name;
    });

// The policy-reports component: the CRD the sweeper writes to (sweeper/policy_report.cpp), and
// only with the component: an install overlay must not take the CRD over from Kyverno & co.
TEST(PolicyReportsComponent, AddsTheNamespacedV1alpha2CrdTheSweeperWritesTo) {
  SKIP_WITHOUT_KUBECTL();
  const Rendering& plain = Render("default");
  ASSERT_TRUE(plain.ok) << plain.error;
  EXPECT_TRUE(OfKind(plain.objects, "CustomResourceDefinition").empty());

  const Rendering& r = Render("default+policy-reports");
  ASSERT_TRUE(r.ok) << r.error;
  auto crd = Find(r.objects, "CustomResourceDefinition", "policyreports.wgpolicyk8s.io");
  ASSERT_TRUE(crd.has_value());
  EXPECT_EQ(Str(Get(*crd, {"spec", "group"})), "wgpolicyk8s.io");
  EXPECT_EQ(Str(Get(*crd, {"spec", "scope"})), "Namespaced");
  EXPECT_EQ(Str(Get(*crd, {"spec", "names", "kind"})), "PolicyReport");
  EXPECT_EQ(Str(Get(*crd, {"spec", "names", "plural"})), "policyreports");
  EXPECT_TRUE(Contains(Strings(Get(*crd, {"spec", "names", "shortNames"})), "polr"));
  const YAML::Node versions = Get(*crd, {"spec", "versions"});
  ASSERT_EQ(versions.size(), 1u);
  EXPECT_EQ(Str(versions[0]["name"]), "v1alpha2");
  EXPECT_TRUE(versions[0]["served"].as<bool>());
  EXPECT_TRUE(versions[0]["storage"].as<bool>());
  const YAML::Node schema = Get(versions[0], {"schema", "openAPIV3Schema", "properties"});
  const YAML::Node result = Get(schema, {"results", "items"});
  EXPECT_EQ(Strings(result["required"]), std::vector<std::string>{"policy"});
  auto results = Strings(Get(result, {"properties", "result", "enum"}));
  auto severities = Strings(Get(result, {"properties", "severity", "enum"}));
  for (const char* written : {"fail", "warn", "skip"}) EXPECT_TRUE(Contains(results, written));
  for (const char* written : {"high", "medium", "low"}) EXPECT_TRUE(Contains(severities, written));
  for (const char* count : {"pass", "fail", "warn", "error", "skip"}) {
    EXPECT_EQ(Str(Get(schema, {"summary", "properties", count, "type"})), "integer") << count;
  }
  // The anchors of the source file are expanded: each subject is an object reference.
  EXPECT_EQ(Str(Get(result, {"properties", "resources", "items", "properties", "uid", "type"})),
            "string");
}

// ---------------------------------------------------------------------------------------------
// The monitoring add-on: its settings, its alerts (promtool runs their unit tests) and the metric
// names its alerts and dashboard use, checked against what the binary really exports.

const fs::path kMonitoringComponent = kSourceDir / "manifests" / "monitoring" / "component";
const fs::path kAlertTests = kSourceDir / "test" / "manifests" / "alerts";
constexpr const char* kPromtool = "/usr/bin/promtool";
constexpr std::string_view kRunbookBase =
    "https://github.com/stratum-guard/stratum-guard/blob/main/docs/OPERATIONS.md#";
constexpr std::string_view kSettingsName = "stratum-guard-monitoring-settings";

// Series that other exporters provide: Prometheus itself, the API server, kube-state-metrics.
const std::set<std::string>& ExternalMetrics() {
  static const std::set<std::string> kExternal = {
      "up",
      "apiserver_admission_webhook_admission_duration_seconds_bucket",
      "apiserver_admission_webhook_fail_open_count",
      "apiserver_admission_webhook_rejection_count",
      "kube_deployment_status_replicas_ready",
  };
  return kExternal;
}

bool IsNameStart(char c) {
  return std::isalpha(static_cast<unsigned char>(c)) != 0 || c == '_' || c == ':';
}
bool IsNameChar(char c) { return IsNameStart(c) || std::isdigit(static_cast<unsigned char>(c)); }

// From the opening quote at `pos` to just past its closing quote (backslash escapes inside).
std::size_t SkipQuoted(std::string_view s, std::size_t pos) {
  const char quote = s[pos];
  for (++pos; pos < s.size() && s[pos] != quote; ++pos) {
    if (s[pos] == '\\' && quote != '`') ++pos;
  }
  return pos + 1;
}

// From the bracket at `pos` to just past its match, stepping over quoted strings.
std::size_t SkipBalanced(std::string_view s, std::size_t pos) {
  const char open = s[pos];
  const char close = open == '(' ? ')' : open == '{' ? '}' : ']';
  int depth = 0;
  while (pos < s.size()) {
    const char c = s[pos];
    if (c == '"' || c == '\'' || c == '`') {
      pos = SkipQuoted(s, pos);
      continue;
    }
    if (c == open) ++depth;
    if (c == close && --depth == 0) return pos + 1;
    ++pos;
  }
  return pos;
}

// The metric names a PromQL expression selects: every identifier that is not a function or
// aggregation (followed by `(`), a keyword, a label (inside `{}` or a by/on list), a string, a
// duration, a number or a Grafana variable.
std::set<std::string> PromqlMetricNames(std::string_view expr) {
  static const std::set<std::string, std::less<>> kKeywords = {
      "sum",    "min",     "max",    "avg",      "count",        "stddev", "stdvar",
      "topk",   "bottomk", "group",  "quantile", "count_values", "and",    "or",
      "unless", "bool",    "offset", "inf",      "nan"};
  static const std::set<std::string, std::less<>> kLabelLists = {
      "by", "without", "on", "ignoring", "group_left", "group_right"};
  std::set<std::string> names;
  std::size_t i = 0;
  while (i < expr.size()) {
    const char c = expr[i];
    if (c == '"' || c == '\'' || c == '`') {
      i = SkipQuoted(expr, i);
    } else if (c == '{' || c == '[') {
      i = SkipBalanced(expr, i);
    } else if (c == '$' || c == '.' || std::isdigit(static_cast<unsigned char>(c))) {
      for (++i; i < expr.size() && (IsNameChar(expr[i]) || expr[i] == '.'); ++i) {
      }
    } else if (IsNameStart(c)) {
      std::size_t end = i;
      while (end < expr.size() && IsNameChar(expr[end])) ++end;
      const std::string_view word = expr.substr(i, end - i);
      std::size_t next = end;
      while (next < expr.size() && std::isspace(static_cast<unsigned char>(expr[next]))) ++next;
      const bool call = next < expr.size() && expr[next] == '(';
      if (kLabelLists.count(word) > 0) {
        if (call) end = SkipBalanced(expr, next);
      } else if (!call && kKeywords.count(word) == 0) {
        names.emplace(word);
      }
      i = end;
    } else {
      ++i;
    }
  }
  return names;
}

TEST(ManifestsMonitoring, PromqlMetricNamesSkipFunctionsLabelsStringsAndDurations) {
  EXPECT_EQ(PromqlMetricNames(
                "sum by (le, kind) (rate(a_bucket{name=\"b_total\", x=~'c|d'}[5m] offset 1h))"
                " > 3 * (max without (pod) (e) or vector(0)) and on(job) group_left(pod) up"
                " unless f:g - time() < 14 * 86400 + $var"),
            (std::set<std::string>{"a_bucket", "e", "up", "f:g"}));
  EXPECT_EQ(PromqlMetricNames("histogram_quantile(0.99, sum by(le) (rate(h[$__rate_interval])))"),
            std::set<std::string>{"h"});
  EXPECT_EQ(PromqlMetricNames("sum(x{a=\"}\\\"{\"})"), std::set<std::string>{"x"});
  EXPECT_TRUE(PromqlMetricNames("vector(1) + 2e-3").empty());
}

// The rules file promtool reads: the PrometheusRule's spec without its Kubernetes wrapper.
std::string PlainRules() {
  const YAML::Node rule = YAML::LoadFile((kMonitoringComponent / "prometheusrule.yaml").string());
  YAML::Emitter out;
  out << rule["spec"];
  return out.c_str();
}

// alert name -> the rule.
std::map<std::string, YAML::Node> ShippedAlerts() {
  std::map<std::string, YAML::Node> alerts;
  const YAML::Node rule = YAML::LoadFile((kMonitoringComponent / "prometheusrule.yaml").string());
  for (const auto& group : Get(rule, {"spec", "groups"})) {
    for (const auto& r : group["rules"]) {
      if (r["alert"]) alerts.emplace(Str(r["alert"]), r);
    }
  }
  return alerts;
}

std::vector<std::string> AlertTestFiles() {
  std::vector<std::string> files;
  for (const auto& entry : fs::directory_iterator(kAlertTests)) {
    if (entry.path().string().ends_with(".test.yaml")) files.push_back(entry.path().string());
  }
  std::sort(files.begin(), files.end());
  return files;
}

// A directory with the extracted rules beside a copy of the alert tests, as their
// `rule_files: [rules.yaml]` expects; removed on destruction.
class PromtoolDir {
 public:
  PromtoolDir() {
    std::string pattern = (fs::temp_directory_path() / "promtool_XXXXXX").string();
    if (mkdtemp(pattern.data()) != nullptr) path_ = pattern;
    std::ofstream(path_ / "rules.yaml") << PlainRules();
  }
  ~PromtoolDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  PromtoolDir(const PromtoolDir&) = delete;  // owns the directory
  PromtoolDir& operator=(const PromtoolDir&) = delete;
  const fs::path& path() const { return path_; }
  CommandResult Promtool(const std::string& args) const {
    return RunCommand("cd " + ShellQuote(path_.string()) + " && " + kPromtool + " " + args);
  }

 private:
  fs::path path_;
};

#define REQUIRE_PROMTOOL()                                                   \
  ASSERT_TRUE(fs::exists(kPromtool)) << kPromtool                            \
                                     << " is missing: `make deps` installs " \
                                        "Debian's prometheus package for it"

TEST(ManifestsAlerts, PromtoolChecksTheShippedRules) {
  REQUIRE_PROMTOOL();
  PromtoolDir dir;
  const CommandResult check = dir.Promtool("check rules rules.yaml");
  EXPECT_EQ(check.exit_code, 0) << check.output;
  EXPECT_NE(check.output.find("SUCCESS: " + std::to_string(ShippedAlerts().size()) + " rules"),
            std::string::npos)
      << check.output;
}

class AlertUnitTest : public ::testing::TestWithParam<std::string> {};

TEST_P(AlertUnitTest, PassesPromtoolTestRules) {
  REQUIRE_PROMTOOL();
  PromtoolDir dir;
  fs::copy_file(GetParam(), dir.path() / fs::path(GetParam()).filename());
  const CommandResult test =
      dir.Promtool("test rules " + ShellQuote(fs::path(GetParam()).filename().string()));
  EXPECT_EQ(test.exit_code, 0) << test.output;
}

INSTANTIATE_TEST_SUITE_P(Alerts, AlertUnitTest, ::testing::ValuesIn(AlertTestFiles()),
                         [](const auto& info) {
                           std::string name = fs::path(info.param).filename().string();
                           return name.substr(0, name.find('.'));
                         });

// The harness can fail: an alert expected to fire when its counter first appears at 1 (the case
// that makes zero-initialised series necessary) is reported by promtool.
TEST(ManifestsAlerts, PromtoolReportsAWrongExpectation) {
  REQUIRE_PROMTOOL();
  PromtoolDir dir;
  std::ofstream(dir.path() / "wrong.test.yaml")
      << "rule_files: [rules.yaml]\n"
         "tests:\n"
         "  - interval: 1m\n"
         "    input_series:\n"
         "      - series: 'stratum_guard_sweeper_pods_deleted_total{rule=\"stratum-url\"}'\n"
         "        values: '_x2 1x20'\n"
         "    alert_rule_test:\n"
         "      - eval_time: 5m\n"
         "        alertname: StratumGuardSweeperDeletingPods\n"
         "        exp_alerts:\n"
         "          - exp_labels: {severity: warning, rule: stratum-url}\n";
  const CommandResult test = dir.Promtool("test rules wrong.test.yaml");
  EXPECT_NE(test.exit_code, 0) << test.output;
  EXPECT_NE(test.output.find("alertname: StratumGuardSweeperDeletingPods"), std::string::npos)
      << test.output;
}

// An alert name misspelt in a test would make promtool expect nothing of a rule that does not
// exist, and pass.
TEST(ManifestsAlerts, EveryAlertHasATestThatFiresItAndOneThatDoesNot) {
  const auto alerts = ShippedAlerts();
  ASSERT_FALSE(alerts.empty());
  std::map<std::string, std::pair<bool, bool>> seen;  // name -> (fires, stays quiet)
  for (const std::string& file : AlertTestFiles()) {
    const std::string stem = fs::path(file).filename().string();
    EXPECT_EQ(alerts.count(stem.substr(0, stem.find('.'))), 1u)
        << file << " is named after no shipped alert";
    for (const auto& group : YAML::LoadFile(file)["tests"]) {
      for (const auto& check : group["alert_rule_test"]) {
        const std::string name = Str(check["alertname"]);
        EXPECT_EQ(alerts.count(name), 1u)
            << file << " tests an alert that is not shipped: " << name;
        const YAML::Node expected = check["exp_alerts"];
        (expected && expected.size() > 0 ? seen[name].first : seen[name].second) = true;
      }
    }
  }
  for (const auto& [name, rule] : alerts) {
    EXPECT_TRUE(fs::exists(kAlertTests / (name + ".test.yaml"))) << "no test file for " << name;
    EXPECT_TRUE(seen[name].first) << name << ": no case where it fires";
    EXPECT_TRUE(seen[name].second) << name << ": no case where it stays quiet";
  }
}

// The alert headings of docs/OPERATIONS.md's "Alerts" section, in order.
std::vector<std::string> RunbookSections() {
  std::istringstream doc(ReadFileOrEmpty(kSourceDir / "docs" / "OPERATIONS.md"));
  std::vector<std::string> sections;
  bool in_alerts = false;
  for (std::string line; std::getline(doc, line);) {
    if (line.starts_with("## ")) in_alerts = line == "## Alerts";
    if (in_alerts && line.starts_with("#### ")) sections.push_back(line.substr(5));
  }
  return sections;
}

TEST(ManifestsAlerts, RunbookUrlsPointToTheirOwnSectionOfOperations) {
  const auto alerts = ShippedAlerts();
  const std::vector<std::string> sections = RunbookSections();
  const std::set<std::string> documented(sections.begin(), sections.end());
  EXPECT_EQ(documented.size(), sections.size()) << "an alert is documented twice";
  std::set<std::string> shipped;
  for (const auto& [name, rule] : alerts) {
    shipped.insert(name);
    // A heading of letters alone is its own anchor, lowercased (GitHub's and most renderers').
    std::string anchor = name;
    std::transform(anchor.begin(), anchor.end(), anchor.begin(),
                   [](unsigned char c) { return std::tolower(c); });
    EXPECT_EQ(Str(Get(rule, {"annotations", "runbook_url"})), std::string(kRunbookBase) + anchor)
        << name;
    EXPECT_FALSE(Str(Get(rule, {"labels", "severity"})).empty()) << name;
    EXPECT_FALSE(Str(Get(rule, {"annotations", "summary"})).empty()) << name;
  }
  EXPECT_EQ(documented, shipped) << "docs/OPERATIONS.md's Alerts section and the PrometheusRule";
}

class Monitoring : public ::testing::Test {
 protected:
  void SetUp() override {
    SKIP_WITHOUT_KUBECTL();
    const Rendering& r = Render("monitoring");
    ASSERT_TRUE(r.ok) << r.error;
    objects_ = r.objects;
    const Rendering& install = Render("default");
    ASSERT_TRUE(install.ok) << install.error;
    install_ = install.objects;
  }

  // Every PromQL expression of the rules and the dashboard, with where it is.
  std::vector<std::pair<std::string, std::string>> Expressions() const {
    std::vector<std::pair<std::string, std::string>> exprs;
    for (const auto& rule : OfKind(objects_, "PrometheusRule")) {
      for (const auto& group : Get(rule, {"spec", "groups"})) {
        for (const auto& r : group["rules"]) {
          exprs.emplace_back("alert " + Str(r["alert"]), Str(r["expr"]));
        }
      }
    }
    const YAML::Node dashboard = Dashboard();
    for (const auto& panel : dashboard["panels"]) {
      for (const auto& target : panel["targets"]) {
        exprs.emplace_back("panel \"" + Str(panel["title"]) + "\"", Str(target["expr"]));
      }
    }
    // Grafana's label_values(METRIC, LABEL): only the first argument is PromQL.
    for (const auto& variable : Get(dashboard, {"templating", "list"})) {
      const std::string query = Str(Get(variable, {"query", "query"}));
      if (query.starts_with("label_values(")) {
        const std::size_t start = std::string_view("label_values(").size();
        exprs.emplace_back("variable " + Str(variable["name"]),
                           query.substr(start, query.find(',') - start));
      }
    }
    return exprs;
  }

  YAML::Node Dashboard() const {
    for (const auto& cm : OfKind(objects_, "ConfigMap")) {
      if (Str(Get(cm, {"metadata", "labels", "grafana_dashboard"})) == "1") {
        return YAML::Load(Str(Get(cm, {"data", "stratum-guard.json"})));
      }
    }
    return YAML::Node(YAML::NodeType::Undefined);
  }

  std::vector<YAML::Node> objects_;
  std::vector<YAML::Node> install_;
};

TEST_F(Monitoring, ServiceMonitorScrapesTheMetricsPort) {
  auto monitors = OfKind(objects_, "ServiceMonitor");
  ASSERT_EQ(monitors.size(), 1u);
  const YAML::Node sm = monitors[0];
  auto services = OfKind(install_, "Service");
  ASSERT_EQ(services.size(), 1u);
  const YAML::Node service = services[0];
  EXPECT_EQ(Namespace(sm), Namespace(service));
  EXPECT_TRUE(LabelsMatch(Get(sm, {"spec", "selector", "matchLabels"}),
                          Get(service, {"metadata", "labels"})));
  EXPECT_TRUE(
      Contains(Strings(Get(sm, {"spec", "namespaceSelector", "matchNames"})), Namespace(service)));
  ASSERT_TRUE(Get(sm, {"spec", "endpoints"}).IsSequence());
  ASSERT_EQ(Get(sm, {"spec", "endpoints"}).size(), 1u);
  const YAML::Node endpoint = Get(sm, {"spec", "endpoints"})[0];
  EXPECT_EQ(Str(endpoint["path"]), "/metrics");
  EXPECT_NE(Str(endpoint["scheme"]), "https") << "metrics are plain HTTP";
  bool port_exists = false;
  for (const auto& p : Get(service, {"spec", "ports"})) {
    port_exists = port_exists ||
                  (Str(p["name"]) == Str(endpoint["port"]) && p["targetPort"].as<int>() == 9090);
  }
  EXPECT_TRUE(port_exists) << "the ServiceMonitor's port must be the Service's metrics port";
}

TEST_F(Monitoring, MetricsNetworkPolicyAdmitsPrometheusToTheMetricsPortOnly) {
  auto policies = OfKind(objects_, "NetworkPolicy");
  ASSERT_EQ(policies.size(), 1u);
  const YAML::Node np = policies[0];
  auto w = TheDeployment(install_);
  ASSERT_TRUE(w.has_value());
  EXPECT_EQ(Namespace(np), Namespace(w->deployment));
  EXPECT_TRUE(LabelsMatch(Get(np, {"spec", "podSelector", "matchLabels"}),
                          Get(w->deployment, {"spec", "template", "metadata", "labels"})));
  EXPECT_EQ(Strings(Get(np, {"spec", "policyTypes"})), std::vector<std::string>{"Ingress"})
      << "egress stays the install's policy's business";
  const YAML::Node ingress = Get(np, {"spec", "ingress"});
  ASSERT_EQ(ingress.size(), 1u);
  ASSERT_EQ(ingress[0]["ports"].size(), 1u);
  EXPECT_EQ(ingress[0]["ports"][0]["port"].as<int>(), ContainerPort(w->container, "metrics"));
  ASSERT_EQ(ingress[0]["from"].size(), 1u);
  EXPECT_EQ(Str(Get(ingress[0]["from"][0],
                    {"namespaceSelector", "matchLabels", "kubernetes.io/metadata.name"})),
            "monitoring");
}

// The default settings reach every object, and the settings ConfigMap itself never reaches the
// cluster.
TEST_F(Monitoring, DefaultSettingsAreAppliedAndNotShipped) {
  for (const char* kind : {"ServiceMonitor", "PrometheusRule"}) {
    auto objects = OfKind(objects_, kind);
    ASSERT_EQ(objects.size(), 1u) << kind;
    EXPECT_EQ(Str(Get(objects[0], {"metadata", "labels", "release"})), "kube-prometheus-stack")
        << kind;
  }
  EXPECT_FALSE(Find(objects_, "ConfigMap", kSettingsName).has_value());
  for (const auto& o : objects_) {
    YAML::Emitter out;
    out << o;
    EXPECT_EQ(std::string(out.c_str()).find("set-from-"), std::string::npos)
        << "a placeholder left in " << Str(o["kind"]) << " " << Name(o);
  }
}

// A user's own kustomization with other settings, including the component as the docs show.
class MonitoringSettings : public ::testing::Test {
 protected:
  void SetUp() override {
    SKIP_WITHOUT_KUBECTL();
    std::string pattern = (fs::temp_directory_path() / "monitoring_settings_XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override {
    std::error_code ec;
    if (!dir_.empty()) fs::remove_all(dir_, ec);
  }
  Rendering RenderWith(const std::string& settings) {
    std::ofstream(dir_ / "kustomization.yaml")
        << "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
           "namespace: stratum-guard\n"
        << settings << "components:\n  - " << fs::relative(kMonitoringComponent, dir_).string()
        << "\n";
    return RenderDir(dir_);
  }
  fs::path dir_;
};

TEST_F(MonitoringSettings, OwnKustomizationSetsNamespaceAndRelease) {
  const Rendering r = RenderWith(
      "configMapGenerator:\n"
      "  - name: stratum-guard-monitoring-settings\n"
      "    literals: [prometheus-namespace=observability, prometheus-release=prom]\n"
      "    options:\n"
      "      disableNameSuffixHash: true\n"
      "      annotations: {config.kubernetes.io/local-config: \"true\"}\n");
  ASSERT_TRUE(r.ok) << r.error;
  for (const char* kind : {"ServiceMonitor", "PrometheusRule"}) {
    auto objects = OfKind(r.objects, kind);
    ASSERT_EQ(objects.size(), 1u) << kind;
    EXPECT_EQ(Str(Get(objects[0], {"metadata", "labels", "release"})), "prom") << kind;
  }
  auto policies = OfKind(r.objects, "NetworkPolicy");
  ASSERT_EQ(policies.size(), 1u);
  EXPECT_EQ(Str(Get(Get(policies[0], {"spec", "ingress"})[0]["from"][0],
                    {"namespaceSelector", "matchLabels", "kubernetes.io/metadata.name"})),
            "observability");
  EXPECT_FALSE(Find(r.objects, "ConfigMap", kSettingsName).has_value());
}

TEST_F(MonitoringSettings, MissingSettingsAreAnErrorNotAPlaceholderShipped) {
  const Rendering r = RenderWith("");
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find(kSettingsName), std::string::npos) << r.error;
}

TEST_F(Monitoring, AlertsCoverTheRequiredConditions) {
  auto rules = OfKind(objects_, "PrometheusRule");
  ASSERT_EQ(rules.size(), 1u);
  std::map<std::string, std::string> alerts;  // name -> expr
  for (const auto& group : Get(rules[0], {"spec", "groups"})) {
    for (const auto& rule : group["rules"]) {
      const std::string name = Str(rule["alert"]);
      ASSERT_FALSE(name.empty());
      EXPECT_EQ(alerts.count(name), 0u) << "duplicate alert " << name;
      alerts[name] = Str(rule["expr"]);
    }
  }
  for (const char* required :
       {"StratumGuardWebhookDown", "StratumGuardWebhookCallsFailing", "StratumGuardWebhookErrors",
        "StratumGuardAdmissionSlow", "StratumGuardDenialsSpiking",
        "StratumGuardSweeperDeletingPods", "StratumGuardSweeperCircuitOpen",
        "StratumGuardCertificateExpiringSoon", "StratumGuardCertificateReloadFailed"}) {
    EXPECT_EQ(alerts.count(required), 1u) << "missing alert " << required;
  }
  EXPECT_NE(alerts["StratumGuardCertificateExpiringSoon"].find("14 * 86400"), std::string::npos);
  EXPECT_NE(alerts["StratumGuardWebhookCallsFailing"].find(kWebhookName), std::string::npos)
      << "the API server labels its webhook metrics with the webhook's name";
  // Prometheus Operator names the job after the Service.
  EXPECT_NE(alerts["StratumGuardWebhookDown"].find("job=\"stratum-guard\""), std::string::npos);
}

TEST_F(Monitoring, EveryMetricOfTheRulesAndDashboardIsExportedOrExternal) {
  const ExportedMetrics& exported = ScrapeTheBinary();
  ASSERT_TRUE(exported.error.empty()) << exported.error;
  ASSERT_GT(exported.names.count("stratum_guard_admission_duration_seconds_bucket"), 0u);
  std::set<std::string> used;
  for (const auto& [where, expr] : Expressions()) {
    for (const std::string& name : PromqlMetricNames(expr)) {
      used.insert(name);
      EXPECT_TRUE(exported.names.count(name) > 0 || ExternalMetrics().count(name) > 0)
          << where << " uses " << name << ", which the binary does not export: " << expr;
      EXPECT_EQ(exported.names.count(name) > 0 && ExternalMetrics().count(name) > 0, false)
          << name << " is exported by the binary and listed as external";
    }
  }
  for (const std::string& name : ExternalMetrics()) {
    EXPECT_EQ(used.count(name), 1u) << name << " is listed as external but used nowhere";
  }
}

TEST_F(Monitoring, DashboardShowsEveryMetricTheAlertsUse) {
  const YAML::Node dashboard = Dashboard();
  ASSERT_TRUE(dashboard["panels"].IsSequence()) << "the dashboard is not valid JSON";
  std::set<std::string> shown;
  std::set<std::string> alerted;
  for (const auto& [where, expr] : Expressions()) {
    for (const std::string& name : PromqlMetricNames(expr)) {
      (where.starts_with("alert ") ? alerted : shown).insert(name);
    }
  }
  ASSERT_FALSE(alerted.empty());
  for (const std::string& name : alerted) {
    EXPECT_EQ(shown.count(name), 1u) << "an alert uses " << name << " but no panel shows it";
  }
}

// ---------------------------------------------------------------------------------------------
// The overlay certs/generate.sh writes.

class GeneratedOverlay : public ::testing::Test {
 protected:
  void SetUp() override {
    SKIP_WITHOUT_KUBECTL();
    if (!HaveTool("openssl")) GTEST_SKIP() << "openssl not found in PATH";
    std::string pattern = (fs::temp_directory_path() / "manifests_certs_XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override {
    if (!dir_.empty()) fs::remove_all(dir_);
  }
  CommandResult Generate(const std::string& extra) {
    return RunCommand("bash " + ShellQuote((kSourceDir / "certs" / "generate.sh").string()) +
                      " --out " + ShellQuote(dir_.string()) + " " + extra);
  }
  fs::path dir_;
};

TEST_F(GeneratedOverlay, InstallsTheSecretTheDeploymentMountsAndTheCaBundle) {
  CommandResult gen = Generate("");
  ASSERT_EQ(gen.exit_code, 0) << gen.output;
  const Rendering r = RenderDir(dir_);
  ASSERT_TRUE(r.ok) << r.error;
  auto w = TheDeployment(r.objects);
  ASSERT_TRUE(w.has_value());
  std::string secret_name;
  for (const auto& v : w->pod_spec["volumes"]) {
    if (v["secret"]) secret_name = Str(Get(v, {"secret", "secretName"}));
  }
  auto secret = Find(r.objects, "Secret", secret_name);
  ASSERT_TRUE(secret.has_value()) << "the generated overlay has no Secret " << secret_name;
  EXPECT_EQ(Namespace(*secret), Namespace(w->deployment));
  EXPECT_EQ(Str((*secret)["type"]), "kubernetes.io/tls");
  EXPECT_FALSE(Str(Get((*secret), {"data", "tls.crt"})).empty());
  EXPECT_FALSE(Str(Get((*secret), {"data", "tls.key"})).empty());

  auto webhooks = OfKind(r.objects, "ValidatingWebhookConfiguration");
  ASSERT_EQ(webhooks.size(), 1u);
  std::string bundle = ReadFileOrEmpty(dir_ / "ca-bundle.b64");
  while (!bundle.empty() && (bundle.back() == '\n' || bundle.back() == '\r')) bundle.pop_back();
  ASSERT_FALSE(bundle.empty());
  EXPECT_EQ(Str(Get(FirstWebhook(webhooks[0]), {"clientConfig", "caBundle"})), bundle);
  EXPECT_EQ(Str(Get(FirstWebhook(webhooks[0]), {"failurePolicy"})), "Fail");
}

TEST_F(GeneratedOverlay, BuildsOnTheOverlayAsked) {
  CommandResult gen = Generate(
      "--overlay " + ShellQuote((kSourceDir / "manifests" / "failure-policy-ignore").string()));
  ASSERT_EQ(gen.exit_code, 0) << gen.output;
  const Rendering r = RenderDir(dir_);
  ASSERT_TRUE(r.ok) << r.error;
  auto webhooks = OfKind(r.objects, "ValidatingWebhookConfiguration");
  ASSERT_EQ(webhooks.size(), 1u);
  EXPECT_EQ(Str(Get(FirstWebhook(webhooks[0]), {"failurePolicy"})), "Ignore");
  EXPECT_FALSE(Str(Get(FirstWebhook(webhooks[0]), {"clientConfig", "caBundle"})).empty());
}

TEST_F(GeneratedOverlay, MissingOverlayIsAClearError) {
  CommandResult gen = Generate("--overlay " + ShellQuote((dir_ / "nope").string()));
  EXPECT_NE(gen.exit_code, 0);
  EXPECT_NE(gen.output.find("--overlay"), std::string::npos) << gen.output;
  EXPECT_FALSE(fs::exists(dir_ / "tls.key")) << "nothing is written on a usage error";
}

// ---------------------------------------------------------------------------------------------
// image/runtime-packages, the runtime package list the Dockerfile and `make image` both install,
// names exactly the packages of the shared libraries the binary links (plus what every Debian
// base already has). The image's own chroot test (image/test.sh) runs the binary in the built
// root filesystem; this keeps the list right in every `make test`, where no image is built.

// The package names of a list file: one a line, `#` comments and blank lines skipped.
std::set<std::string> RuntimePackages(const std::string& list) {
  std::set<std::string> packages;
  std::istringstream lines(list);
  for (std::string line; std::getline(lines, line);) {
    std::istringstream words(line.substr(0, line.find('#')));
    for (std::string word; words >> word;) packages.insert(word);
  }
  return packages;
}

TEST(ManifestsDockerfile, RuntimePackagesAreTheLinkedLibrariesPackages) {
  if (!HaveTool("ldd") || !HaveTool("dpkg")) GTEST_SKIP() << "needs ldd and dpkg (Debian)";
  const std::set<std::string> installed =
      RuntimePackages(ReadFileOrEmpty(kSourceDir / "image" / "runtime-packages"));
  ASSERT_FALSE(installed.empty()) << "image/runtime-packages names no package";
  // Each linked library's package, as dpkg knows it on this Debian 12 build machine.
  CommandResult r = RunCommand(
      "for f in $(ldd " + ShellQuote(kBinary) +
      " | awk '$3 ~ /^\\// {print $3}'); do dpkg -S \"$(readlink -f \"$f\")\" 2>/dev/null || "
      "dpkg -S \"$f\"; done | cut -d: -f1 | sort -u");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::set<std::string> needed;
  std::istringstream lines(r.output);
  for (std::string line; std::getline(lines, line);) {
    if (!line.empty()) needed.insert(line);
  }
  ASSERT_FALSE(needed.empty()) << "ldd found no libraries";
  const std::set<std::string> in_base_image = {"libc6", "libgcc-s1", "libstdc++6"};
  for (const auto& package : needed) {
    // A sanitizer build (make SANITIZE=ON) links the sanitizer runtimes; the image never does.
    if (package.starts_with("libasan") || package.starts_with("libubsan")) continue;
    EXPECT_TRUE(installed.count(package) == 1 || in_base_image.count(package) == 1)
        << "the binary links a library from " << package
        << ", which image/runtime-packages does not list";
  }
  for (const auto& package : installed) {
    EXPECT_EQ(needed.count(package), 1u)
        << "image/runtime-packages lists " << package << ", which the binary does not link";
  }
}

TEST(ManifestsDockerfile, RuntimePackagesParse) {
  EXPECT_EQ(RuntimePackages("# the list\nlibssl3\n\n  libre2-9  # RE2\n"),
            (std::set<std::string>{"libssl3", "libre2-9"}));
  EXPECT_TRUE(RuntimePackages("# only a comment\n\n").empty());
}

// The one list: the Dockerfile's runtime stage installs from the file, and names no package of
// its own there.
TEST(ManifestsDockerfile, RuntimeStageInstallsTheOneList) {
  const std::string dockerfile = ReadFileOrEmpty(kSourceDir / "Dockerfile");
  const auto stage = dockerfile.rfind("\nFROM ");
  ASSERT_NE(stage, std::string::npos);
  const std::string runtime = dockerfile.substr(stage);
  EXPECT_NE(runtime.find("\nCOPY image/runtime-packages /tmp/runtime-packages\n"),
            std::string::npos);
  const auto install = runtime.find("--no-install-recommends");
  ASSERT_NE(install, std::string::npos) << "no apt-get install in the Dockerfile's last stage";
  const std::string words = runtime.substr(install, runtime.find("&&", install) - install);
  EXPECT_NE(words.find("/tmp/runtime-packages)"), std::string::npos) << words;
  EXPECT_EQ(words.find("lib"), std::string::npos) << "a package named outside the list: " << words;
}

TEST(ManifestsDockerfile, RunsAsNumericNonRootUserWithTheContractEntrypoint) {
  const std::string dockerfile = ReadFileOrEmpty(kSourceDir / "Dockerfile");
  const std::string runtime = dockerfile.substr(dockerfile.rfind("\nFROM "));
  EXPECT_NE(runtime.find("\nUSER 65532:65532\n"), std::string::npos)
      << "a numeric user, so that runAsNonRoot can verify it";
  EXPECT_NE(runtime.find("\nENTRYPOINT [\"stratum-guard\"]\n"), std::string::npos);
  EXPECT_NE(runtime.find("\nCMD [\"serve\"]\n"), std::string::npos);
  const Rendering& r = Render("default");
  if (r.ok) {
    auto w = TheDeployment(r.objects);
    ASSERT_TRUE(w.has_value());
    EXPECT_EQ(Str(Get(w->container, {"securityContext", "runAsUser"})), "65532")
        << "the Deployment's user should be the image's";
  }
}

// ---------------------------------------------------------------------------------------------
// The Deployment's own arguments start the real binary: every flag the manifests pass exists and
// parses, and the webhook comes up with the mounted files. Paths and listen addresses are moved
// to a temporary directory and loopback; the sweeper gets a kubeconfig whose API server does not
// answer, as in a cluster whose API server is briefly unreachable: the webhook must serve anyway.

// A started process, stopped (SIGTERM, then SIGKILL) when this goes out of scope on any path.
class ChildProcess {
 public:
  ChildProcess(const std::vector<std::string>& argv, const std::vector<std::string>& env,
               const fs::path& log) {
    pid_ = fork();
    if (pid_ == 0) {
      int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      if (fd >= 0) {
        dup2(fd, STDOUT_FILENO);
        dup2(fd, STDERR_FILENO);
      }
      std::vector<char*> args;
      for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      std::vector<char*> envp;
      for (const auto& e : env) envp.push_back(const_cast<char*>(e.c_str()));
      envp.push_back(nullptr);
      execve(args[0], args.data(), envp.data());
      _exit(127);
    }
  }
  ~ChildProcess() { Stop(std::chrono::seconds(10)); }
  ChildProcess(const ChildProcess&) = delete;  // owns the pid
  ChildProcess& operator=(const ChildProcess&) = delete;

  bool Running() {
    if (pid_ <= 0) return false;
    int status;
    pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == 0) return true;
    pid_ = -1;
    exit_status_ = status;
    return false;
  }
  // SIGTERM, wait up to `grace`, then SIGKILL. Returns the exit code, or -1 when killed.
  int Stop(std::chrono::milliseconds grace) {
    if (Running()) {
      kill(pid_, SIGTERM);
      if (!Eventually([this] { return !Running(); }, grace)) {
        kill(pid_, SIGKILL);
        int status;
        waitpid(pid_, &status, 0);
        pid_ = -1;
        exit_status_ = status;
        return -1;
      }
    }
    return WIFEXITED(exit_status_) ? WEXITSTATUS(exit_status_) : -1;
  }

 private:
  pid_t pid_ = -1;
  int exit_status_ = 0;
};

class DeploymentArgs : public GeneratedOverlay {};

TEST_F(DeploymentArgs, StartTheRealServer) {
  const Rendering& r = Render("default");
  ASSERT_TRUE(r.ok) << r.error;
  auto w = TheDeployment(r.objects);
  ASSERT_TRUE(w.has_value());
  ASSERT_EQ(Generate("").exit_code, 0);
  auto policy = ShippedPolicy(r.objects);
  ASSERT_TRUE(policy.has_value());
  {
    std::ofstream(dir_ / "policy.yaml", std::ios::binary) << *policy;
    std::ofstream(dir_ / "kubeconfig")
        << "apiVersion: v1\nkind: Config\n"
           "clusters: [{name: c, cluster: {server: "
           "'https://127.0.0.1:1', insecure-skip-tls-verify: true}}]\n"
           "users: [{name: u, user: {token: t}}]\n"
           "contexts: [{name: x, context: {cluster: c, user: u}}]\n"
           "current-context: x\n";
  }
  const std::map<std::string, std::string> moved = {
      {"--listen", "127.0.0.1:0"},
      {"--metrics-listen", "127.0.0.1:0"},
      {"--tls-cert", (dir_ / "tls.crt").string()},
      {"--tls-key", (dir_ / "tls.key").string()},
      {"--policy", (dir_ / "policy.yaml").string()},
      {"--lease-namespace", "stratum-guard"},  // $(POD_NAMESPACE), as the kubelet expands it
  };
  std::vector<std::string> argv = {kBinary};
  for (const std::string& arg : w->args) {
    const auto eq = arg.find('=');
    const std::string name = arg.substr(0, eq);
    auto it = moved.find(name);
    argv.push_back(eq != std::string::npos && it != moved.end() ? name + "=" + it->second : arg);
  }
  const std::vector<std::string> env = {
      "POD_NAME=stratum-guard-test", "POD_NAMESPACE=stratum-guard",
      "KUBECONFIG=" + (dir_ / "kubeconfig").string(), "HOME=" + dir_.string()};
  const fs::path log = dir_ / "server.log";
  ChildProcess server(argv, env, log);

  std::string text;
  auto listening = [&] { return text.find("\"listener\":\"webhook\"") != std::string::npos; };
  Eventually([&] {  // a server that exited will not start listening
    text = ReadFileOrEmpty(log);
    return listening() || !server.Running();
  });
  ASSERT_TRUE(listening()) << "the server did not start with the Deployment's arguments:\n" << text;
  EXPECT_TRUE(server.Running());
  EXPECT_EQ(server.Stop(std::chrono::seconds(20)), 0) << "SIGTERM should stop it cleanly:\n"
                                                      << ReadFileOrEmpty(log);
}

}  // namespace
}  // namespace stratum_guard::manifests
