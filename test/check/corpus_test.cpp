// The fixture corpus: every file under test/fixtures/miner/ must be denied by the default
// policy, every file under test/fixtures/benign/ must not be. One test per file, named after it,
// so a failure says which manifest the engine got wrong.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
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

// test/fixtures/KNOWN_GAPS: "folder/file  explanation" per line, # for comments.
const std::map<std::string, std::string>& KnownGaps() {
  static const std::map<std::string, std::string> gaps = [] {
    std::map<std::string, std::string> out;
    std::ifstream in(testing::SourceDir() / "test" / "fixtures" / "KNOWN_GAPS");
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty() || line[0] == '#') continue;
      std::size_t space = line.find(' ');
      std::string file = line.substr(0, space);
      std::size_t text = line.find_first_not_of(' ', space);
      out[file] = text == std::string::npos ? "" : line.substr(text);
    }
    return out;
  }();
  return gaps;
}

// "miner/01-x.yaml" for a fixture path.
std::string FixtureKey(const std::string& path) {
  fs::path p(path);
  return p.parent_path().filename().string() + "/" + p.filename().string();
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

// Checks one fixture's exit code. A fixture listed in KNOWN_GAPS is skipped (with the gap named)
// while it still fails, and fails the test once it passes, so the list is kept current.
void ExpectExitCode(const std::string& file, int expected, const char* should) {
  Report report = JudgeFixture(file);
  auto gap = KnownGaps().find(FixtureKey(file));
  if (gap != KnownGaps().end()) {
    if (report.ExitCode() != expected) GTEST_SKIP() << "known policy gap: " << gap->second;
    ADD_FAILURE() << FixtureKey(file)
                  << " now passes: delete its line from test/fixtures/KNOWN_GAPS";
    return;
  }
  EXPECT_EQ(report.ExitCode(), expected) << file << " should " << should << ":\n"
                                         << Explain(report);
}

TEST_P(MinerFixtureTest, IsDenied) { ExpectExitCode(GetParam(), 1, "be denied"); }

TEST_P(BenignFixtureTest, IsNotDenied) { ExpectExitCode(GetParam(), 0, "not be denied"); }

// Every KNOWN_GAPS line names a fixture that exists, so a renamed file cannot hide a gap.
TEST(CorpusSizeTest, KnownGapsNameExistingFixtures) {
  for (const auto& [file, why] : KnownGaps()) {
    EXPECT_TRUE(fs::exists(testing::SourceDir() / "test" / "fixtures" / file)) << file;
    EXPECT_FALSE(why.empty()) << file << " needs an explanation";
  }
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
