#include "common/files.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

namespace stratum_guard::common {
namespace {

TEST(ReadFileTest, ReadsWholeFile) {
  std::string path = ::testing::TempDir() + "/read_file_test.txt";
  {
    std::ofstream out(path, std::ios::binary);
    out << std::string("a\0b", 3);
  }
  std::string error;
  auto text = ReadFile(path, &error);
  ASSERT_TRUE(text.has_value()) << error;
  EXPECT_EQ(*text, std::string("a\0b", 3));
  std::remove(path.c_str());
}

TEST(ReadFileTest, MissingFileNamesPathAndReason) {
  std::string error;
  EXPECT_FALSE(ReadFile("/nonexistent/stratum-guard", &error).has_value());
  EXPECT_NE(error.find("/nonexistent/stratum-guard"), std::string::npos);
  EXPECT_NE(error.find("No such file"), std::string::npos);
}

}  // namespace
}  // namespace stratum_guard::common
