#include "common/cpus.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <string>
#include <thread>

namespace stratum_guard::common {
namespace {

unsigned Hardware() { return std::max(1u, std::thread::hardware_concurrency()); }

// Writes a fake cgroup `cpu.max` and returns its path.
std::string FakeCpuMax(const std::string& name, const std::string& text) {
  std::string path = ::testing::TempDir() + "/cpus_test_" + name;
  std::ofstream(path, std::ios::binary) << text;
  return path;
}

TEST(CpusFromCpuMaxTest, WholeAndFractionalQuotasRoundUp) {
  EXPECT_EQ(CpusFromCpuMax("100000 100000\n"), 1u);
  EXPECT_EQ(CpusFromCpuMax("150000 100000\n"), 2u);
  EXPECT_EQ(CpusFromCpuMax("400000 100000"), 4u);
  EXPECT_EQ(CpusFromCpuMax("10000 100000\n"), 1u) << "a tenth of a CPU still needs one thread";
}

TEST(CpusFromCpuMaxTest, NoLimitOrGarbageIsNoAnswer) {
  EXPECT_EQ(CpusFromCpuMax("max 100000\n"), std::nullopt);
  for (const char* bad : {"", "\n", "garbage", "150000", "150000 0", "0 100000", "-5 100000",
                          "1.5 100000", "150000 100000 7", "abc 100000", "150000 x"}) {
    EXPECT_EQ(CpusFromCpuMax(bad), std::nullopt) << '"' << bad << '"';
  }
}

TEST(CpusFromCpuMaxTest, HugeQuotaDoesNotOverflow) {
  EXPECT_EQ(CpusFromCpuMax("18446744073709551615 1"), 1u << 16);
}

TEST(AvailableCpusTest, ReadsTheQuotaFromTheCgroupFile) {
  // One CPU more than the machine has, so the answer cannot come from the hardware count.
  const unsigned more = Hardware() + 1;
  const std::string fractional = std::to_string(more * 100000 - 50000) + " 100000\n";
  EXPECT_EQ(AvailableCpus(FakeCpuMax("fractional", fractional)), more);
  EXPECT_EQ(AvailableCpus(FakeCpuMax("one", "100000 100000\n")), 1u);
}

TEST(AvailableCpusTest, FallsBackToTheHardwareWithoutAQuota) {
  EXPECT_EQ(AvailableCpus(FakeCpuMax("max", "max 100000\n")), Hardware());
  EXPECT_EQ(AvailableCpus(FakeCpuMax("garbage", "not a cgroup file")), Hardware());
  EXPECT_EQ(AvailableCpus("/nonexistent/stratum-guard/cpu.max"), Hardware());
}

}  // namespace
}  // namespace stratum_guard::common
