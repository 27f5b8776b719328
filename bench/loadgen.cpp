// bench-loadgen: HTTPS POSTs at a fixed total rate, for latency at a moderate load (wrk only
// measures at saturation, and Debian has no wrk2).
//
// Method (wrk2's): each of --connections keep-alive TLS connections runs on its own thread and
// owns an equal share of the rate, with a fixed schedule: request j of connection c is due at
// start + (c / connections + j) * connections / rate. The thread sleeps until a request is due,
// sends it and reads the whole response. Latency is measured from the due time, not from the
// moment of sending, so a slow answer that delays the next requests is charged to them too
// (coordinated omission corrected); the time from sending to the last byte is reported beside
// it as service time. Like the API server, a connection never has two requests in flight.
//
// The client shares the machine with the server, so its own lateness is reported too: the lag
// from the moment a request could be sent (due, and the previous answer in) to the moment its
// thread sent it. That time is in the latency figures, charged to the server; a large lag says
// the client, not the server, was waiting for a CPU. "server" is each request's latency less its
// own lag: still from the due time when the previous answer came late, so a slow server is
// charged in full, but without the client's own lateness in sending.
//
// Output: one line of key=value pairs (rate, requests, errors, p50/p90/p99/p999/max in
// microseconds for latency and service time, p99 of the lag and of the server's share), for
// bench/run.sh to parse.
//
// --hold N measures memory instead: it opens N keep-alive TLS connections, sends one request on
// each and reads its answer, prints "held N" and keeps them open, idle, for --duration seconds
// or until its standard input closes, then closes them. bench/run.sh reads the server's
// resident memory while they are held (an idle connection of the API server's pool).
//
// Certificates are not verified: the target is our own server on 127.0.0.1 with a throwaway
// certificate, and verification is not what is measured.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

struct Flags {
  std::string host = "127.0.0.1";
  int port = 0;
  std::string path = "/validate";
  std::string body_file;
  double rate = 1000;  // requests per second, all connections together
  int connections = 8;
  double duration_s = 20;
  double warmup_s = 3;  // requests due in the first warmup seconds are not counted
  int hold = 0;         // > 0: the memory mode (open, one request each, hold idle)
};

struct Result {
  std::vector<std::int64_t> latency_us;  // from due time to last byte
  std::vector<std::int64_t> service_us;  // from send to last byte
  std::vector<std::int64_t> lag_us;      // from ready (due, or the previous answer) to send
  std::vector<std::int64_t> server_us;   // latency less this request's lag
  std::uint64_t errors = 0;              // transport errors (connection lost, TLS)
  std::uint64_t non_200 = 0;
};

int Connect(const std::string& host, int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  if (inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1 ||
      ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  timeval timeout{10, 0};  // bounded: a stuck server cannot hang the benchmark
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
  return fd;
}

class TlsConnection {
 public:
  TlsConnection(SSL_CTX* ctx, const Flags& flags) {
    fd_ = Connect(flags.host, flags.port);
    if (fd_ < 0) return;
    ssl_ = SSL_new(ctx);
    SSL_set_fd(ssl_, fd_);
    SSL_set_tlsext_host_name(ssl_, "localhost");
    if (SSL_connect(ssl_) != 1) Close();
  }
  ~TlsConnection() { Close(); }
  TlsConnection(const TlsConnection&) = delete;
  TlsConnection& operator=(const TlsConnection&) = delete;

  bool ok() const { return ssl_ != nullptr; }

  bool Write(const std::string& data) {
    std::size_t done = 0;
    while (done < data.size()) {
      int n = SSL_write(ssl_, data.data() + done, static_cast<int>(data.size() - done));
      if (n <= 0) return false;
      done += static_cast<std::size_t>(n);
    }
    return true;
  }

  // Reads one response (Content-Length framing). Returns the status code, or -1.
  int ReadResponse() {
    std::size_t header_end;
    while ((header_end = buffer_.find("\r\n\r\n")) == std::string::npos) {
      if (!Fill()) return -1;
    }
    int status = -1;
    if (buffer_.size() > 12) status = std::atoi(buffer_.c_str() + 9);  // "HTTP/1.1 200"
    std::size_t length = 0;
    std::string headers = buffer_.substr(0, header_end);
    std::transform(headers.begin(), headers.end(), headers.begin(),
                   [](unsigned char c) { return std::tolower(c); });
    if (std::size_t p = headers.find("\r\ncontent-length:"); p != std::string::npos) {
      length = std::strtoull(headers.c_str() + p + 17, nullptr, 10);
    }
    const std::size_t total = header_end + 4 + length;
    while (buffer_.size() < total) {
      if (!Fill()) return -1;
    }
    buffer_.erase(0, total);
    return status;
  }

 private:
  bool Fill() {
    char chunk[16384];
    int n = SSL_read(ssl_, chunk, sizeof chunk);
    if (n <= 0) return false;
    buffer_.append(chunk, static_cast<std::size_t>(n));
    return true;
  }
  void Close() {
    if (ssl_ != nullptr) {
      SSL_free(ssl_);
      ssl_ = nullptr;
    }
    if (fd_ >= 0) {
      ::close(fd_);
      fd_ = -1;
    }
  }

  int fd_ = -1;
  SSL* ssl_ = nullptr;
  std::string buffer_;
};

std::int64_t Percentile(std::vector<std::int64_t>& v, double p) {
  if (v.empty()) return -1;
  std::size_t i = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(i), v.end());
  return v[i];
}

void Usage() {
  std::cerr << "usage: bench-loadgen --port P --body FILE --rate R [--connections C] "
               "[--duration S] [--warmup S] [--host 127.0.0.1] [--path /validate]\n"
               "       bench-loadgen --port P --body FILE --hold N [--duration S]\n";
}

bool ParseFlags(int argc, char** argv, Flags* flags) {
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string key = argv[i];
    std::string value = argv[i + 1];
    if (key == "--host")
      flags->host = value;
    else if (key == "--port")
      flags->port = std::atoi(value.c_str());
    else if (key == "--path")
      flags->path = value;
    else if (key == "--body")
      flags->body_file = value;
    else if (key == "--rate")
      flags->rate = std::atof(value.c_str());
    else if (key == "--connections")
      flags->connections = std::atoi(value.c_str());
    else if (key == "--duration")
      flags->duration_s = std::atof(value.c_str());
    else if (key == "--warmup")
      flags->warmup_s = std::atof(value.c_str());
    else if (key == "--hold")
      flags->hold = std::atoi(value.c_str());
    else
      return false;
  }
  return argc % 2 == 1 && flags->port > 0 && !flags->body_file.empty() && flags->rate > 0 &&
         flags->connections > 0 && flags->duration_s > 0 && flags->warmup_s >= 0 &&
         flags->duration_s <= 3600 && flags->hold >= 0;
}

// The memory mode: N connections, one answered request each, then held idle. Exit status 0 only
// if every connection was opened and answered 200.
int Hold(SSL_CTX* ctx, const Flags& flags, const std::string& request) {
  std::vector<std::unique_ptr<TlsConnection>> connections;
  for (int c = 0; c < flags.hold; ++c) {
    auto connection = std::make_unique<TlsConnection>(ctx, flags);
    int status = connection->ok() && connection->Write(request) ? connection->ReadResponse() : -1;
    if (status != 200) {
      std::fprintf(stderr, "bench-loadgen: connection %d: status %d\n", c, status);
      return 1;
    }
    connections.push_back(std::move(connection));
  }
  std::printf("held %d\n", flags.hold);
  std::fflush(stdout);
  // Until stdin closes (the caller is done measuring) or --duration passes, whichever is first.
  std::thread([] {
    char byte;
    while (::read(0, &byte, 1) > 0) {
    }
    std::_Exit(0);
  }).detach();
  std::this_thread::sleep_for(std::chrono::duration<double>(flags.duration_s));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Flags flags;
  if (!ParseFlags(argc, argv, &flags)) {
    Usage();
    return 2;
  }
  std::ifstream in(flags.body_file, std::ios::binary);
  std::stringstream body;
  body << in.rdbuf();
  if (!in) {
    std::cerr << "bench-loadgen: cannot read " << flags.body_file << "\n";
    return 2;
  }
  std::string request = "POST " + flags.path +
                        "?timeout=10s HTTP/1.1\r\nHost: localhost\r\n"
                        "Content-Type: application/json\r\nAccept: application/json\r\n"
                        "Content-Length: " +
                        std::to_string(body.str().size()) + "\r\n\r\n" + body.str();

  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
  if (flags.hold > 0) return Hold(ctx, flags, request);

  const auto interval = std::chrono::duration<double>(flags.connections / flags.rate);
  const auto warmup = std::chrono::duration<double>(flags.warmup_s);
  const auto duration = std::chrono::duration<double>(flags.duration_s);
  std::mutex mu;
  Result total;
  // Connections are opened first, so handshakes do not count against the schedule.
  std::vector<std::unique_ptr<TlsConnection>> connections;
  for (int c = 0; c < flags.connections; ++c) {
    connections.push_back(std::make_unique<TlsConnection>(ctx, flags));
    if (!connections.back()->ok()) {
      std::cerr << "bench-loadgen: cannot connect to " << flags.host << ":" << flags.port << "\n";
      return 1;
    }
  }
  const Clock::time_point start = Clock::now() + std::chrono::milliseconds(100);
  std::vector<std::thread> threads;
  for (int c = 0; c < flags.connections; ++c) {
    threads.emplace_back([&, c] {
      // Linux lets a sleeping thread wake up to 50 us late by default (timer slack), to batch
      // wake-ups; that lateness would be charged to the server as latency.
      prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
      Result local;
      TlsConnection& connection = *connections[static_cast<std::size_t>(c)];
      const auto offset = interval * (static_cast<double>(c) / flags.connections);
      Clock::time_point previous_done = start;
      for (std::int64_t j = 0;; ++j) {
        const Clock::time_point due =
            start + std::chrono::duration_cast<Clock::duration>(offset + interval * j);
        if (due - start >= duration) break;
        std::this_thread::sleep_until(due);
        const Clock::time_point sent = Clock::now();
        int status = connection.Write(request) ? connection.ReadResponse() : -1;
        const Clock::time_point done = Clock::now();
        const Clock::time_point ready = std::max(due, previous_done);
        previous_done = done;
        if (due - start < warmup) continue;
        if (status < 0) {
          ++local.errors;
          break;  // the connection is gone; its remaining schedule is not served
        }
        if (status != 200) ++local.non_200;
        local.latency_us.push_back(
            std::chrono::duration_cast<std::chrono::microseconds>(done - due).count());
        local.service_us.push_back(
            std::chrono::duration_cast<std::chrono::microseconds>(done - sent).count());
        local.lag_us.push_back(
            std::chrono::duration_cast<std::chrono::microseconds>(sent - ready).count());
        local.server_us.push_back(local.latency_us.back() - local.lag_us.back());
      }
      std::lock_guard lock(mu);
      total.latency_us.insert(total.latency_us.end(), local.latency_us.begin(),
                              local.latency_us.end());
      total.service_us.insert(total.service_us.end(), local.service_us.begin(),
                              local.service_us.end());
      total.lag_us.insert(total.lag_us.end(), local.lag_us.begin(), local.lag_us.end());
      total.server_us.insert(total.server_us.end(), local.server_us.begin(), local.server_us.end());
      total.errors += local.errors;
      total.non_200 += local.non_200;
    });
  }
  for (auto& t : threads) t.join();
  connections.clear();
  SSL_CTX_free(ctx);

  const double measured_s = flags.duration_s - flags.warmup_s;
  const std::size_t n = total.latency_us.size();
  std::printf(
      "target_rate=%.0f achieved_rate=%.1f requests=%zu errors=%llu non_200=%llu "
      "connections=%d duration_s=%.1f "
      "latency_p50_us=%lld latency_p90_us=%lld latency_p99_us=%lld latency_p999_us=%lld "
      "latency_max_us=%lld service_p50_us=%lld service_p99_us=%lld lag_p99_us=%lld "
      "server_p99_us=%lld\n",
      flags.rate, measured_s > 0 ? static_cast<double>(n) / measured_s : 0.0, n,
      static_cast<unsigned long long>(total.errors), static_cast<unsigned long long>(total.non_200),
      flags.connections, measured_s, static_cast<long long>(Percentile(total.latency_us, 0.50)),
      static_cast<long long>(Percentile(total.latency_us, 0.90)),
      static_cast<long long>(Percentile(total.latency_us, 0.99)),
      static_cast<long long>(Percentile(total.latency_us, 0.999)),
      static_cast<long long>(Percentile(total.latency_us, 1.0)),
      static_cast<long long>(Percentile(total.service_us, 0.50)),
      static_cast<long long>(Percentile(total.service_us, 0.99)),
      static_cast<long long>(Percentile(total.lag_us, 0.99)),
      static_cast<long long>(Percentile(total.server_us, 0.99)));
  return total.errors == 0 && total.non_200 == 0 ? 0 : 1;
}
