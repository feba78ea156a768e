// Pure checks the HTTP listener applies to what a client sends before the API
// sees it: request ids, WebSocket subprotocol offers, UTF-8 in paths, and a
// per-address connection count. No sockets; unit-tested on literal inputs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>

#include <boost/asio/ip/address.hpp>

namespace berth::server {

constexpr std::size_t kMaxRequestIdLength = 128;

// The client's X-Request-Id when it is 1..128 printable ASCII characters
// (0x21-0x7e), else `generated`: the id is echoed in headers, logs and JSON.
std::string acceptableRequestId(std::string_view offered, const std::string& generated);

// Whether the comma-separated Sec-WebSocket-Protocol list offers `wanted` as
// one whole token (surrounding spaces and tabs ignored).
bool offersToken(std::string_view header, std::string_view wanted);

// Whether `text` is well-formed UTF-8 (no overlong forms, surrogates or
// code points past U+10FFFF).
bool isValidUtf8(std::string_view text);

// The key a client's connections are counted under: an IPv4 address (also
// when it arrives IPv4-mapped on a dual-stack socket), or an IPv6 address's
// /64 prefix ("2001:db8:1:2::/64"): one host is normally given a whole /64, so
// counting single IPv6 addresses would give it 2^64 separate allowances.
std::string clientAddressKey(const boost::asio::ip::address& address);

// Open connections per client address. Not thread-safe: the listener's
// I/O thread owns it. The limit is copied: it changes only on restart.
class ConnectionCounter {
 public:
  explicit ConnectionCounter(int limit) : limit_(limit) {}
  // Counts a new connection from `address` unless it already has `limit`
  // open; false when refused (nothing counted).
  bool tryAcquire(const std::string& address);
  void release(const std::string& address);
  int open(const std::string& address) const;

 private:
  const int limit_;
  std::unordered_map<std::string, int> open_;
};

}  // namespace berth::server
