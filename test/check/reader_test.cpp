#include <gtest/gtest.h>

#include <filesystem>
#include <sstream>

#include "check/manifest_reader.h"
#include "test/check/test_support.h"

namespace stratum_guard::check {
namespace {

using testing::Parse;
using testing::TempDir;

std::string Kind(const ManifestObject& o) { return (*o.object)["kind"].GetString(); }
std::string Name(const ManifestObject& o) { return (*o.object)["metadata"]["name"].GetString(); }

TEST(ReaderTest, MultiDocumentYamlKeepsOrderIndexAndLine) {
  ReadResult r = Parse(
      "apiVersion: v1\nkind: Service\nmetadata: {name: a}\n"
      "---\n"
      "apiVersion: v1\nkind: Pod\nmetadata: {name: b}\n"
      "---\n"
      "# a comment\n"
      "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n");
  ASSERT_TRUE(r.errors.empty());
  ASSERT_EQ(r.objects.size(), 3u);
  EXPECT_EQ(Name(r.objects[0]), "a");
  EXPECT_EQ(Name(r.objects[1]), "b");
  EXPECT_EQ(Name(r.objects[2]), "c");
  EXPECT_EQ(r.objects[0].document, 0);
  EXPECT_EQ(r.objects[1].document, 1);
  EXPECT_EQ(r.objects[2].document, 2);
  EXPECT_EQ(r.objects[0].line, 1);
  EXPECT_EQ(r.objects[1].line, 5);
  EXPECT_EQ(r.objects[2].line, 10);
}

// An empty document must not end the stream: kubectl applies what follows it, so a miner hidden
// behind `---\n---` must still be read.
TEST(ReaderTest, EmptyDocumentsAreSkippedAndDoNotHideLaterOnes) {
  ReadResult r = Parse("kind: Service\n---\n---\n# only a comment\n---\nkind: Pod\n");
  ASSERT_TRUE(r.errors.empty());
  ASSERT_EQ(r.objects.size(), 2u);
  EXPECT_EQ(Kind(r.objects[1]), "Pod");
  EXPECT_EQ(r.objects[1].document, 3);
  EXPECT_EQ(r.objects[1].line, 6);
}

TEST(ReaderTest, ListItemsAreObjectsWithTheirOwnLines) {
  ReadResult r = Parse(
      "apiVersion: v1\n"
      "kind: List\n"
      "items:\n"
      "- kind: Deployment\n"
      "  metadata: {name: first}\n"
      "- kind: List\n"
      "  items:\n"
      "  - kind: Pod\n"
      "    metadata: {name: nested}\n"
      "- kind: Service\n"
      "  metadata: {name: last}\n");
  ASSERT_TRUE(r.errors.empty());
  ASSERT_EQ(r.objects.size(), 3u);
  EXPECT_EQ(Name(r.objects[0]), "first");
  EXPECT_EQ(r.objects[0].item_path, "items[0]");
  EXPECT_EQ(r.objects[0].line, 4);
  EXPECT_EQ(Name(r.objects[1]), "nested");
  EXPECT_EQ(r.objects[1].item_path, "items[1].items[0]");
  EXPECT_EQ(r.objects[1].line, 8);
  EXPECT_EQ(Name(r.objects[2]), "last");
  EXPECT_EQ(r.objects[2].item_path, "items[2]");
}

TEST(ReaderTest, TypedListKindsAreExpandedToo) {
  ReadResult r =
      Parse(R"({"kind":"DeploymentList","items":[{"kind":"Deployment"},{"kind":"Deployment"}]})",
            "list.json");
  ASSERT_TRUE(r.errors.empty());
  ASSERT_EQ(r.objects.size(), 2u);
  EXPECT_EQ(r.objects[1].item_path, "items[1]");
}

TEST(ReaderTest, ListKindWithoutItemsIsAnOrdinaryObject) {
  ReadResult r = Parse("kind: PlaylistList\nspec: {}\n");
  ASSERT_EQ(r.objects.size(), 1u);
  EXPECT_EQ(Kind(r.objects[0]), "PlaylistList");
}

TEST(ReaderTest, JsonFileAndJsonStream) {
  ReadResult r = Parse(
      "{\"kind\": \"Pod\", \"metadata\": {\"name\": \"one\"}}\n"
      "\n"
      "{\"kind\": \"Pod\", \"metadata\": {\"name\": \"two\"}}\n",
      "pods.json");
  ASSERT_TRUE(r.errors.empty());
  ASSERT_EQ(r.objects.size(), 2u);
  EXPECT_EQ(Name(r.objects[0]), "one");
  EXPECT_EQ(Name(r.objects[1]), "two");
  EXPECT_EQ(r.objects[1].document, 1);
  EXPECT_EQ(r.objects[1].line, 3);
  EXPECT_EQ(r.objects[1].lines, nullptr);
  EXPECT_EQ(r.objects[1].LineOf("spec.containers[0].args[0]"), 3);
}

TEST(ReaderTest, YamlFormatForcedOnJsonLookingText) {
  ReadResult r;
  ParseManifest("{kind: Pod}", "x.yaml", Format::kYaml, &r);  // YAML flow, not JSON
  ASSERT_TRUE(r.errors.empty());
  ASSERT_EQ(r.objects.size(), 1u);
  EXPECT_EQ(Kind(r.objects[0]), "Pod");
}

TEST(ReaderTest, YamlParseErrorHasLineAndColumnAndKeepsEarlierDocuments) {
  ReadResult r =
      Parse("kind: Pod\n---\nkind: Service\nmetadata:\n  name: [unclosed\n  x: 1\n", "broken.yaml");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].file, "broken.yaml");
  EXPECT_GE(r.errors[0].line, 5);
  EXPECT_GT(r.errors[0].column, 0);
  EXPECT_NE(r.errors[0].message.find("YAML"), std::string::npos) << r.errors[0].message;
  ASSERT_EQ(r.objects.size(), 1u);
  EXPECT_EQ(Kind(r.objects[0]), "Pod");
}

TEST(ReaderTest, YamlIllegalMapValueLine) {
  ReadResult r = Parse("kind: Pod\nmetadata:\n  name: a: b\n");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].line, 3);
}

TEST(ReaderTest, JsonParseErrorHasLineAndColumn) {
  ReadResult r = Parse("{\n  \"kind\": \"Pod\",\n  \"spec\": {\"containers\": [}\n}\n", "bad.json");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].line, 3);
  EXPECT_EQ(r.errors[0].column, 27);
  EXPECT_NE(r.errors[0].message.find("JSON"), std::string::npos);
  EXPECT_TRUE(r.objects.empty());
}

TEST(ReaderTest, JsonTrailingGarbageIsAnErrorAfterTheFirstValue) {
  ReadResult r = Parse("{\"kind\": \"Pod\"}\n}\n", "bad.json");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].line, 2);
  EXPECT_EQ(r.objects.size(), 1u);
}

TEST(ReaderTest, ScalarsConvertFaithfully) {
  ReadResult r = Parse(
      "quoted_int: \"3333\"\n"
      "single: '42'\n"
      "plain_int: 3333\n"
      "negative: -7\n"
      "hex: 0x1F\n"
      "octal: 0o17\n"
      "float: 1.5\n"
      "exp: 1e3\n"
      "version: 1.10\n"
      "yes_bool: yes\n"
      "true_bool: true\n"
      "off_bool: off\n"
      "tilde: ~\n"
      "empty:\n"
      "host_port: pool.example.com:3333\n"
      "inf: .inf\n"
      "tagged_str: !!str 5\n"
      "block: |\n  echo 1\n"
      "dash_n: -n\n"
      "big: 123456789012345678901234567890\n");
  ASSERT_TRUE(r.errors.empty());
  const rapidjson::Value& o = *r.objects[0].object;
  EXPECT_TRUE(o["quoted_int"].IsString());
  EXPECT_STREQ(o["quoted_int"].GetString(), "3333");
  EXPECT_TRUE(o["single"].IsString());
  ASSERT_TRUE(o["plain_int"].IsInt());
  EXPECT_EQ(o["plain_int"].GetInt(), 3333);
  EXPECT_EQ(o["negative"].GetInt(), -7);
  EXPECT_EQ(o["hex"].GetInt(), 31);
  EXPECT_EQ(o["octal"].GetInt(), 15);
  EXPECT_DOUBLE_EQ(o["float"].GetDouble(), 1.5);
  EXPECT_DOUBLE_EQ(o["exp"].GetDouble(), 1000.0);
  EXPECT_DOUBLE_EQ(o["version"].GetDouble(), 1.1);
  EXPECT_TRUE(o["yes_bool"].IsTrue());
  EXPECT_TRUE(o["true_bool"].IsTrue());
  EXPECT_TRUE(o["off_bool"].IsFalse());
  EXPECT_TRUE(o["tilde"].IsNull());
  EXPECT_TRUE(o["empty"].IsNull());
  EXPECT_STREQ(o["host_port"].GetString(), "pool.example.com:3333");
  EXPECT_STREQ(o["inf"].GetString(), ".inf");
  EXPECT_STREQ(o["tagged_str"].GetString(), "5");
  EXPECT_STREQ(o["block"].GetString(), "echo 1\n");
  EXPECT_STREQ(o["dash_n"].GetString(), "-n");
  EXPECT_TRUE(o["big"].IsDouble());
}

TEST(ReaderTest, DuplicateKeyLastValueWinsWithAWarningNamingBothLines) {
  // kubectl 1.32 accepts this and the API server stores the last value: judge that one.
  ReadResult r = Parse(
      "kind: Pod\nspec:\n  containers: [{name: a, image: nginx}]\n"
      "  containers: [{name: b, image: xmrig/xmrig}]\n",
      "dup.yaml");
  EXPECT_TRUE(r.errors.empty());
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_EQ(r.warnings[0].file, "dup.yaml");
  EXPECT_EQ(r.warnings[0].line, 4);
  EXPECT_NE(r.warnings[0].message.find("duplicate key \"containers\" (first at line 3)"),
            std::string::npos)
      << r.warnings[0].message;
  ASSERT_EQ(r.objects.size(), 1u);
  const rapidjson::Value& containers = (*r.objects[0].object)["spec"]["containers"];
  ASSERT_EQ(containers.Size(), 1u);
  EXPECT_STREQ(containers[0]["image"].GetString(), "xmrig/xmrig");
  EXPECT_EQ(r.objects[0].object->GetObject()["spec"].MemberCount(), 1u) << "replaced, not added";
}

TEST(ReaderTest, DuplicateKeyOverAMergedKeyAndInsideSequences) {
  ReadResult r = Parse(
      "base: &b {image: nginx}\nkind: Pod\nspec:\n  containers:\n"
      "  - <<: *b\n    name: a\n    image: busybox\n    image: xmrig/xmrig\n",
      "dup.yaml");
  EXPECT_TRUE(r.errors.empty());
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_EQ(r.warnings[0].line, 8);
  ASSERT_EQ(r.objects.size(), 1u);
  EXPECT_STREQ((*r.objects[0].object)["spec"]["containers"][0]["image"].GetString(), "xmrig/xmrig");
}

TEST(ReaderTest, MergeKeysAndAliasesAreResolved) {
  ReadResult r = Parse(
      "x-base: &base\n"
      "  image: xmrig/xmrig\n"
      "  args: &args [\"-o\", \"pool.example:3333\"]\n"
      "kind: Pod\n"
      "spec:\n"
      "  containers:\n"
      "  - <<: *base\n"
      "    name: miner\n"
      "    image: override\n"
      "  - name: second\n"
      "    args: *args\n");
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].message;
  const rapidjson::Value& c = (*r.objects[0].object)["spec"]["containers"];
  EXPECT_STREQ(c[0]["name"].GetString(), "miner");
  EXPECT_STREQ(c[0]["image"].GetString(), "override");  // explicit keys win over merged ones
  EXPECT_STREQ(c[0]["args"][1].GetString(), "pool.example:3333");
  EXPECT_FALSE(c[0].HasMember("<<"));
  EXPECT_STREQ(c[1]["args"][0].GetString(), "-o");
}

TEST(ReaderTest, MergeKeyOfAScalarIsAnError) {
  ReadResult r = Parse("a:\n  <<: 3\n");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_NE(r.errors[0].message.find("merge key"), std::string::npos);
}

TEST(ReaderTest, AliasBombEndsWithAnErrorNotExhaustion) {
  std::string text = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n";
  for (int i = 1; i <= 9; ++i) {
    std::string prev = "*a" + std::to_string(i - 1);
    text += "a" + std::to_string(i) + ": &a" + std::to_string(i) + " [";
    for (int k = 0; k < 10; ++k) text += (k ? ", " : "") + prev;
    text += "]\n";
  }
  ReadResult r = Parse(text, "bomb.yaml");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_NE(r.errors[0].message.find("through aliases"), std::string::npos) << r.errors[0].message;
}

// yaml-cpp 0.7 emits empty documents forever at a top-level ',' (fuzz_manifest_reader: a file
// of one ',' took all memory). The documents before it are kept, the stray comma is an error.
TEST(ReaderTest, StrayCommaIsAnErrorNotAnEndlessStream) {
  for (const char* text : {",", "\"x\",\n", "kind: Service\n---\n\"x\" ,\n"}) {
    ReadResult r = Parse(text, "comma.yaml");
    ASSERT_EQ(r.errors.size(), 1u) << text;
    EXPECT_NE(r.errors[0].message.find("cannot get past"), std::string::npos)
        << r.errors[0].message;
  }
  ReadResult r = Parse("kind: Service\n---\n,\n", "comma.yaml");
  ASSERT_EQ(r.objects.size(), 1u);
  EXPECT_EQ(Kind(r.objects[0]), "Service");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].line, 3);
}

TEST(ReaderTest, DeepNestingIsAnErrorNotACrash) {
  std::string text;
  for (int i = 0; i < kMaxDepth + 10; ++i) text += std::string(i * 2, ' ') + "a:\n";
  text += std::string((kMaxDepth + 10) * 2, ' ') + "b: 1\n";
  ReadResult r = Parse(text, "deep.yaml");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_NE(r.errors[0].message.find("nesting deeper than"), std::string::npos)
      << r.errors[0].message;
  EXPECT_EQ(r.errors[0].line, kMaxDepth + 1);
}

TEST(ReaderTest, DeepJsonIsParsedWithoutRecursion) {
  std::string text =
      "{\"kind\": \"Pod\", \"x\": " + std::string(100000, '[') + std::string(100000, ']') + "}";
  ReadResult r = Parse(text, "deep.json");
  EXPECT_TRUE(r.errors.empty());
  EXPECT_EQ(r.objects.size(), 1u);
}

TEST(ReaderTest, ComplexKeyIsAnError) {
  ReadResult r = Parse("? [a, b]\n: 1\n");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_NE(r.errors[0].message.find("key must be a scalar"), std::string::npos);
}

TEST(ReaderTest, LineOfFindsTheNodeOrItsNearestAncestor) {
  ReadResult r = Parse(
      "kind: List\n"
      "items:\n"
      "- kind: Pod\n"
      "  spec:\n"
      "    containers:\n"
      "    - name: a\n"
      "      image: busybox\n"
      "      args:\n"
      "      - sh\n"
      "      - -c\n"
      "      env:\n"
      "      - name: POOL\n"
      "        value: x\n");
  ASSERT_EQ(r.objects.size(), 1u);
  const ManifestObject& o = r.objects[0];
  EXPECT_EQ(o.LineOf("spec.containers[0].image"), 7);
  EXPECT_EQ(o.LineOf("spec.containers[0].args[1]"), 10);
  EXPECT_EQ(o.LineOf("spec.containers[0].env[0].value"), 13);
  EXPECT_EQ(o.LineOf("spec.containers[0].env[POOL]"), 11);  // unknown tail: nearest ancestor
  EXPECT_EQ(o.LineOf("spec.containers[0]"), 6);
  EXPECT_EQ(o.LineOf("nothing.here"), 3);
  EXPECT_EQ(o.LineOf(""), 3);
}

TEST(ReaderTest, NonMappingDocumentsAreKeptForTheJudgeToSkip) {
  ReadResult r = Parse("- a\n- b\n---\njust text\n");
  ASSERT_TRUE(r.errors.empty());
  ASSERT_EQ(r.objects.size(), 2u);
  EXPECT_TRUE(r.objects[0].object->IsArray());
  EXPECT_TRUE(r.objects[1].object->IsString());
}

TEST(ReaderTest, DirectoriesAreReadRecursivelyInSortedOrder) {
  TempDir dir;
  dir.Write("b.yaml", "kind: Pod\nmetadata: {name: b}\n");
  dir.Write("a.yml", "kind: Pod\nmetadata: {name: a}\n");
  dir.Write("sub/c.json", "{\"kind\": \"Pod\", \"metadata\": {\"name\": \"c\"}}");
  dir.Write("sub/deeper/d.yaml", "kind: Pod\nmetadata: {name: d}\n");
  dir.Write("notes.txt", "kind: Pod\nmetadata: {name: ignored}\n");
  dir.Write("README.md", "# not a manifest\n");
  std::istringstream no_stdin;
  ReadResult r = ReadManifests({dir.path().string()}, no_stdin);
  ASSERT_TRUE(r.errors.empty());
  EXPECT_EQ(r.files, 4);
  ASSERT_EQ(r.objects.size(), 4u);
  EXPECT_EQ(Name(r.objects[0]), "a");
  EXPECT_EQ(Name(r.objects[1]), "b");
  EXPECT_EQ(Name(r.objects[2]), "c");
  EXPECT_EQ(Name(r.objects[3]), "d");
  EXPECT_EQ(r.objects[2].file, (dir.path() / "sub/c.json").string());
}

TEST(ReaderTest, AFileNamedExplicitlyIsReadWhateverItsExtension) {
  TempDir dir;
  std::string txt = dir.Write("pod.txt", "{\"kind\": \"Pod\"}");
  std::istringstream no_stdin;
  ReadResult r = ReadManifests({txt}, no_stdin);
  ASSERT_TRUE(r.errors.empty());
  ASSERT_EQ(r.objects.size(), 1u);
  EXPECT_EQ(r.objects[0].lines, nullptr);  // sniffed as JSON
}

TEST(ReaderTest, MissingAndUnreadablePathsAreErrorsAndOthersStillRead) {
  TempDir dir;
  std::string good = dir.Write("good.yaml", "kind: Pod\n");
  std::filesystem::create_symlink(dir.path() / "gone.yaml", dir.path() / "dangling.yaml");
  std::string missing = (dir.path() / "missing.yaml").string();
  std::istringstream no_stdin;
  ReadResult r = ReadManifests({missing, good, (dir.path() / "dangling.yaml").string()}, no_stdin);
  ASSERT_EQ(r.errors.size(), 2u);
  EXPECT_EQ(r.errors[0].file, missing);
  EXPECT_NE(r.errors[0].message.find("No such file"), std::string::npos) << r.errors[0].message;
  EXPECT_EQ(r.errors[1].file, (dir.path() / "dangling.yaml").string());
  EXPECT_EQ(r.objects.size(), 1u);
  EXPECT_EQ(r.files, 1);
}

// Permission bits do not stop root, who runs CI, so the unreadable path here is one that runs
// through a regular file (ENOTDIR).
TEST(ReaderTest, APathThatCannotBeOpenedIsAnError) {
  TempDir dir;
  dir.Write("x/a.yaml", "kind: Pod\n");
  std::string through_file = (dir.path() / "x/a.yaml/child.yaml").string();
  std::istringstream no_stdin;
  ReadResult r = ReadManifests({through_file}, no_stdin);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_NE(r.errors[0].message.find("Not a directory"), std::string::npos) << r.errors[0].message;
}

TEST(ReaderTest, StdinIsReadAsDash) {
  std::istringstream in("kind: Pod\nmetadata: {name: from-stdin}\n---\nkind: Pod\n");
  ReadResult r = ReadManifests({"-"}, in);
  ASSERT_TRUE(r.errors.empty());
  ASSERT_EQ(r.objects.size(), 2u);
  EXPECT_EQ(r.objects[0].file, "-");
  EXPECT_EQ(Name(r.objects[0]), "from-stdin");
  EXPECT_NE(r.objects[0].lines, nullptr);  // YAML
}

TEST(ReaderTest, StdinJsonIsSniffed) {
  std::istringstream in("  \n{\"kind\": \"Pod\"}");
  ReadResult r = ReadManifests({"-"}, in);
  ASSERT_TRUE(r.errors.empty());
  ASSERT_EQ(r.objects.size(), 1u);
  EXPECT_EQ(r.objects[0].lines, nullptr);
  EXPECT_EQ(r.objects[0].line, 2);
}

}  // namespace
}  // namespace stratum_guard::check
