#include "server/address.h"

#include <charconv>

namespace stratum_guard::server {

namespace net = boost::asio;

std::optional<net::ip::tcp::endpoint> ParseListenAddress(std::string_view text,
                                                         std::string* error) {
  auto fail = [&](std::string why) -> std::optional<net::ip::tcp::endpoint> {
    if (error) *error = "listen address \"" + std::string(text) + "\": " + why;
    return std::nullopt;
  };
  std::size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) return fail("expected HOST:PORT or :PORT");
  std::string_view host = text.substr(0, colon);
  std::string_view port_text = text.substr(colon + 1);
  unsigned port = 0;
  auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (port_text.empty() || ec != std::errc() || end != port_text.data() + port_text.size() ||
      port > 65535) {
    return fail("port must be a number from 0 to 65535");
  }
  net::ip::address address;
  if (host.empty()) {
    address = net::ip::address_v6::any();
  } else if (host == "localhost") {
    address = net::ip::address_v4::loopback();
  } else {
    bool bracketed = host.size() >= 2 && host.front() == '[' && host.back() == ']';
    if (bracketed) host = host.substr(1, host.size() - 2);
    boost::system::error_code parse_error;
    address = net::ip::make_address(std::string(host), parse_error);
    if (parse_error) return fail("host must be an IP address, \"localhost\" or empty");
    if (address.is_v6() && !bracketed) return fail("write an IPv6 address in brackets");
  }
  return net::ip::tcp::endpoint(address, static_cast<unsigned short>(port));
}

std::string FormatEndpoint(const net::ip::tcp::endpoint& endpoint) {
  std::string host = endpoint.address().to_string();
  if (endpoint.address().is_v6()) host = "[" + host + "]";
  return host + ":" + std::to_string(endpoint.port());
}

}  // namespace stratum_guard::server
