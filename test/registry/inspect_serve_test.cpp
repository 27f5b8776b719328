// `stratum-guard serve --inspect-images` and `serve --sweep --inspect-images`: the real binary
// against a real registry (Debian's docker-registry, images pushed with skopeo), a scripted one
// that answers only when the test lets it, and the fake API server for pull Secrets and pods.
// The webhook judges what the image's config says within its deadline and never turns a
// registry failure into a denial; the sweeper does the same without a caller waiting.
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <future>
#include <string>
#include <vector>

#include "common/base64.h"
#include "common/files.h"
#include "test/fake_apiserver/fake_apiserver.h"
#include "test/registry/registry_fixture.h"
#include "test/registry/scripted_registry.h"
#include "test/server/review_fixtures.h"
#include "test/testing/eventually.h"
#include "test/testing/prometheus_text.h"
#include "test/testing/tls_client.h"

namespace stratum_guard::registry {
namespace {

namespace http = boost::beast::http;
using fake_apiserver::FakeApiServer;
using test::Config;
using test::kTester;
using test::OciLayout;
using test::Registry;
using test::SlowRegistry;
using testing::ChildProcess;
using testing::Eventually;
using testing::Pki;
using testing::TempDir;

// A running `stratum-guard serve` with image inspection on.
class Served {
 public:
  Served(TempDir& dir, std::vector<std::string> extra) {
    std::vector<std::string> args = {"serve",         "--listen",
                                     "127.0.0.1:0",   "--metrics-listen",
                                     "127.0.0.1:0",   "--dev-cert-dir",
                                     dir.File("dev"), "--inspect-images",
                                     "--registry-ca", dir.Write("registry-ca.pem", Pki().ca_pem)};
    args.insert(args.end(), extra.begin(), extra.end());
    process_ = std::make_unique<ChildProcess>(STRATUM_GUARD_BINARY, args);
    port_ = process_->WaitForListening("webhook");
    metrics_port_ = process_->WaitForListening("metrics");
    if (auto ca = common::ReadFile(dir.File("dev/ca.pem"), nullptr)) tls_.ca_pem = *ca;
  }
  bool started() const { return port_ != 0 && metrics_port_ != 0; }

  // The review's answer: "allowed", "denied" (with the message in `message`), or the status.
  std::string Judge(const std::string& review, std::string* message = nullptr) const {
    testing::Response r = testing::TlsRequest(port_, tls_, http::verb::post, "/validate", review);
    if (r.result_int() != 200) return "status " + std::to_string(r.result_int());
    rapidjson::Document doc;
    doc.Parse(r.body().c_str());
    const rapidjson::Value& response = doc["response"];
    if (response["allowed"].GetBool()) return "allowed";
    if (message != nullptr) *message = response["status"]["message"].GetString();
    return "denied";
  }

  double Inspections(const std::string& source, const std::string& outcome) const {
    std::string error;
    auto e =
        testing::ParsePrometheusText(testing::PlainGet(metrics_port_, "/metrics").body(), &error);
    EXPECT_TRUE(e) << error;
    return e ? e->Value("stratum_guard_image_inspections_total",
                        {{"source", source}, {"outcome", outcome}})
             : -1;
  }

  int Stop() {
    process_->Signal(SIGTERM);
    return process_->WaitExit(std::chrono::seconds(30)).value_or(-1);
  }
  ChildProcess& process() { return *process_; }

 private:
  std::unique_ptr<ChildProcess> process_;
  unsigned short port_ = 0;
  unsigned short metrics_port_ = 0;
  testing::ClientTls tls_;
};

std::string Review(const std::string& image, const std::string& extra_spec = "",
                   const std::string& command = "", const std::string& namespace_ = "team") {
  std::string container = R"({"name":"app","image":")" + image + "\"";
  if (!command.empty()) container += R"(,"command":)" + command;
  container += "}";
  server::fixtures::ReviewSpec spec;
  spec.namespace_ = namespace_;
  spec.object = R"({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web",)"
                R"("namespace":")" +
                namespace_ + R"("},"spec":{"template":{"metadata":{},"spec":{"containers":[)" +
                container + "]" + extra_spec + "}}}}";
  return server::fixtures::Review(spec);
}

// Images whose pod specs say nothing: the miner is in the config alone.
class InspectServeTest : public ::testing::Test {
 protected:
  void SetUp() override { test::PushMinerAndWeb(registry_, dir_, "team/tools"); }

  std::string Image(const std::string& repo) const { return registry_.host() + "/" + repo; }

  TempDir dir_;
  Registry registry_{false};
};

TEST_F(InspectServeTest, TheImagesConfigIsJudgedByTheKubeletsRules) {
  Served served(dir_, {});
  ASSERT_TRUE(served.started());
  std::string message;
  EXPECT_EQ(served.Judge(Review(Image("team/tools:v1")), &message), "denied");
  // The name says nothing: the config does.
  EXPECT_NE(message.find("image config Entrypoint[0]"), std::string::npos) << message;
  EXPECT_NE(message.find("stratum-url"), std::string::npos) << message;  // the Cmd's pool
  EXPECT_EQ(served.Judge(Review(Image("team/web:v1"))), "allowed");
  // `command` replaces the Entrypoint, and with no args the image's Cmd does not run either.
  EXPECT_EQ(served.Judge(Review(Image("team/tools:v1"), "", R"(["/bin/sleep","3600"])")),
            "allowed");
  EXPECT_EQ(served.Inspections("admission", "fetched"), 2);
  EXPECT_EQ(served.Inspections("admission", "hit"), 1);
  // Again: from the cache.
  EXPECT_EQ(served.Judge(Review(Image("team/tools:v1"))), "denied");
  EXPECT_EQ(served.Inspections("admission", "hit"), 2);
  EXPECT_EQ(served.Inspections("admission", "error"), 0);
  EXPECT_EQ(served.Stop(), 0);
}

TEST_F(InspectServeTest, AnUnreachableOrUnknownImageIsAllowedAndCounted) {
  Served served(dir_, {});
  ASSERT_TRUE(served.started());
  EXPECT_EQ(served.Judge(Review("127.0.0.1:1/gone/tools:v1")), "allowed");
  EXPECT_EQ(served.Judge(Review(Image("team/no-such-image:v1"))), "allowed");
  EXPECT_EQ(served.Inspections("admission", "error"), 2);
  // The pod spec is still judged.
  EXPECT_EQ(served.Judge(Review("127.0.0.1:1/gone/tools:v1", "",
                                R"(["xmrig","-o","stratum+tcp://pool.example:3333"])")),
            "denied");
  EXPECT_TRUE(served.process().WaitForLine(
      [](const std::string& l) {
        return l.find("image not inspected") != std::string::npos &&
               l.find("127.0.0.1:1/gone/tools:v1") != std::string::npos;
      },
      std::chrono::seconds(5)));
  EXPECT_EQ(served.Stop(), 0);
}

TEST_F(InspectServeTest, PastTheDeadlineTheReviewIsAllowedThenTheCacheCatchesIt) {
  test::Image image("POOL=stratum+tcp://pool.example:3333");
  SlowRegistry slow(image);
  Served served(dir_, {"--image-deadline", "300ms"});
  ASSERT_TRUE(served.started());
  std::string miner = slow.host() + "/slow/tools:v1";
  EXPECT_EQ(served.Judge(Review(miner)), "allowed");
  EXPECT_EQ(served.Inspections("admission", "deadline"), 1);
  slow.Release();
  // The fetch went on after the review was answered: a later review finds the config.
  EXPECT_TRUE(Eventually([&] { return served.Judge(Review(miner)) == "denied"; }));
  EXPECT_GE(served.Inspections("admission", "hit"), 1);
  EXPECT_EQ(slow.requests(), 2);  // one manifest, one config: fetched once
  EXPECT_EQ(served.Stop(), 0);
}

TEST_F(InspectServeTest, AReviewWaitingOnARegistryHoldsUpNoOtherReview) {
  test::Image image("POOL=stratum+tcp://pool.example:3333");
  SlowRegistry slow(image);
  // One loop: a wait on the loop would hold every other connection.
  Served served(dir_, {"--workers", "1", "--image-deadline", "20s"});
  ASSERT_TRUE(served.started());
  auto waiting = std::async(std::launch::async,
                            [&] { return served.Judge(Review(slow.host() + "/slow/tools:v1")); });
  ASSERT_TRUE(Eventually([&] { return slow.requests() >= 1; }));
  EXPECT_EQ(served.Judge(Review(Image("team/web:v1"))), "allowed");
  std::string message;
  EXPECT_EQ(served.Judge(Review(Image("team/tools:v1")), &message), "denied");
  EXPECT_EQ(waiting.wait_for(std::chrono::seconds(0)), std::future_status::timeout)
      << "the slow review was answered before its registry was";
  slow.Release();
  EXPECT_EQ(waiting.get(), "denied");  // fetched within its deadline
  EXPECT_EQ(served.Inspections("admission", "fetched"), 3);
  EXPECT_EQ(served.Inspections("admission", "deadline"), 0);
  EXPECT_EQ(served.Stop(), 0);
}

std::string DockerConfigSecret(const std::string& ns, const std::string& name,
                               const std::string& host) {
  std::string config = R"({"auths":{")" + host + R"(":{"auth":")" +
                       common::EncodeBase64(kTester.username + ":" + kTester.password) + R"("}}})";
  return R"({"apiVersion":"v1","kind":"Secret","metadata":{"name":")" + name +
         R"(","namespace":")" + ns +
         R"("},"type":"kubernetes.io/dockerconfigjson","data":{".dockerconfigjson":")" +
         common::EncodeBase64(config) + R"("}})";
}

TEST_F(InspectServeTest, APodsImagePullSecretIsReadThroughTheApi) {
  Registry private_registry(true);
  test::PushPrivateMiner(private_registry, dir_, "private/tools");
  FakeApiServer api;
  api.Start();
  api.PutSecret("team", DockerConfigSecret("team", "regcred", private_registry.host()));
  std::string kubeconfig = fake_apiserver::WriteKubeconfig(api, dir_.path());
  Served served(dir_, {"--kubeconfig", kubeconfig});
  ASSERT_TRUE(served.started());
  std::string image = private_registry.host() + "/private/tools:v1";
  // Without the Secret the registry refuses: allowed, and counted.
  EXPECT_EQ(served.Judge(Review(image, "", "", "other")), "allowed");
  EXPECT_EQ(served.Inspections("admission", "error"), 1);
  // The pod's own pull Secrets, in order: one that does not exist, then the right one. An
  // auth failure is not remembered, so this review fetches again, with credentials.
  std::string message;
  EXPECT_EQ(
      served.Judge(Review(image, R"(,"imagePullSecrets":[{"name":"absent"},{"name":"regcred"}])"),
                   &message),
      "denied");
  EXPECT_NE(message.find("image config"), std::string::npos) << message;
  EXPECT_EQ(served.Inspections("admission", "fetched"), 1);
  EXPECT_TRUE(served.process().WaitForLine(
      [](const std::string& l) {
        return l.find("image pull secret not usable") != std::string::npos &&
               l.find("absent") != std::string::npos;
      },
      std::chrono::seconds(5)));
  EXPECT_EQ(served.Stop(), 0);
}

fake_apiserver::PodTemplate Pod(const std::string& name, const std::string& image) {
  fake_apiserver::PodTemplate pod;
  pod.namespace_ = "team";
  pod.name = name;
  pod.image = image;  // no command, args or env: what runs is the image's
  return pod;
}

TEST_F(InspectServeTest, TheSweeperJudgesTheImagesOfRunningPodsAndCountsWhatItCouldNotRead) {
  FakeApiServer api;
  api.Start();
  api.AddPod(fake_apiserver::MakePodJson(Pod("quiet-miner", Image("team/tools:v1"))));
  api.AddPod(fake_apiserver::MakePodJson(Pod("web", Image("team/web:v1"))));
  api.AddPod(fake_apiserver::MakePodJson(Pod("unreadable", "127.0.0.1:1/gone/app:v1")));
  std::string kubeconfig = fake_apiserver::WriteKubeconfig(api, dir_.path());
  Served served(dir_, {"--sweep", "--kubeconfig", kubeconfig, "--leader-elect=false"});
  ASSERT_TRUE(served.started());
  ASSERT_TRUE(Eventually([&] { return !api.HasPod("team", "quiet-miner"); }));
  EXPECT_TRUE(Eventually([&] {
    return served.Inspections("sweeper", "error") == 1 &&
           served.Inspections("sweeper", "fetched") == 2;
  })) << "error "
      << served.Inspections("sweeper", "error") << ", fetched "
      << served.Inspections("sweeper", "fetched");
  EXPECT_TRUE(api.HasPod("team", "web"));
  EXPECT_TRUE(api.HasPod("team", "unreadable"));
  ASSERT_EQ(api.deletes().size(), 1u);
  // The webhook shares the sweeper's cache: the miner's config is a hit for a review.
  EXPECT_EQ(served.Judge(Review(Image("team/tools:v1"))), "denied");
  EXPECT_EQ(served.Inspections("admission", "hit"), 1);
  EXPECT_EQ(served.Stop(), 0);
}

TEST(InspectServeFlagsTest, BadRegistryFlagsStopServeAndSweepWithAUsageError) {
  TempDir dir;
  for (std::string command : {"serve", "sweep"}) {
    std::vector<std::string> args = {command, "--inspect-images", "--registry-mirror", "docker.io"};
    if (command == "serve") {
      args.insert(args.end(), {"--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0",
                               "--dev-cert-dir", dir.File("dev")});
    }
    ChildProcess process(STRATUM_GUARD_BINARY, args);
    EXPECT_EQ(process.WaitExit(std::chrono::seconds(30)), 2) << command;
    std::string output;
    for (const std::string& line : process.Lines()) output += line + "\n";
    EXPECT_NE(output.find("expected REGISTRY=HOST[:PORT]"), std::string::npos) << output;
  }
  ChildProcess zero(STRATUM_GUARD_BINARY, {"serve", "--image-deadline", "0s"});
  EXPECT_EQ(zero.WaitExit(std::chrono::seconds(30)), 2);
}

}  // namespace
}  // namespace stratum_guard::registry
