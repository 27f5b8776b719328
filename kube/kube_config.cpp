#include "kube/kube_config.h"

#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <filesystem>

#include "common/base64.h"
#include "common/files.h"

namespace stratum_guard::kube {
namespace {

std::string ReadOrThrow(const std::string& path, std::string_view what) {
  std::string error;
  auto text = common::ReadFile(path, &error);
  if (!text) throw KubeConfigError(std::string(what) + ": " + error);
  return std::move(*text);
}

std::string Resolve(const std::string& base_dir, const std::string& path) {
  if (path.empty() || path.front() == '/' || base_dir.empty()) return path;
  return (std::filesystem::path(base_dir) / path).string();
}

// The `inner` node of the entry called `name` in clusters/contexts/users; nullopt if absent.
std::optional<YAML::Node> FindNamed(const YAML::Node& list, const std::string& name,
                                    const char* inner) {
  if (!list || !list.IsSequence()) return std::nullopt;
  for (const auto& item : list) {
    if (item.IsMap() && item["name"] && item["name"].as<std::string>("") == name) {
      return item[inner];
    }
  }
  return std::nullopt;
}

std::string Str(const YAML::Node& map, const char* key) {
  if (!map || !map.IsMap() || !map[key] || !map[key].IsScalar()) return {};
  return map[key].as<std::string>();
}

// Reads `<key>-data` (base64) or `<key>` (a path); the data form wins, as kubectl does.
std::string PemFrom(const YAML::Node& map, const std::string& key, const std::string& base_dir,
                    const std::string& source) {
  std::string data = Str(map, (key + "-data").c_str());
  if (!data.empty()) {
    auto decoded = common::DecodeBase64(data);
    if (!decoded) throw KubeConfigError(source + ": " + key + "-data is not valid base64");
    return std::move(*decoded);
  }
  std::string path = Str(map, key.c_str());
  if (path.empty()) return {};
  return ReadOrThrow(Resolve(base_dir, path), source + ": " + key);
}

// A user's `exec` section, checked as client-go checks it: a command, a known apiVersion, and
// no need of a terminal (we run plugins with no stdin, as kubectl does without one).
ExecConfig ParseExec(const YAML::Node& exec, const std::string& base_dir,
                     const std::string& where) {
  if (!exec.IsMap()) throw KubeConfigError(where + ": exec must be a mapping");
  ExecConfig config;
  config.api_version = Str(exec, "apiVersion");
  config.command = Str(exec, "command");
  config.install_hint = Str(exec, "installHint");
  config.base_dir = base_dir;
  if (config.command.empty()) throw KubeConfigError(where + ": exec has no command");
  if (config.api_version != "client.authentication.k8s.io/v1" &&
      config.api_version != "client.authentication.k8s.io/v1beta1") {
    throw KubeConfigError(where + ": exec apiVersion \"" + config.api_version +
                          "\" is not supported (client.authentication.k8s.io/v1 or v1beta1)");
  }
  if (Str(exec, "interactiveMode") == "Always") {
    throw KubeConfigError(where + ": exec interactiveMode Always needs a terminal; " +
                          "stratum-guard runs plugins without one");
  }
  if (const YAML::Node& args = exec["args"]; args && args.IsSequence()) {
    for (const auto& arg : args) config.args.push_back(arg.as<std::string>());
  }
  if (const YAML::Node& env = exec["env"]; env && env.IsSequence()) {
    for (const auto& var : env) {
      std::string name = Str(var, "name");
      if (name.empty()) throw KubeConfigError(where + ": exec env entry without a name");
      config.env.emplace_back(name, Str(var, "value"));
    }
  }
  return config;
}

}  // namespace

EnvLookup ProcessEnv() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* v = std::getenv(name.c_str());
    if (v == nullptr) return std::nullopt;
    return std::string(v);
  };
}

void ParseServerUrl(std::string_view url, ClusterConfig& config) {
  constexpr std::string_view kScheme = "https://";
  if (url.substr(0, kScheme.size()) != kScheme) {
    throw KubeConfigError(config.source + ": server \"" + std::string(url) +
                          "\" must be an https:// URL");
  }
  std::string_view rest = url.substr(kScheme.size());
  std::size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? "" : rest.substr(slash);
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);
  std::string_view host;
  std::string_view port;
  if (!authority.empty() && authority.front() == '[') {
    std::size_t close = authority.find(']');
    if (close == std::string_view::npos) {
      throw KubeConfigError(config.source + ": server \"" + std::string(url) +
                            "\" has an unterminated IPv6 address");
    }
    host = authority.substr(1, close - 1);
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') {
        throw KubeConfigError(config.source + ": server \"" + std::string(url) + "\" is malformed");
      }
      port = after.substr(1);
    }
  } else {
    std::size_t colon = authority.rfind(':');
    host = authority.substr(0, colon);
    if (colon != std::string_view::npos) port = authority.substr(colon + 1);
  }
  if (host.empty()) {
    throw KubeConfigError(config.source + ": server \"" + std::string(url) + "\" has no host");
  }
  if (!port.empty()) {
    for (char c : port) {
      if (c < '0' || c > '9') {
        throw KubeConfigError(config.source + ": server \"" + std::string(url) +
                              "\" has a bad port");
      }
    }
  }
  config.host = std::string(host);
  config.port = port.empty() ? "443" : std::string(port);
  config.base_path = std::string(path);
}

ClusterConfig InClusterConfig(const EnvLookup& env, const std::string& sa_dir) {
  ClusterConfig config;
  config.source = "in-cluster";
  auto host = env("KUBERNETES_SERVICE_HOST");
  auto port = env("KUBERNETES_SERVICE_PORT");
  if (!host || host->empty() || !port || port->empty()) {
    throw KubeConfigError(
        "in-cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be set");
  }
  bool ipv6 = host->find(':') != std::string::npos;
  ParseServerUrl("https://" + (ipv6 ? "[" + *host + "]" : *host) + ":" + *port, config);
  config.ca_pem = ReadOrThrow(sa_dir + "/ca.crt", "in-cluster CA");
  config.token_file = sa_dir + "/token";
  // Fail at start-up, not at the first request, when the token is missing.
  ReadOrThrow(config.token_file, "in-cluster token");
  std::string ns_error;
  if (auto ns = common::ReadFile(sa_dir + "/namespace", &ns_error)) config.namespace_ = *ns;
  return config;
}

ClusterConfig ParseKubeconfig(std::string_view yaml_text, const std::string& base_dir,
                              const std::string& source, const std::string& context_name) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml_text));
  } catch (const YAML::Exception& e) {
    throw KubeConfigError(source + ":" + std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
  if (!root.IsMap()) throw KubeConfigError(source + ": not a kubeconfig (expected a mapping)");
  ClusterConfig config;
  config.source = source;
  try {
    std::string context = context_name.empty() ? Str(root, "current-context") : context_name;
    if (context.empty()) throw KubeConfigError(source + ": no current-context");
    YAML::Node ctx = FindNamed(root["contexts"], context, "context").value_or(YAML::Node());
    if (!ctx.IsMap()) {
      throw KubeConfigError(source + ": context \"" + context + "\" not found");
    }
    std::string cluster_name = Str(ctx, "cluster");
    YAML::Node cluster =
        FindNamed(root["clusters"], cluster_name, "cluster").value_or(YAML::Node());
    if (!cluster.IsMap()) {
      throw KubeConfigError(source + ": cluster \"" + cluster_name + "\" of context \"" + context +
                            "\" not found");
    }
    config.namespace_ = Str(ctx, "namespace");
    std::string server = Str(cluster, "server");
    if (server.empty()) {
      throw KubeConfigError(source + ": cluster \"" + cluster_name + "\" has no server");
    }
    ParseServerUrl(server, config);
    config.tls_server_name = Str(cluster, "tls-server-name");
    if (cluster["insecure-skip-tls-verify"]) {
      config.insecure_skip_tls_verify = cluster["insecure-skip-tls-verify"].as<bool>();
    }
    config.ca_pem = PemFrom(cluster, "certificate-authority", base_dir, source);

    std::string user_name = Str(ctx, "user");
    if (!user_name.empty()) {
      std::optional<YAML::Node> found = FindNamed(root["users"], user_name, "user");
      if (!found) throw KubeConfigError(source + ": user \"" + user_name + "\" not found");
      YAML::Node user = *found;
      if (user.IsMap()) {
        for (const char* unsupported : {"auth-provider", "username", "password"}) {
          if (user[unsupported]) {
            throw KubeConfigError(source + ": user \"" + user_name + "\": " + unsupported +
                                  " authentication is not supported (use a token, a token file, "
                                  "a client certificate or an exec plugin)");
          }
        }
        if (user["exec"]) {
          config.exec = ParseExec(user["exec"], base_dir, source + ": user \"" + user_name + "\"");
        }
        config.client_cert_pem = PemFrom(user, "client-certificate", base_dir, source);
        config.client_key_pem = PemFrom(user, "client-key", base_dir, source);
        if (config.client_cert_pem.empty() != config.client_key_pem.empty()) {
          throw KubeConfigError(source + ": user \"" + user_name +
                                "\" needs both a client certificate and a client key");
        }
        config.token = Str(user, "token");
        std::string token_file = Str(user, "tokenFile");
        if (!token_file.empty()) {
          config.token_file = Resolve(base_dir, token_file);
          ReadOrThrow(config.token_file, source + ": tokenFile");
        }
      }
    }
  } catch (const YAML::Exception& e) {
    throw KubeConfigError(source + ":" + std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
  return config;
}

ClusterConfig LoadKubeconfig(const std::string& path, const std::string& context) {
  std::string text = ReadOrThrow(path, "kubeconfig");
  std::string base_dir = std::filesystem::path(path).parent_path().string();
  return ParseKubeconfig(text, base_dir, path, context);
}

ClusterConfig ResolveClusterConfig(const std::string& kubeconfig_flag, const EnvLookup& env) {
  if (!kubeconfig_flag.empty()) return LoadKubeconfig(kubeconfig_flag);
  if (auto host = env("KUBERNETES_SERVICE_HOST"); host && !host->empty()) {
    return InClusterConfig(env, std::string(kServiceAccountDir));
  }
  if (auto kubeconfig = env("KUBECONFIG"); kubeconfig && !kubeconfig->empty()) {
    return LoadKubeconfig(kubeconfig->substr(0, kubeconfig->find(':')));
  }
  throw KubeConfigError(
      "no cluster configuration: pass --kubeconfig, run in a pod, or set KUBECONFIG");
}

}  // namespace stratum_guard::kube
