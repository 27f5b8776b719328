// Bytes off the TLS stream: Beast's request parser configured as server::Connection does (a
// fresh parser per message, the body limit, the 64 KiB header limit), then each complete request
// handed to the real WebhookHandler with the default policy, as the session would. The first byte
// picks the body limit (small ones make the limit reachable), so over-long bodies, chunked
// encodings and pipelined requests are all tried.

#include <prometheus/registry.h>

#include <boost/beast/core/error.hpp>
#include <boost/beast/http.hpp>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include "common/log.h"
#include "policy/policy.h"
#include "policy/policy_store.h"
#include "server/metrics.h"
#include "server/webhook_handler.h"

using namespace stratum_guard;
namespace http = boost::beast::http;

namespace {

// server/connection.cpp's values; the connection itself needs a socket.
constexpr std::size_t kHeaderLimit = 16 * 1024;

struct Webhook {
  Webhook()
      : policies(policy::Policy::Default()),
        metrics(registry),
        handler(policies, metrics, server::JudgeOptions{}, [] { return true; }) {
    // Each request's log line is still formatted (hostile strings escaped), then dropped.
    common::SetLogSink([](std::string_view) {});
  }
  prometheus::Registry registry;
  policy::PolicyStore policies;
  server::AdmissionMetrics metrics;
  server::WebhookHandler handler;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  static Webhook* webhook = new Webhook();  // never destroyed: fuzzers exit without cleanup
  static constexpr std::size_t kBodyLimits[] = {0, 16, 1024, 8 << 20};
  const std::size_t body_limit = kBodyLimits[data[0] % 4];
  std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  // Requests one after the other, as on a keep-alive connection, until the bytes run out or one
  // fails to parse (the session then answers and closes).
  for (int message = 0; message < 8 && !input.empty(); ++message) {
    std::optional<http::request_parser<http::string_body>> parser;
    parser.emplace();
    parser->body_limit(body_limit);
    parser->header_limit(kHeaderLimit);
    parser->eager(true);
    boost::beast::error_code ec;
    std::size_t used = parser->put(boost::asio::buffer(input.data(), input.size()), ec);
    if (ec == http::error::need_more) {
      parser->put_eof(ec);
    }
    if (ec || !parser->is_done()) return 0;
    input.remove_prefix(used);
    server::HttpRequest request = parser->release();
    webhook->handler.Handle(request);
  }
  return 0;
}
