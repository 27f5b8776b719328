#pragma once

#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace stratum_guard::kube {

// A kubeconfig user's `exec` section: the credential plugin kubectl would run (EKS, GKE, AKS
// and OIDC logins ship one).
struct ExecConfig {
  std::string api_version;  // client.authentication.k8s.io/v1 or v1beta1
  std::string command;
  std::vector<std::string> args;
  std::vector<std::pair<std::string, std::string>> env;  // added to the process environment
  std::string install_hint;                              // shown when the command is not found
  std::string base_dir;  // the kubeconfig's directory: "./bin/plugin" is relative to it
};

// How to reach and authenticate to one API server, whatever the source (in-cluster or a
// kubeconfig). PEM material is held in memory; the token may come from a file that is re-read
// on every request (bound service-account tokens rotate).
struct ClusterConfig {
  std::string host;  // DNS name or IP literal (no brackets)
  std::string port = "443";
  std::string base_path;  // path prefix of the server URL, without a trailing '/' (usually "")
  std::string tls_server_name;  // overrides the name verified and sent as SNI when non-empty
  std::string ca_pem;           // trusted CAs; empty means the system's default store
  bool insecure_skip_tls_verify = false;
  std::string client_cert_pem;
  std::string client_key_pem;
  std::string token;               // static bearer token
  std::string token_file;          // bearer token re-read from this file (wins over `token`)
  std::optional<ExecConfig> exec;  // a credential plugin (wins over both)
  std::string namespace_;          // the context's namespace (informational)
  std::string source;              // "in-cluster" or the kubeconfig path, for logs and errors
};

// A configuration that cannot be used. Thrown only while loading, never during a sweep.
class KubeConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

using EnvLookup = std::function<std::optional<std::string>(const std::string& name)>;
EnvLookup ProcessEnv();  // getenv

inline constexpr std::string_view kServiceAccountDir =
    "/var/run/secrets/kubernetes.io/serviceaccount";

// In-cluster: https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT, CA from
// <sa_dir>/ca.crt, token from <sa_dir>/token (kept as token_file so it is re-read).
ClusterConfig InClusterConfig(const EnvLookup& env, const std::string& sa_dir);

// Parses kubeconfig YAML. Paths inside it (certificate-authority, client-certificate,
// client-key, tokenFile) are relative to `base_dir`. `context` empty means current-context.
// Unsupported authentication (auth-provider, basic auth, an exec plugin that needs a terminal)
// is an error rather than a silent anonymous connection.
ClusterConfig ParseKubeconfig(std::string_view yaml_text, const std::string& base_dir,
                              const std::string& source, const std::string& context = {});
ClusterConfig LoadKubeconfig(const std::string& path, const std::string& context = {});

// What `stratum-guard sweep` uses: --kubeconfig when given; else in-cluster when
// KUBERNETES_SERVICE_HOST is set; else $KUBECONFIG (its first path); else an error.
ClusterConfig ResolveClusterConfig(const std::string& kubeconfig_flag, const EnvLookup& env);

// Splits "https://host:port/path" into the config's host, port and base_path.
void ParseServerUrl(std::string_view url, ClusterConfig& config);

}  // namespace stratum_guard::kube
