// The text helpers on their own: image references, word splitting, kubelet and shell expansion,
// blob decoding and evidence truncation.

#include "policy/text.h"

#include <gtest/gtest.h>

#include <map>

namespace stratum_guard::policy::text {
namespace {

TEST(ParseImageTest, Parts) {
  ImageRef a = ParseImage("ghcr.io/acme/tools/xmrig:6.21@sha256:abcd");
  EXPECT_EQ(a.registry, "ghcr.io");
  EXPECT_EQ(a.repository, "acme/tools/xmrig");
  EXPECT_EQ(a.name, "xmrig");
  EXPECT_EQ(a.tag, "6.21");
  EXPECT_EQ(a.digest, "sha256:abcd");
  ImageRef b = ParseImage("localhost:5000/miner");
  EXPECT_EQ(b.registry, "localhost:5000");
  EXPECT_EQ(b.repository, "miner");
  EXPECT_EQ(b.tag, "");
  ImageRef c = ParseImage("xmrig/xmrig");
  EXPECT_EQ(c.registry, "");
  EXPECT_EQ(c.repository, "xmrig/xmrig");
  ImageRef d = ParseImage("nginx:1.25");
  EXPECT_EQ(d.name, "nginx");
  EXPECT_EQ(d.tag, "1.25");
}

TEST(ParseImageTest, Normalized) {
  EXPECT_EQ(NormalizedRepository("nginx"), "docker.io/library/nginx");
  EXPECT_EQ(NormalizedRepository("Acme/Tool:1"), "docker.io/acme/tool");
  EXPECT_EQ(NormalizedRepository("index.docker.io/acme/tool"), "docker.io/acme/tool");
  EXPECT_EQ(NormalizedRepository("ghcr.io/a/b@sha256:00"), "ghcr.io/a/b");
  EXPECT_EQ(NormalizedImage("nginx:1"), "docker.io/library/nginx:1");
  EXPECT_EQ(NormalizedImage("ghcr.io/a/b:2@sha256:00"), "ghcr.io/a/b:2@sha256:00");
}

std::vector<std::string> Words(std::string_view text, bool script, bool only_commands = false) {
  std::vector<Word> words;
  SplitWords(text, script, words);
  std::vector<std::string> out;
  for (const Word& w : words) {
    if (!only_commands || w.command_position) out.emplace_back(w.text);
  }
  return out;
}

TEST(SplitWordsTest, PlainSplitsOnWhitespaceAndQuotesOnly) {
  EXPECT_EQ(Words("a  b\t'c d';e", false), (std::vector<std::string>{"a", "b", "c", "d", ";e"}));
  EXPECT_TRUE(Words("a b", false, true).empty()) << "no command positions outside scripts";
}

TEST(SplitWordsTest, PlainSplitsLongWordsAtEveryOffset) {
  // Long words are skipped eight bytes at a time; a separator at any offset still ends them, and
  // bytes that only look close to one (controls, '!', '#', '&', UTF-8) do not.
  for (char separator : {' ', '\t', '\n', '\r', '\v', '\f', '"', '\''}) {
    for (std::size_t at = 1; at < 40; ++at) {
      std::string text = std::string(at, 'a') + separator + std::string(40 - at, 'b');
      EXPECT_EQ(Words(text, false),
                (std::vector<std::string>{std::string(at, 'a'), std::string(40 - at, 'b')}))
          << "separator " << int{separator} << " at " << at;
    }
  }
  const std::string kept = "x\x01\x1f!#&$(;|)`\x7f\xc3\xa9\xe6\x97\xa5-\x80\xff==0123456789abcdef";
  for (std::size_t at = 0; at < kept.size(); ++at) {
    std::string text = kept.substr(at) + kept.substr(0, at);
    EXPECT_EQ(Words(text, false), std::vector<std::string>{text}) << at;
  }
}

TEST(SplitWordsTest, ScriptCommandPositions) {
  EXPECT_EQ(
      Words("cd /tmp && ./xmrig -o x; nohup nice -n 19 miner & A=1 B=2 run|tee log", true, true),
      (std::vector<std::string>{"cd", "./xmrig", "nohup", "nice", "-n", "19", "miner", "A=1", "B=2",
                                "run", "tee"}));
  EXPECT_EQ(Words("echo $(whoami) `id`\nexec prog", true, true),
            (std::vector<std::string>{"echo", "whoami", "id", "exec", "prog"}));
  EXPECT_EQ(Words("if true; then xmrig; fi", true, true),
            (std::vector<std::string>{"if", "true", "then", "xmrig", "fi"}));
}

TEST(BasenameTest, LastComponent) {
  EXPECT_EQ(Basename("/tmp/.x/xmrig"), "xmrig");
  EXPECT_EQ(Basename("./xmrig"), "xmrig");
  EXPECT_EQ(Basename("xmrig"), "xmrig");
  EXPECT_EQ(Basename("/opt/dir/"), "dir");
}

Lookup MapLookup(const std::map<std::string, std::string, std::less<>>& vars) {
  return [&vars](std::string_view name) -> std::optional<std::string_view> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return std::string_view(it->second);
  };
}

TEST(ExpandKubeletTest, KubernetesSemantics) {
  std::map<std::string, std::string, std::less<>> vars = {{"A", "x"}, {"POOL", "p:1"}};
  Lookup lookup = MapLookup(vars);
  EXPECT_EQ(ExpandKubelet("-o $(POOL)", lookup), "-o p:1");
  EXPECT_EQ(ExpandKubelet("$(A)$(A)", lookup), "xx");
  EXPECT_EQ(ExpandKubelet("$$(A)", lookup), "$(A)") << "escaped";
  EXPECT_EQ(ExpandKubelet("$$$(A)", lookup), "$x");
  EXPECT_EQ(ExpandKubelet("$(UNSET) stays", lookup), "$(UNSET) stays");
  EXPECT_EQ(ExpandKubelet("$A ${A} $", lookup), "$A ${A} $") << "shell syntax is not kubelet's";
  EXPECT_EQ(ExpandKubelet("$(A", lookup), "$(A") << "unterminated";
}

TEST(ExpandShellTest, DollarNameBracesAndDefault) {
  std::map<std::string, std::string, std::less<>> vars = {{"S", "stratum"}, {"T", "tcp"}};
  Lookup lookup = MapLookup(vars);
  EXPECT_EQ(ExpandShell("$S+$T://h", lookup).value_or("-"), "stratum+tcp://h");
  EXPECT_EQ(ExpandShell("${S}1", lookup).value_or("-"), "stratum1");
  EXPECT_EQ(ExpandShell("${NOPE:-xmrig}", lookup).value_or("-"), "xmrig");
  EXPECT_EQ(ExpandShell("$NOPE ${S}", lookup).value_or("-"), "$NOPE stratum");
  EXPECT_FALSE(ExpandShell("no vars $1 $NOPE", lookup).has_value());
}

TEST(DecodeTest, Base64TextIsDecodedGarbageIsNot) {
  std::size_t budget = 1024;
  std::vector<std::string> out;
  // "./xmrig -o stratum+tcp://p:1" in base64, then a path and a long word.
  DecodeBase64Blobs(
      "echo Li94bXJpZyAtbyBzdHJhdHVtK3RjcDovL3A6MQ== | base64 -d; cd /usr/local/lib/python3; "
      "ApplicationConfigurationModule",
      &budget, out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0], "./xmrig -o stratum+tcp://p:1");
  EXPECT_LT(budget, 1024u);
}

TEST(DecodeTest, Base64RespectsBudget) {
  std::size_t budget = 0;
  std::vector<std::string> out;
  DecodeBase64Blobs("Li94bXJpZyAtbyBzdHJhdHVtK3RjcDovL3A6MQ==", &budget, out);
  EXPECT_TRUE(out.empty());
}

TEST(DecodeTest, HexPlainAndEscaped) {
  std::size_t budget = 1024;
  std::vector<std::string> out;
  DecodeHexBlobs("x 7374726174756d2b7463703a2f2f70 y \\x78\\x6d\\x72\\x69\\x67 z", &budget, out);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0], "stratum+tcp://p");
  EXPECT_EQ(out[1], "xmrig");
  out.clear();
  DecodeHexBlobs("sha 3f786850e387550fdab836ed7e6dc881de23001b", &budget, out);
  EXPECT_TRUE(out.empty()) << "a digest decodes to binary, not text";
}

TEST(TruncateTest, ShortLongUtf8AndControl) {
  EXPECT_EQ(Truncate("short"), "short");
  std::string long_text(100, 'a');
  EXPECT_EQ(Truncate(long_text), std::string(77, 'a') + "\xE2\x80\xA6");
  // A 2-byte character straddling the cut is dropped whole.
  std::string utf8 = std::string(76, 'a') + "\xC3\xA9" + std::string(10, 'b');
  EXPECT_EQ(Truncate(utf8), std::string(76, 'a') + "\xE2\x80\xA6");
  EXPECT_EQ(Truncate("a\nb\tc"), "a b c");
  EXPECT_EQ(Truncate("abcdef", 2), "ab") << "a limit under the ellipsis' size must not wrap";
}

TEST(ToLowerTest, Ascii) {
  std::string buffer;
  EXPECT_EQ(ToLower("XMRig-Proxy", buffer), "xmrig-proxy");
}

}  // namespace
}  // namespace stratum_guard::policy::text
