#include "common/line_writer.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace stratum_guard::common {
namespace {

using namespace std::chrono_literals;

class Pipe {
 public:
  Pipe() {
    int fds[2];
    if (::pipe(fds) != 0) throw std::runtime_error("pipe");
    read_ = fds[0];
    write_ = fds[1];
  }
  ~Pipe() {
    CloseWrite();
    ::close(read_);
  }
  int write_fd() const { return write_; }
  void CloseWrite() {
    if (write_ >= 0) ::close(write_);
    write_ = -1;
  }
  // What can be read within `wait` (none: what is there now).
  std::string ReadAvailable(std::chrono::milliseconds wait = 0ms) {
    std::string out;
    pollfd p{read_, POLLIN, 0};
    while (::poll(&p, 1, static_cast<int>(wait.count())) > 0 && (p.revents & POLLIN)) {
      char buf[4096];
      ssize_t n = ::read(read_, buf, sizeof buf);
      if (n <= 0) break;
      out.append(buf, static_cast<std::size_t>(n));
      wait = 0ms;
    }
    return out;
  }
  // Everything until the write end is closed.
  std::string ReadToEnd() {
    std::string out;
    char buf[4096];
    ssize_t n;
    while ((n = ::read(read_, buf, sizeof buf)) > 0) out.append(buf, static_cast<std::size_t>(n));
    return out;
  }

 private:
  int read_ = -1;
  int write_ = -1;
};

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

LineWriter::Options SlowOptions() {
  LineWriter::Options options;
  options.linger = std::chrono::microseconds(std::chrono::seconds(30));  // never, in a test
  return options;
}

TEST(LineWriterTest, WritesLinesFromManyThreadsWholeAndInOrderWithoutAFlush) {
  Pipe pipe;
  LineWriter writer(pipe.write_fd());
  constexpr int kThreads = 4;
  constexpr int kLines = 500;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&writer, t] {
      for (int i = 0; i < kLines; ++i) {
        writer.Append("thread " + std::to_string(t) + " line " + std::to_string(i) + "\n");
      }
    });
  }
  for (auto& thread : threads) thread.join();

  // The background thread writes them on its own, within its linger: no Flush here.
  std::string text;
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (Lines(text).size() < kThreads * kLines && std::chrono::steady_clock::now() < deadline) {
    text += pipe.ReadAvailable(100ms);
  }
  std::vector<std::string> lines = Lines(text);
  ASSERT_EQ(lines.size(), static_cast<std::size_t>(kThreads * kLines));
  std::map<int, int> next;
  for (const std::string& line : lines) {
    int t = -1, i = -1;
    ASSERT_EQ(std::sscanf(line.c_str(), "thread %d line %d", &t, &i), 2) << line;
    EXPECT_EQ(i, next[t]++) << "lines of one thread out of order: " << line;
  }
  EXPECT_EQ(writer.dropped(), 0u);
}

TEST(LineWriterTest, AnUrgentLineIsWrittenBeforeAppendReturnsAfterThoseBeforeIt) {
  Pipe pipe;
  LineWriter writer(pipe.write_fd(), SlowOptions());
  writer.Append("first\n");
  writer.Append("second\n");
  EXPECT_EQ(pipe.ReadAvailable(), "") << "ordinary lines wait for the linger";
  writer.Append("error\n", /*urgent=*/true);
  EXPECT_EQ(pipe.ReadAvailable(), "first\nsecond\nerror\n");
}

TEST(LineWriterTest, FlushWritesWhatIsPending) {
  Pipe pipe;
  LineWriter writer(pipe.write_fd(), SlowOptions());
  writer.Append("pending\n");
  writer.Flush();
  EXPECT_EQ(pipe.ReadAvailable(), "pending\n");
}

TEST(LineWriterTest, TheDestructorWritesWhatIsPending) {
  Pipe pipe;
  {
    LineWriter writer(pipe.write_fd(), SlowOptions());
    writer.Append("last words\n");
  }
  EXPECT_EQ(pipe.ReadAvailable(), "last words\n");
}

// A log collector that stops reading must not stall the threads that log: once max_pending
// bytes wait, lines are dropped and counted, and the output says how many were lost.
TEST(LineWriterTest, DropsLinesWhileTheOutputIsBlockedAndSaysHowMany) {
  Pipe pipe;
  ::fcntl(pipe.write_fd(), F_SETPIPE_SZ, 4096);  // a small pipe fills sooner
  LineWriter::Options options;
  options.linger = std::chrono::microseconds(0);
  options.max_pending = 1024;
  options.drop_notice = [](std::uint64_t n) { return "dropped " + std::to_string(n) + "\n"; };
  auto writer = std::make_unique<LineWriter>(pipe.write_fd(), options);

  const std::string line(99, 'x');
  constexpr int kLines = 2000;  // 200 KB against a 4 KiB pipe and 1 KiB pending
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < kLines; ++i) writer->Append(line + "\n");
  // Nobody reads the pipe, yet every Append returned (a blocked write would hang the test).
  const std::uint64_t dropped = writer->dropped();
  EXPECT_GT(dropped, 0u);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 60s);

  std::string text;
  std::thread reader([&pipe, &text] { text = pipe.ReadToEnd(); });
  writer.reset();  // writes the rest, once the reader drains the pipe
  pipe.CloseWrite();
  reader.join();

  std::uint64_t kept = 0, reported = 0;
  for (const std::string& l : Lines(text)) {
    if (l == line) {
      ++kept;
    } else {
      unsigned long long n = 0;
      ASSERT_EQ(std::sscanf(l.c_str(), "dropped %llu", &n), 1) << "unexpected line: " << l;
      reported += n;
    }
  }
  EXPECT_EQ(reported, dropped);
  EXPECT_EQ(kept + dropped, static_cast<std::uint64_t>(kLines));
}

TEST(LineWriterTest, AClosedOutputLosesTheLinesButNotTheProcess) {
  Pipe pipe;
  int bad_fd = ::dup(pipe.write_fd());
  ::close(bad_fd);
  LineWriter broken(bad_fd, SlowOptions());  // EBADF on every write
  broken.Append("lost\n");
  broken.Flush();
  broken.Append("lost too\n", /*urgent=*/true);
  EXPECT_EQ(broken.dropped(), 0u);
}

}  // namespace
}  // namespace stratum_guard::common
