#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace stratum_guard::server {

// Parses a listen address: "HOST:PORT" with an IP literal ("127.0.0.1:8443", "[::1]:0") or
// "localhost", or ":PORT" for every interface (dual-stack "::", which Listener falls back to
// 0.0.0.0 where IPv6 is missing). Port 0 asks for an ephemeral port. Returns nullopt and sets
// *error on anything else.
std::optional<boost::asio::ip::tcp::endpoint> ParseListenAddress(std::string_view text,
                                                                 std::string* error);

// "127.0.0.1:8443" or "[::1]:8443".
std::string FormatEndpoint(const boost::asio::ip::tcp::endpoint& endpoint);

}  // namespace stratum_guard::server
