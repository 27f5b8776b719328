#include "kube/kube_config.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>

#include "common/base64.h"
#include "test/fake_apiserver/fake_apiserver.h"

namespace stratum_guard::kube {
namespace {

using common::EncodeBase64;

class KubeconfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("sg-kubeconfig-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string Write(const std::string& name, const std::string& text) {
    std::string path = (dir_ / name).string();
    std::ofstream(path) << text;
    return path;
  }
  ClusterConfig Parse(const std::string& yaml) {
    return ParseKubeconfig(yaml, dir_.string(), "test.kubeconfig");
  }
  std::filesystem::path dir_;
};

std::string Config(const std::string& cluster, const std::string& user,
                   const std::string& current = "ctx") {
  return "apiVersion: v1\nkind: Config\ncurrent-context: " + current +
         "\nclusters:\n- name: c\n  cluster:\n" + cluster +
         "contexts:\n- name: ctx\n  context:\n    cluster: c\n    user: u\n    namespace: ns1\n"
         "- name: other\n  context:\n    cluster: c\n    user: u\n"
         "users:\n- name: u\n  user:\n" +
         user;
}

constexpr char kPem[] = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

std::string ErrorOf(const std::function<void()>& f) {
  try {
    f();
  } catch (const KubeConfigError& e) {
    return e.what();
  }
  return "(no error)";
}

TEST_F(KubeconfigTest, TokenAndInlineCa) {
  ClusterConfig c =
      Parse(Config("    server: https://api.example.com:6443/prefix/\n"
                   "    certificate-authority-data: " +
                       EncodeBase64(kPem) + "\n",
                   "    token: abc.def\n"));
  EXPECT_EQ(c.host, "api.example.com");
  EXPECT_EQ(c.port, "6443");
  EXPECT_EQ(c.base_path, "/prefix");
  EXPECT_EQ(c.ca_pem, kPem);
  EXPECT_EQ(c.token, "abc.def");
  EXPECT_EQ(c.namespace_, "ns1");
  EXPECT_FALSE(c.insecure_skip_tls_verify);
}

TEST_F(KubeconfigTest, CaFileRelativeToKubeconfig) {
  Write("ca.crt", kPem);
  ClusterConfig c = Parse(Config(
      "    server: https://10.0.0.1\n    certificate-authority: ca.crt\n", "    token: t\n"));
  EXPECT_EQ(c.ca_pem, kPem);
  EXPECT_EQ(c.host, "10.0.0.1");
  EXPECT_EQ(c.port, "443");
}

TEST_F(KubeconfigTest, ClientCertificateFilesAndData) {
  Write("client.crt", "CERT");
  Write("client.key", "KEY");
  ClusterConfig files = Parse(Config("    server: https://h\n",
                                     "    client-certificate: client.crt\n"
                                     "    client-key: client.key\n"));
  EXPECT_EQ(files.client_cert_pem, "CERT");
  EXPECT_EQ(files.client_key_pem, "KEY");
  ClusterConfig data = Parse(Config("    server: https://h\n",
                                    "    client-certificate-data: " + EncodeBase64("CERT2") +
                                        "\n    client-key-data: " + EncodeBase64("KEY2") + "\n"));
  EXPECT_EQ(data.client_cert_pem, "CERT2");
  EXPECT_EQ(data.client_key_pem, "KEY2");
}

TEST_F(KubeconfigTest, TokenFileInsecureAndTlsServerName) {
  std::string token = Write("token", "tok\n");
  ClusterConfig c =
      Parse(Config("    server: https://[::1]:8443\n"
                   "    insecure-skip-tls-verify: true\n"
                   "    tls-server-name: kubernetes.default\n",
                   "    tokenFile: " + token + "\n"));
  EXPECT_EQ(c.host, "::1");
  EXPECT_EQ(c.port, "8443");
  EXPECT_TRUE(c.insecure_skip_tls_verify);
  EXPECT_EQ(c.tls_server_name, "kubernetes.default");
  EXPECT_EQ(c.token_file, token);
}

TEST_F(KubeconfigTest, ExplicitContextOverridesCurrent) {
  ClusterConfig c = ParseKubeconfig(Config("    server: https://h\n", "    token: t\n"),
                                    dir_.string(), "x", "other");
  EXPECT_EQ(c.namespace_, "");
}

TEST_F(KubeconfigTest, Errors) {
  std::map<std::string, std::string> cases = {
      {"not: [valid", "test.kubeconfig:"},
      {"- a\n- b\n", "expected a mapping"},
      {Config("    server: https://h\n", "    token: t\n", "\"\""), "no current-context"},
      {Config("    server: https://h\n", "    token: t\n", "missing"),
       "context \"missing\" not found"},
      {Config("    certificate-authority-data: " + EncodeBase64(kPem) + "\n", "    token: t\n"),
       "has no server"},
      {Config("    server: http://h\n", "    token: t\n"), "must be an https:// URL"},
      {Config("    server: https://:443\n", "    token: t\n"), "has no host"},
      {Config("    server: https://h:x1\n", "    token: t\n"), "bad port"},
      {Config("    server: https://[::1\n", "    token: t\n"), "unterminated IPv6"},
      {Config("    server: https://h\n    certificate-authority-data: '%%%'\n", "    token: t\n"),
       "certificate-authority-data is not valid base64"},
      {Config("    server: https://h\n    certificate-authority: missing.crt\n", "    token: t\n"),
       "certificate-authority: "},
      {Config("    server: https://h\n",
              "    client-certificate-data: " + EncodeBase64("C") + "\n"),
       "needs both a client certificate and a client key"},
      {Config("    server: https://h\n", "    exec:\n      command: aws\n"),
       "exec apiVersion \"\" is not supported"},
      {Config("    server: https://h\n",
              "    exec:\n      apiVersion: client.authentication.k8s.io/v1alpha1\n"
              "      command: aws\n"),
       "exec apiVersion \"client.authentication.k8s.io/v1alpha1\" is not supported"},
      {Config("    server: https://h\n",
              "    exec:\n      apiVersion: client.authentication.k8s.io/v1\n"),
       "exec has no command"},
      {Config("    server: https://h\n",
              "    exec:\n      apiVersion: client.authentication.k8s.io/v1\n"
              "      command: login\n      interactiveMode: Always\n"),
       "interactiveMode Always needs a terminal"},
      {Config("    server: https://h\n",
              "    exec:\n      apiVersion: client.authentication.k8s.io/v1\n"
              "      command: login\n      env:\n      - value: x\n"),
       "exec env entry without a name"},
      {Config("    server: https://h\n", "    exec: aws\n"), "exec must be a mapping"},
      {Config("    server: https://h\n", "    username: admin\n    password: secret\n"),
       "username authentication is not supported"},
      {Config("    server: https://h\n", "    auth-provider:\n      name: gcp\n"),
       "auth-provider authentication is not supported"},
      {Config("    server: https://h\n", "    tokenFile: /nonexistent/token\n"), "tokenFile"},
      {Config("    server: https://h\n    insecure-skip-tls-verify: maybe\n", "    token: t\n"),
       "test.kubeconfig:"},
  };
  for (const auto& [yaml, expected] : cases) {
    std::string error = ErrorOf([&] { Parse(yaml); });
    EXPECT_NE(error.find(expected), std::string::npos) << "yaml:\n" << yaml << "\ngot: " << error;
  }
  // A context naming a cluster or user that does not exist.
  std::string bad_cluster =
      "current-context: x\ncontexts:\n- name: x\n  context: {cluster: nope, user: u}\n";
  EXPECT_NE(ErrorOf([&] { Parse(bad_cluster); }).find("cluster \"nope\""), std::string::npos);
  std::string bad_user =
      "current-context: x\nclusters:\n- name: c\n  cluster: {server: 'https://h'}\n"
      "contexts:\n- name: x\n  context: {cluster: c, user: nobody}\n";
  EXPECT_NE(ErrorOf([&] { Parse(bad_user); }).find("user \"nobody\" not found"), std::string::npos);
  EXPECT_NE(ErrorOf([&] { LoadKubeconfig((dir_ / "absent").string()); }).find("kubeconfig: "),
            std::string::npos);
}

TEST_F(KubeconfigTest, ExecPlugin) {
  ClusterConfig c = Parse(Config("    server: https://h\n",
                                 "    exec:\n"
                                 "      apiVersion: client.authentication.k8s.io/v1beta1\n"
                                 "      command: ./bin/get-token\n"
                                 "      args: [--cluster, prod]\n"
                                 "      env:\n      - {name: AWS_PROFILE, value: ops}\n"
                                 "      installHint: install get-token from the wiki\n"
                                 "      interactiveMode: IfAvailable\n"));
  ASSERT_TRUE(c.exec);
  EXPECT_EQ(c.exec->api_version, "client.authentication.k8s.io/v1beta1");
  EXPECT_EQ(c.exec->command, "./bin/get-token");
  EXPECT_EQ(c.exec->args, (std::vector<std::string>{"--cluster", "prod"}));
  ASSERT_EQ(c.exec->env.size(), 1u);
  EXPECT_EQ(c.exec->env[0], (std::pair<std::string, std::string>{"AWS_PROFILE", "ops"}));
  EXPECT_EQ(c.exec->install_hint, "install get-token from the wiki");
  EXPECT_EQ(c.exec->base_dir, dir_.string());  // where a relative command is found
}

EnvLookup FakeEnv(std::map<std::string, std::string> vars) {
  return [vars](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

TEST_F(KubeconfigTest, InCluster) {
  Write("ca.crt", kPem);
  Write("token", "sa-token");
  Write("namespace", "stratum-guard");
  ClusterConfig c = InClusterConfig(
      FakeEnv({{"KUBERNETES_SERVICE_HOST", "10.96.0.1"}, {"KUBERNETES_SERVICE_PORT", "443"}}),
      dir_.string());
  EXPECT_EQ(c.host, "10.96.0.1");
  EXPECT_EQ(c.port, "443");
  EXPECT_EQ(c.ca_pem, kPem);
  EXPECT_EQ(c.token_file, (dir_ / "token").string());
  EXPECT_EQ(c.namespace_, "stratum-guard");
  ClusterConfig v6 = InClusterConfig(
      FakeEnv({{"KUBERNETES_SERVICE_HOST", "fd00::1"}, {"KUBERNETES_SERVICE_PORT", "6443"}}),
      dir_.string());
  EXPECT_EQ(v6.host, "fd00::1");
  EXPECT_EQ(v6.port, "6443");
}

TEST_F(KubeconfigTest, InClusterErrors) {
  EXPECT_NE(
      ErrorOf([&] { InClusterConfig(FakeEnv({}), dir_.string()); }).find("KUBERNETES_SERVICE_HOST"),
      std::string::npos);
  auto env = FakeEnv({{"KUBERNETES_SERVICE_HOST", "h"}, {"KUBERNETES_SERVICE_PORT", "443"}});
  EXPECT_NE(ErrorOf([&] { InClusterConfig(env, dir_.string()); }).find("in-cluster CA"),
            std::string::npos);
  Write("ca.crt", kPem);
  EXPECT_NE(ErrorOf([&] { InClusterConfig(env, dir_.string()); }).find("in-cluster token"),
            std::string::npos);
}

TEST_F(KubeconfigTest, ResolveOrder) {
  std::string path = Write("kc", Config("    server: https://from-file\n", "    token: t\n"));
  EXPECT_EQ(ResolveClusterConfig(path, FakeEnv({})).host, "from-file");
  EXPECT_EQ(ResolveClusterConfig("", FakeEnv({{"KUBECONFIG", path + ":/other"}})).host,
            "from-file");
  EXPECT_NE(ErrorOf([&] { ResolveClusterConfig("", FakeEnv({})); }).find("no cluster"),
            std::string::npos);
}

}  // namespace
}  // namespace stratum_guard::kube
