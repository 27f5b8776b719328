// The fixture corpus: every file under test/fixtures/miner/ must be denied by the default
// policy, every file under test/fixtures/benign/ must not be. One test per file, named after it,
// so a failure says which manifest the engine got wrong.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "check/check.h"
#include "check/manifest_reader.h"
#include "check/report.h"
#include "test/check/test_support.h"

namespace stratum_guard::check {
namespace {

namespace fs = std::filesystem;

std::vector<std::string> FixtureFiles(const std::string& folder) {
  std::vector<std::string> files;
  fs::path dir = testing::SourceDir() / "test" / "fixtures" / folder;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    std::string ext = entry.path().extension().string();
    if (ext == ".yaml" || ext == ".yml" || ext == ".json") files.push_back(entry.path().string());
  }
  std::sort(files.begin(), files.end());
  return files;
}

std::string TestName(const ::testing::TestParamInfo<std::string>& info) {
  std::string name = fs::path(info.param).stem().string();
  std::replace_if(
      name.begin(), name.end(), [](char c) { return !std::isalnum(c); }, '_');
  return name;
}

// Compiled once: the default policy is the one under test.
const Evaluator& DefaultPolicy() {
  static const Evaluator evaluator = EvaluatorFor(policy::Policy::Default());
  return evaluator;
}

// Reads and judges one fixture; fails the test on read errors or when nothing was judged (a
// fixture that judges nothing proves nothing).
Report JudgeFixture(const std::string& file) {
  std::istringstream no_stdin;
  ReadResult read = ReadManifests({file}, no_stdin);
  for (const ReadError& e : read.errors) {
    ADD_FAILURE() << e.file << ":" << e.line << ": " << e.message;
  }
  Report report = Check(read, DefaultPolicy());
  EXPECT_GT(report.Summarize().judged, 0) << file << " has no pod template to judge";
  return report;
}

std::string Explain(const Report& report) {
  std::ostringstream out;
  WriteText(report, out, out);
  return out.str();
}

class MinerFixtureTest : public ::testing::TestWithParam<std::string> {};
class BenignFixtureTest : public ::testing::TestWithParam<std::string> {};

TEST_P(MinerFixtureTest, IsDenied) {
  Report report = JudgeFixture(GetParam());
  EXPECT_EQ(report.ExitCode(), 1) << GetParam() << " should be denied:\n" << Explain(report);
}

TEST_P(BenignFixtureTest, IsNotDenied) {
  Report report = JudgeFixture(GetParam());
  EXPECT_EQ(report.ExitCode(), 0) << GetParam() << " should not be denied:\n" << Explain(report);
}

INSTANTIATE_TEST_SUITE_P(Corpus, MinerFixtureTest, ::testing::ValuesIn(FixtureFiles("miner")),
                         TestName);
INSTANTIATE_TEST_SUITE_P(Corpus, BenignFixtureTest, ::testing::ValuesIn(FixtureFiles("benign")),
                         TestName);

// The corpus is as large as the project brief asks; a folder emptied by mistake fails here.
TEST(CorpusSizeTest, AtLeastThirtyOfEach) {
  EXPECT_GE(FixtureFiles("miner").size(), 30u);
  EXPECT_GE(FixtureFiles("benign").size(), 30u);
}

}  // namespace
}  // namespace stratum_guard::check
