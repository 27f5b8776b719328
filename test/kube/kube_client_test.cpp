// The real client against the fake HTTPS API server: TLS, authentication, pagination, watch,
// deletes with preconditions, Status decoding, leases, events, keep-alive and restarts.
#include "kube/kube_client.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "test/fake_apiserver/fake_apiserver.h"
#include "test/testing/eventually.h"

namespace stratum_guard::kube {
namespace {

using fake_apiserver::BenignPod;
using fake_apiserver::FakeApiServer;
using fake_apiserver::KubeconfigForm;
using fake_apiserver::MakePodJson;
using fake_apiserver::WriteKubeconfig;
using fake_apiserver::WriteScript;
using testing::Eventually;

std::string TempDir(const std::string& tag) {
  auto dir = std::filesystem::temp_directory_path() /
             ("sg-client-" + std::to_string(::getpid()) + "-" + tag);
  std::filesystem::create_directories(dir);
  return dir.string();
}

class KubeClientTest : public ::testing::Test {
 protected:
  KubeClientTest() : server_(ServerOptions()) {}
  static FakeApiServer::Options ServerOptions() {
    FakeApiServer::Options o;
    o.bookmark_interval = std::chrono::milliseconds(200);
    return o;
  }
  void SetUp() override {
    server_.Start();
    dir_ = TempDir(::testing::UnitTest::GetInstance()->current_test_info()->name());
  }
  void TearDown() override {
    server_.Stop();
    std::filesystem::remove_all(dir_);
  }
  ClusterConfig Config(const KubeconfigForm& form = {}) {
    return LoadKubeconfig(WriteKubeconfig(server_, dir_, form));
  }
  std::string AddPod(const std::string& ns, const std::string& name) {
    return server_.AddPod(MakePodJson(BenignPod(ns, name)));
  }
  KubeError List(KubeClient& client, std::vector<std::string>* names = nullptr) {
    ListPage page;
    return client.ListPods(
        "", 0,
        [&](const rapidjson::Value& pod) {
          if (names) names->emplace_back(MetadataString(pod, "name"));
        },
        &page);
  }

  FakeApiServer server_;
  std::string dir_;
};

TEST_F(KubeClientTest, ListsPageByPage) {
  for (int i = 0; i < 25; ++i) AddPod("ns-" + std::to_string(i % 4), "pod-" + std::to_string(i));
  KubeClient client(Config());
  std::vector<std::string> names;
  std::string token;
  std::string rv;
  int pages = 0;
  do {
    ListPage page;
    KubeError e = client.ListPods(
        token, 10,
        [&](const rapidjson::Value& pod) { names.emplace_back(MetadataString(pod, "name")); },
        &page);
    ASSERT_TRUE(e.ok()) << e.ToString();
    if (rv.empty()) rv = page.resource_version;
    EXPECT_EQ(page.resource_version, rv);  // one consistent list
    token = page.continue_token;
    ++pages;
  } while (!token.empty());
  EXPECT_EQ(pages, 3);
  EXPECT_EQ(names.size(), 25u);
  EXPECT_LE(client.max_pods_held(), 10u);
  EXPECT_EQ(client.connections_opened(), 1u);  // keep-alive
}

TEST_F(KubeClientTest, ExpiredContinueTokenIs410Expired) {
  for (int i = 0; i < 5; ++i) AddPod("a", "p" + std::to_string(i));
  KubeClient client(Config());
  ListPage page;
  ASSERT_TRUE(client
                  .ListPods(
                      "", 2, [](const rapidjson::Value&) {}, &page)
                  .ok());
  server_.ExpireContinueTokens();
  ListPage next;
  KubeError e = client.ListPods(
      page.continue_token, 2, [](const rapidjson::Value&) {}, &next);
  EXPECT_TRUE(e.IsGone());
  EXPECT_EQ(e.reason, "Expired");
  EXPECT_NE(e.message.find("continue parameter is too old"), std::string::npos);
}

TEST_F(KubeClientTest, MissingOrWrongTokenIs401) {
  ClusterConfig config = Config();
  config.token.clear();
  KubeClient anonymous(config);
  KubeError e = List(anonymous);
  EXPECT_TRUE(e.IsUnauthorized()) << e.ToString();
  EXPECT_EQ(e.reason, "Unauthorized");
  config.token = "wrong";
  KubeClient wrong(config);
  EXPECT_TRUE(List(wrong).IsUnauthorized());
  EXPECT_EQ(server_.unauthorized(), 2u);
}

TEST_F(KubeClientTest, RotatedTokenFileIsReadAgain) {
  KubeconfigForm form;
  form.auth = KubeconfigForm::Auth::kTokenFile;
  KubeClient client(Config(form));
  ASSERT_TRUE(List(client).ok());
  server_.SetToken("rotated-token");
  EXPECT_TRUE(List(client).IsUnauthorized());
  std::ofstream(dir_ + "/token") << "rotated-token\n";
  EXPECT_TRUE(List(client).ok());
}

TEST_F(KubeClientTest, ClientCertificateInlineAndFiles) {
  for (bool inline_data : {true, false}) {
    KubeconfigForm form;
    form.auth = KubeconfigForm::Auth::kClientCert;
    form.inline_data = inline_data;
    KubeClient client(Config(form));
    KubeError e = List(client);
    EXPECT_TRUE(e.ok()) << "inline=" << inline_data << ": " << e.ToString();
  }
}

TEST_F(KubeClientTest, CaFileForm) {
  KubeconfigForm form;
  form.inline_data = false;
  KubeClient client(Config(form));
  EXPECT_TRUE(List(client).ok());
}

TEST_F(KubeClientTest, VerifiesTheServerCertificate) {
  FakeApiServer other;  // another CA
  ClusterConfig config = Config();
  config.ca_pem = other.ca_pem();
  KubeClient untrusted(config);
  KubeError e = List(untrusted);
  EXPECT_EQ(e.kind, KubeError::Kind::kTransport);
  EXPECT_NE(e.message.find("tls handshake"), std::string::npos) << e.message;

  config.insecure_skip_tls_verify = true;
  KubeClient insecure(config);
  EXPECT_TRUE(List(insecure).ok());

  ClusterConfig wrong_name = Config();
  wrong_name.tls_server_name = "not-the-server.example";
  KubeClient mismatch(wrong_name);
  EXPECT_EQ(List(mismatch).kind, KubeError::Kind::kTransport);

  ClusterConfig by_name = Config();
  by_name.host = "localhost";  // in the certificate's SANs; SNI is sent for names
  KubeClient named(by_name);
  EXPECT_TRUE(List(named).ok());
}

TEST_F(KubeClientTest, BadPemIsAConfigError) {
  ClusterConfig config = Config();
  config.ca_pem = "not a certificate";
  EXPECT_THROW(KubeClient{config}, KubeConfigError);
  ClusterConfig key = Config();
  key.client_cert_pem = server_.client_cert_pem();
  key.client_key_pem = "garbage";
  EXPECT_THROW(KubeClient{key}, KubeConfigError);
}

TEST_F(KubeClientTest, DeleteWithUidPrecondition) {
  std::string uid = AddPod("apps", "victim");
  KubeClient client(Config());
  KubeError conflict = client.DeletePod("apps", "victim", "some-other-uid", 5);
  EXPECT_TRUE(conflict.IsConflict()) << conflict.ToString();
  EXPECT_NE(conflict.message.find("Precondition failed: UID in precondition"), std::string::npos);
  EXPECT_TRUE(server_.HasPod("apps", "victim"));
  EXPECT_TRUE(client.DeletePod("apps", "victim", uid, 5).ok());
  EXPECT_FALSE(server_.HasPod("apps", "victim"));
  KubeError gone = client.DeletePod("apps", "victim", uid, 5);
  EXPECT_TRUE(gone.IsNotFound());
  EXPECT_EQ(gone.message, "pods \"victim\" not found");
  auto deletes = server_.deletes();
  ASSERT_EQ(deletes.size(), 3u);
  EXPECT_EQ(deletes[1].precondition_uid, uid);
  EXPECT_EQ(deletes[1].grace_period_seconds, 5);
  EXPECT_EQ(deletes[1].status, 200);
}

TEST_F(KubeClientTest, ThrottlingCarriesRetryAfter) {
  std::string uid = AddPod("apps", "p");
  FakeApiServer::Fault fault;
  fault.method = "DELETE";
  fault.retry_after_seconds = 3;
  server_.InjectFault(fault);
  KubeClient client(Config());
  KubeError e = client.DeletePod("apps", "p", uid, 0);
  EXPECT_EQ(e.code, 429);
  EXPECT_TRUE(e.IsRetriable());
  ASSERT_TRUE(e.retry_after);
  EXPECT_EQ(e.retry_after->count(), 3);
  EXPECT_TRUE(client.DeletePod("apps", "p", uid, 0).ok());
}

TEST_F(KubeClientTest, GetPodAndNotFound) {
  std::string uid = AddPod("apps", "p");
  KubeClient client(Config());
  std::string got;
  EXPECT_TRUE(client
                  .GetPod("apps", "p",
                          [&](const rapidjson::Value& pod) { got = MetadataString(pod, "uid"); })
                  .ok());
  EXPECT_EQ(got, uid);
  EXPECT_TRUE(client.GetPod("apps", "nope", [](const rapidjson::Value&) {}).IsNotFound());
}

TEST_F(KubeClientTest, LeasesUseOptimisticConcurrency) {
  KubeClient client(Config());
  Lease lease;
  lease.namespace_ = "sg";
  lease.name = "l";
  lease.holder_identity = "a";
  lease.lease_duration_seconds = 15;
  Lease out;
  EXPECT_TRUE(client.GetLease("sg", "l", &out).IsNotFound());
  ASSERT_TRUE(client.CreateLease(lease, &out).ok());
  EXPECT_FALSE(out.resource_version.empty());
  KubeError exists = client.CreateLease(lease, &out);
  EXPECT_EQ(exists.code, 409);
  EXPECT_EQ(exists.reason, "AlreadyExists");
  Lease current;
  ASSERT_TRUE(client.GetLease("sg", "l", &current).ok());
  EXPECT_EQ(current.holder_identity, "a");
  Lease update = current;
  update.holder_identity = "b";
  Lease stored;
  ASSERT_TRUE(client.UpdateLease(update, &stored).ok());
  EXPECT_NE(stored.resource_version, current.resource_version);
  KubeError stale = client.UpdateLease(update, &stored);  // the old resourceVersion again
  EXPECT_TRUE(stale.IsConflict());
  EXPECT_NE(stale.message.find("the object has been modified"), std::string::npos);
  update.resource_version.clear();
  EXPECT_EQ(client.UpdateLease(update, &stored).code, 422);
}

std::string PolicyReport(const std::string& ns, const std::string& rv = {},
                         const std::string& severity = "high") {
  return R"({"apiVersion":"wgpolicyk8s.io/v1alpha2","kind":"PolicyReport","metadata":{"name":"r",)"
         R"("namespace":")" +
         ns + R"(",)" + (rv.empty() ? "" : R"("resourceVersion":")" + rv + R"(",)") +
         R"("labels":{"app.kubernetes.io/managed-by":"stratum-guard"}},)"
         R"("results":[{"policy":"p","result":"fail","severity":")" +
         severity + R"("}]})";
}

TEST_F(KubeClientTest, PolicyReportsFollowTheApiSemantics) {
  KubeClient client(Config());
  std::string rv;
  auto keep_rv = [&](const rapidjson::Value& report) {
    rv = std::string(MetadataString(report, "resourceVersion"));
  };
  EXPECT_TRUE(client.GetPolicyReport("apps", "r", keep_rv).IsNotFound());
  ASSERT_TRUE(client.CreatePolicyReport("apps", PolicyReport("apps"), keep_rv).ok());
  ASSERT_FALSE(rv.empty());
  KubeError exists = client.CreatePolicyReport("apps", PolicyReport("apps"), keep_rv);
  EXPECT_TRUE(exists.IsConflict());
  EXPECT_EQ(exists.reason, "AlreadyExists");

  std::string first_rv = rv;
  ASSERT_TRUE(client.UpdatePolicyReport("apps", "r", PolicyReport("apps", rv), keep_rv).ok());
  EXPECT_NE(rv, first_rv);
  KubeError stale = client.UpdatePolicyReport("apps", "r", PolicyReport("apps", first_rv), keep_rv);
  EXPECT_TRUE(stale.IsConflict());
  EXPECT_EQ(stale.reason, "Conflict");
  EXPECT_EQ(client.UpdatePolicyReport("apps", "r", PolicyReport("apps"), keep_rv).code, 422);
  EXPECT_TRUE(
      client.UpdatePolicyReport("batch", "r", PolicyReport("batch", rv), keep_rv).IsNotFound());
  // The CRD's enums: a severity it does not know is refused.
  EXPECT_EQ(client.CreatePolicyReport("other", PolicyReport("other", "", "dreadful"), keep_rv).code,
            422);
  // A body for another namespace than the URL's.
  EXPECT_EQ(client.CreatePolicyReport("other", PolicyReport("apps"), keep_rv).code, 400);

  ASSERT_TRUE(client.CreatePolicyReport("batch", PolicyReport("batch"), keep_rv).ok());
  std::vector<std::string> listed;
  auto names = [&](const rapidjson::Value& report) {
    listed.push_back(std::string(MetadataString(report, "namespace")));
  };
  ASSERT_TRUE(client.ListPolicyReports("app.kubernetes.io/managed-by=stratum-guard", names).ok());
  EXPECT_EQ(listed, (std::vector<std::string>{"apps", "batch"}));
  listed.clear();
  ASSERT_TRUE(client.ListPolicyReports("app.kubernetes.io/managed-by=kyverno", names).ok());
  EXPECT_TRUE(listed.empty());

  ASSERT_TRUE(client.DeletePolicyReport("apps", "r").ok());
  EXPECT_TRUE(client.DeletePolicyReport("apps", "r").IsNotFound());
  EXPECT_EQ(server_.policy_report_count(), 1u);
}

TEST_F(KubeClientTest, PolicyReportsWithoutTheCrdAre404ForTheWholeGroup) {
  server_.SetPolicyReportsInstalled(false);
  KubeClient client(Config());
  auto ignore = [](const rapidjson::Value&) {};
  EXPECT_TRUE(client.ListPolicyReports("", ignore).IsNotFound());
  EXPECT_TRUE(client.CreatePolicyReport("apps", PolicyReport("apps"), ignore).IsNotFound());
  EXPECT_TRUE(client.GetPolicyReport("apps", "r", ignore).IsNotFound());
  EXPECT_TRUE(client.DeletePolicyReport("apps", "r").IsNotFound());
  EXPECT_EQ(server_.policy_report_count(), 0u);
}

TEST_F(KubeClientTest, CreatesEvents) {
  KubeClient client(Config());
  EXPECT_TRUE(client
                  .CreateEvent("apps", R"({"apiVersion":"v1","kind":"Event","metadata":{"name":)"
                                       R"("p.1","namespace":"apps"},"reason":"R","type":"Warning",)"
                                       R"("involvedObject":{"kind":"Pod","name":"p","uid":"u"}})")
                  .ok());
  auto events = server_.events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].reason, "R");
  EXPECT_EQ(events[0].involved_uid, "u");
  KubeError mismatch =
      client.CreateEvent("other", R"({"metadata":{"name":"x","namespace":"apps"}})");
  EXPECT_EQ(mismatch.code, 400);
}

TEST_F(KubeClientTest, WatchStreamsEventsAndBookmarks) {
  AddPod("apps", "before");
  KubeClient client(Config());
  ListPage page;
  ASSERT_TRUE(client
                  .ListPods(
                      "", 0, [](const rapidjson::Value&) {}, &page)
                  .ok());
  std::vector<std::string> changes;
  int bookmarks = 0;
  // The changes come once the watch is open, so they arrive as a stream, not as its start.
  std::thread producer([&] {
    EXPECT_TRUE(Eventually([&] { return server_.watch_requests() == 1; }));
    AddPod("apps", "during");
    server_.RemovePod("apps", "before");
  });
  KubeError e = client.WatchPods(
      page.resource_version, 30,
      [&](WatchEventType type, const rapidjson::Value& object) {
        if (type == WatchEventType::kBookmark) {
          EXPECT_FALSE(MetadataString(object, "resourceVersion").empty());
          ++bookmarks;
        } else {
          changes.push_back(std::string(WatchEventTypeName(type)) + " " +
                            std::string(MetadataString(object, "name")));
        }
        return !(changes.size() >= 2 && bookmarks >= 1);
      },
      nullptr);
  producer.join();
  ASSERT_TRUE(e.ok()) << e.ToString();
  ASSERT_EQ(changes.size(), 2u);
  EXPECT_EQ(changes[0], "ADDED during");
  EXPECT_EQ(changes[1], "DELETED before");
  EXPECT_GE(bookmarks, 1);
}

TEST_F(KubeClientTest, WatchFromACompactedVersionGets410) {
  KubeClient client(Config());
  std::string old_rv = std::to_string(server_.resource_version());
  AddPod("apps", "p");
  server_.Compact();
  int code = 0;
  KubeError e = client.WatchPods(
      old_rv, 30,
      [&](WatchEventType type, const rapidjson::Value& object) {
        if (type == WatchEventType::kError) code = object["code"].GetInt();
        return false;
      },
      nullptr);
  EXPECT_TRUE(e.ok());
  EXPECT_EQ(code, 410);
  server_.SetWatchGoneAsHttpStatus(true);
  KubeError http = client.WatchPods(
      old_rv, 30, [](WatchEventType, const rapidjson::Value&) { return true; }, nullptr);
  EXPECT_TRUE(http.IsGone()) << http.ToString();
  EXPECT_EQ(http.reason, "Expired");
}

TEST_F(KubeClientTest, WatchEndsAtTimeoutAndOnCancel) {
  KubeClient client(Config());
  std::string rv = std::to_string(server_.resource_version());
  auto ignore = [](WatchEventType, const rapidjson::Value&) { return true; };
  EXPECT_TRUE(client.WatchPods(rv, 1, ignore, nullptr).ok());  // server-side timeoutSeconds
  // Cancelled once the server holds the second watch open: it would last ten minutes.
  KubeError e = client.WatchPods(rv, 600, ignore, [&] { return server_.watch_requests() == 2; });
  EXPECT_EQ(e.kind, KubeError::Kind::kCancelled);
}

TEST_F(KubeClientTest, ServerRestartBreaksTheWatchAndPooledConnectionsRecover) {
  KubeClient client(Config());
  ASSERT_TRUE(List(client).ok());
  std::thread restarter([&] {
    EXPECT_TRUE(Eventually([&] { return server_.watch_requests() == 1; }));
    server_.Stop();
  });
  std::string rv = std::to_string(server_.resource_version());
  KubeError e = client.WatchPods(
      rv, 600, [](WatchEventType, const rapidjson::Value&) { return true; }, nullptr);
  restarter.join();
  EXPECT_EQ(e.kind, KubeError::Kind::kTransport) << e.ToString();
  EXPECT_EQ(List(client).kind, KubeError::Kind::kTransport);  // nobody listening
  server_.Start();
  EXPECT_TRUE(List(client).ok());  // same port, new connection
}

TEST_F(KubeClientTest, EveryCallIsCancelledWhenTheClientsStopFires) {
  common::StopSignal stop;
  KubeClient::Options options;
  options.request_timeout = std::chrono::seconds(60);
  options.cancelled = [&stop] { return stop.stopped(); };
  KubeClient client(Config(), options);
  server_.SetStalled(true);
  std::thread stopper([&] {
    if (server_.WaitForStalledRequest(std::chrono::seconds(30))) stop.Stop();
  });
  auto start = std::chrono::steady_clock::now();
  KubeError e = List(client);
  stopper.join();
  EXPECT_EQ(e.kind, KubeError::Kind::kCancelled) << e.ToString();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(30));
  server_.SetStalled(false);
}

// A plugin that counts its runs and prints the token held in the file `token`.
std::string TokenPlugin(const std::string& dir) {
  return WriteScript(dir, "plugin",
                     "n=$(cat " + dir + "/runs 2>/dev/null || echo 0)\n" + "echo $((n + 1)) > " +
                         dir + "/runs\n" +
                         "echo '{\"apiVersion\":\"client.authentication.k8s.io/v1\","
                         "\"kind\":\"ExecCredential\",\"status\":{\"token\":\"'$(cat " +
                         dir + "/token)'\"}}'\n");
}

int Runs(const std::string& dir) {
  std::ifstream in(dir + "/runs");
  int n = 0;
  in >> n;
  return n;
}

TEST_F(KubeClientTest, AnExecPluginsTokenIsReusedUntilA401) {
  std::ofstream(dir_ + "/token") << "test-token";
  KubeconfigForm form;
  form.auth = KubeconfigForm::Auth::kExec;
  form.exec_command = TokenPlugin(dir_);
  KubeClient client(Config(form));
  ASSERT_TRUE(List(client).ok());
  ASSERT_TRUE(List(client).ok());
  EXPECT_EQ(Runs(dir_), 1);
  server_.SetToken("rotated-token");
  EXPECT_TRUE(List(client).IsUnauthorized());
  std::ofstream(dir_ + "/token") << "rotated-token";
  EXPECT_TRUE(List(client).ok());
  EXPECT_EQ(Runs(dir_), 2);
}

TEST_F(KubeClientTest, AnExecPluginsClientCertificateIsUsed) {
  auto escape = [](std::string pem) {
    for (std::size_t at = 0; (at = pem.find('\n', at)) != std::string::npos; at += 2) {
      pem.replace(at, 1, "\\n");
    }
    return pem;
  };
  KubeconfigForm form;
  form.auth = KubeconfigForm::Auth::kExec;
  form.exec_command =
      WriteScript(dir_, "plugin",
                  "cat <<'EOF'\n{\"apiVersion\":\"client.authentication.k8s.io/v1\","
                  "\"kind\":\"ExecCredential\",\"status\":{\"clientCertificateData\":\"" +
                      escape(server_.client_cert_pem()) + "\",\"clientKeyData\":\"" +
                      escape(server_.client_key_pem()) + "\"}}\nEOF\n");
  KubeClient client(Config(form));
  KubeError e = List(client);
  EXPECT_TRUE(e.ok()) << e.ToString();
}

TEST_F(KubeClientTest, AFailingExecPluginFailsTheCall) {
  KubeconfigForm form;
  form.auth = KubeconfigForm::Auth::kExec;
  form.exec_command = WriteScript(dir_, "plugin", "echo 'no session' >&2\nexit 1\n");
  KubeClient client(Config(form));
  KubeError e = List(client);
  EXPECT_EQ(e.kind, KubeError::Kind::kTransport);
  EXPECT_NE(e.message.find("credentials: exec plugin \"" + form.exec_command +
                           "\" failed: exit status 1: stderr: no session"),
            std::string::npos)
      << e.message;
  EXPECT_EQ(server_.requests(""), 0u);
}

}  // namespace
}  // namespace stratum_guard::kube
