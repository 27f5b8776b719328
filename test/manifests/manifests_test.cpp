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

// Overlays are rendered once per process: every test reads the same immutable rendering.
const Rendering& Render(const std::string& overlay) {
  static std::map<std::string, Rendering> cache;
  auto it = cache.find(overlay);
  if (it == cache.end())
    it = cache.emplace(overlay, RenderDir(kSourceDir / "manifests" / overlay)).first;
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
                                           "failure-policy-ignore", "cert-manager", "monitoring"),
                         [](const auto& info) {
                           std::string name = info.param;
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name;
                         });

// ---------------------------------------------------------------------------------------------
// The install overlays: what has to agree.

struct InstallCase {
  std::string overlay;
  std::string failure_policy;
  bool cert_manager;
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
            EXPECT_NE(resource, "secrets") << Name(*role) << ": the sweeper never reads secrets";
            granted.insert({scope, group, resource, verb});
          }
        }
      }
    }
  };
  for (const auto& b : OfKind(objects_, "ClusterRoleBinding")) collect(b, "cluster");
  for (const auto& b : OfKind(objects_, "RoleBinding")) collect(b, Namespace(b));
  EXPECT_EQ(granted, ExpectedGrants(namespace_));
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
  EXPECT_FALSE(Contains(workload_.args, "--dry-run")) << "the shipped sweeper enforces";
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

TEST_P(InstallOverlay, CertificateAndPolicyAreMountedWhereTheFlagsPoint) {
  auto cert = Flag(workload_.args, "--tls-cert");
  auto key = Flag(workload_.args, "--tls-key");
  ASSERT_TRUE(cert && key) << "without --tls-cert the server makes a self-signed dev certificate";
  std::string secret_name;
  for (const auto& v : workload_.pod_spec["volumes"]) {
    if (v["secret"]) secret_name = Str(Get(v, {"secret", "secretName"}));
  }
  ASSERT_FALSE(secret_name.empty());
  EXPECT_EQ(MountedPath(workload_, "secret", "secretName", secret_name, "tls.crt"), cert);
  EXPECT_EQ(MountedPath(workload_, "secret", "secretName", secret_name, "tls.key"), key);

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

  if (GetParam().cert_manager) {
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
  // The webhook port is open to every source: the API server may be off the pod network.
  bool webhook_open = false;
  bool metrics_allowed = false;
  for (const auto& rule : Get(np, {"spec", "ingress"})) {
    for (const auto& p : rule["ports"]) {
      const int port = p["port"].as<int>();
      if (port == 8443 && !rule["from"]) webhook_open = true;
      if (port == 9090) metrics_allowed = true;
    }
  }
  EXPECT_TRUE(webhook_open);
  EXPECT_TRUE(metrics_allowed);
  std::set<int> egress_ports;
  for (const auto& rule : Get(np, {"spec", "egress"})) {
    for (const auto& p : rule["ports"]) egress_ports.insert(p["port"].as<int>());
  }
  EXPECT_EQ(egress_ports, (std::set<int>{53, 443, 6443})) << "DNS and the API server only";
}

INSTANTIATE_TEST_SUITE_P(Overlays, InstallOverlay,
                         ::testing::Values(InstallCase{"default", "Fail", true},
                                           InstallCase{"failure-policy-fail", "Fail", false},
                                           InstallCase{"failure-policy-ignore", "Ignore", false},
                                           InstallCase{"cert-manager", "Fail", true}),
                         [](const auto& info) {
                           std::string name = info.param.overlay;
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name;
                         });

// ---------------------------------------------------------------------------------------------
// The monitoring add-on.

// The metric names the server and the sweeper export (issues 3 and 4).
const std::set<std::string>& ContractMetrics() {
  static const std::set<std::string> kMetrics = {
      "stratum_guard_admission_requests_total",
      "stratum_guard_admission_duration_seconds",
      "stratum_guard_findings_total",
      "stratum_guard_policy_reloads_total",
      "stratum_guard_policy_rules",
      "stratum_guard_tls_certificate_expiry_timestamp_seconds",
      "stratum_guard_build_info",
      "stratum_guard_sweeper_pods_scanned_total",
      "stratum_guard_sweeper_pods_deleted_total",
      "stratum_guard_sweeper_errors_total",
      "stratum_guard_sweeper_last_full_sync_timestamp_seconds",
      "stratum_guard_sweeper_is_leader",
      "stratum_guard_sweeper_circuit_open",
  };
  return kMetrics;
}

// Every stratum_guard_* name in a PromQL expression, with a histogram's series suffixes removed.
std::set<std::string> MetricNames(std::string_view expr) {
  std::set<std::string> names;
  constexpr std::string_view kPrefix = "stratum_guard_";
  for (std::size_t pos = expr.find(kPrefix); pos != std::string_view::npos;
       pos = expr.find(kPrefix, pos + 1)) {
    std::size_t end = pos;
    while (end < expr.size() &&
           (std::isalnum(static_cast<unsigned char>(expr[end])) || expr[end] == '_')) {
      ++end;
    }
    std::string name(expr.substr(pos, end - pos));
    for (std::string_view suffix : {"_bucket", "_sum", "_count"}) {
      if (name.size() > suffix.size() && name.ends_with(suffix) &&
          ContractMetrics().count(name.substr(0, name.size() - suffix.size())) > 0) {
        name.resize(name.size() - suffix.size());
      }
    }
    names.insert(name);
    pos = end;
  }
  return names;
}

TEST(ManifestsMonitoring, MetricNamesParse) {
  EXPECT_EQ(MetricNames("sum(rate(stratum_guard_admission_duration_seconds_bucket[5m]))"),
            std::set<std::string>{"stratum_guard_admission_duration_seconds"});
  EXPECT_EQ(MetricNames("a{x=\"stratum_guard_\"} + stratum_guard_typo_total"),
            (std::set<std::string>{"stratum_guard_", "stratum_guard_typo_total"}));
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

TEST_F(Monitoring, AlertsCoverTheRequiredConditionsWithKnownMetrics) {
  auto rules = OfKind(objects_, "PrometheusRule");
  ASSERT_EQ(rules.size(), 1u);
  std::map<std::string, std::string> alerts;  // name -> expr
  for (const auto& group : Get(rules[0], {"spec", "groups"})) {
    for (const auto& rule : group["rules"]) {
      const std::string name = Str(rule["alert"]);
      ASSERT_FALSE(name.empty());
      EXPECT_EQ(alerts.count(name), 0u) << "duplicate alert " << name;
      alerts[name] = Str(rule["expr"]);
      EXPECT_FALSE(Str(Get(rule, {"labels", "severity"})).empty()) << name;
      EXPECT_FALSE(Str(Get(rule, {"annotations", "summary"})).empty()) << name;
      for (const auto& metric : MetricNames(alerts[name])) {
        EXPECT_EQ(ContractMetrics().count(metric), 1u) << name << " uses unknown metric " << metric;
      }
    }
  }
  for (const char* required :
       {"StratumGuardWebhookDown", "StratumGuardWebhookCallsFailing", "StratumGuardWebhookErrors",
        "StratumGuardDenialsSpiking", "StratumGuardSweeperDeletingPods",
        "StratumGuardSweeperCircuitOpen", "StratumGuardCertificateExpiringSoon"}) {
    EXPECT_EQ(alerts.count(required), 1u) << "missing alert " << required;
  }
  EXPECT_NE(alerts["StratumGuardCertificateExpiringSoon"].find("14 * 86400"), std::string::npos);
  EXPECT_NE(alerts["StratumGuardWebhookCallsFailing"].find(kWebhookName), std::string::npos)
      << "the API server labels its webhook metrics with the webhook's name";
  // Prometheus Operator names the job after the Service.
  EXPECT_NE(alerts["StratumGuardWebhookDown"].find("job=\"stratum-guard\""), std::string::npos);
}

TEST_F(Monitoring, DashboardIsValidJsonShowingEveryMetric) {
  std::optional<YAML::Node> dashboard_cm;
  for (const auto& cm : OfKind(objects_, "ConfigMap")) {
    if (Str(Get(cm, {"metadata", "labels", "grafana_dashboard"})) == "1") dashboard_cm.emplace(cm);
  }
  ASSERT_TRUE(dashboard_cm.has_value()) << "no ConfigMap with the grafana_dashboard label";
  ASSERT_TRUE((*dashboard_cm)["data"].IsMap());
  ASSERT_EQ((*dashboard_cm)["data"].size(), 1u);
  const std::string json = Str(Get((*dashboard_cm), {"data", "stratum-guard.json"}));
  ASSERT_FALSE(json.empty()) << "the dashboard is the ConfigMap's stratum-guard.json";
  YAML::Node dashboard;
  ASSERT_NO_THROW(dashboard = YAML::Load(json)) << "the dashboard is not valid JSON";
  ASSERT_TRUE(dashboard["panels"].IsSequence());
  std::set<std::string> shown;
  for (const auto& panel : dashboard["panels"]) {
    for (const auto& target : panel["targets"]) {
      for (const auto& metric : MetricNames(Str(target["expr"]))) {
        EXPECT_EQ(ContractMetrics().count(metric), 1u)
            << "panel \"" << Str(panel["title"]) << "\" uses unknown metric " << metric;
        shown.insert(metric);
      }
    }
  }
  for (const auto& metric : ContractMetrics()) {
    EXPECT_EQ(shown.count(metric), 1u) << "the dashboard does not show " << metric;
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
// The Dockerfile's runtime stage installs exactly the packages of the shared libraries the binary
// links (plus what debian:12-slim already has). No container engine runs here, so this is how
// the image's runtime libraries are kept right.

// The package names after --no-install-recommends in the last `apt-get install` of the file.
std::set<std::string> RuntimePackages(const std::string& dockerfile) {
  std::set<std::string> packages;
  const auto stage = dockerfile.rfind("\nFROM ");
  if (stage == std::string::npos) return packages;
  const std::string_view marker = "--no-install-recommends";
  const auto start = dockerfile.find(marker, stage);
  if (start == std::string::npos) return packages;
  const auto end = dockerfile.find("&&", start);
  std::istringstream words(dockerfile.substr(start + marker.size(), end - start - marker.size()));
  std::string word;
  while (words >> word) {
    if (word != "\\") packages.insert(word);
  }
  return packages;
}

TEST(ManifestsDockerfile, RuntimeStageInstallsTheLinkedLibrariesPackages) {
  if (!HaveTool("ldd") || !HaveTool("dpkg")) GTEST_SKIP() << "needs ldd and dpkg (Debian)";
  const std::set<std::string> installed =
      RuntimePackages(ReadFileOrEmpty(kSourceDir / "Dockerfile"));
  ASSERT_FALSE(installed.empty()) << "no apt-get install in the Dockerfile's last stage";
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
        << ", which the Dockerfile's runtime stage does not install";
  }
  for (const auto& package : installed) {
    EXPECT_EQ(needed.count(package), 1u)
        << "the runtime stage installs " << package << ", which the binary does not link";
  }
}

TEST(ManifestsDockerfile, RuntimePackagesParse) {
  EXPECT_EQ(RuntimePackages("FROM a AS b\nRUN apt-get install x\nFROM c\nRUN apt-get install -y "
                            "--no-install-recommends \\\n  libssl3 libre2-9 \\\n && rm -rf y\n"),
            (std::set<std::string>{"libssl3", "libre2-9"}));
  EXPECT_TRUE(RuntimePackages("FROM c\nRUN true\n").empty());
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
