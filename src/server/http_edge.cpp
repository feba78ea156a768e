#include "server/http_edge.hpp"

#include <algorithm>

namespace berth::server {

std::string acceptableRequestId(std::string_view offered, const std::string& generated) {
  if (offered.empty() || offered.size() > kMaxRequestIdLength) return generated;
  for (unsigned char c : offered) {
    if (c < 0x21 || c > 0x7e) return generated;
  }
  return std::string(offered);
}

bool offersToken(std::string_view header, std::string_view wanted) {
  std::size_t start = 0;
  while (start <= header.size()) {
    std::size_t comma = header.find(',', start);
    if (comma == std::string_view::npos) comma = header.size();
    std::string_view item = header.substr(start, comma - start);
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
    while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
    if (item == wanted) return true;
    start = comma + 1;
  }
  return false;
}

bool isValidUtf8(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    std::size_t length = 0;
    std::uint32_t point = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xe0) == 0xc0) {
      length = 2;
      point = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
      length = 3;
      point = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
      length = 4;
      point = c & 0x07;
    } else {
      return false;
    }
    if (i + length > text.size()) return false;
    for (std::size_t k = 1; k < length; ++k) {
      const auto next = static_cast<unsigned char>(text[i + k]);
      if ((next & 0xc0) != 0x80) return false;
      point = (point << 6) | (next & 0x3f);
    }
    const std::uint32_t smallest[] = {0, 0, 0x80, 0x800, 0x10000};
    if (point < smallest[length] || point > 0x10ffff || (point >= 0xd800 && point <= 0xdfff)) return false;
    i += length;
  }
  return true;
}

bool ConnectionCounter::tryAcquire(const std::string& address) {
  int& count = open_[address];
  if (count >= limit_) {
    if (count == 0) open_.erase(address);
    return false;
  }
  ++count;
  return true;
}

void ConnectionCounter::release(const std::string& address) {
  auto it = open_.find(address);
  if (it == open_.end()) return;
  if (--it->second <= 0) open_.erase(it);
}

int ConnectionCounter::open(const std::string& address) const {
  auto it = open_.find(address);
  return it == open_.end() ? 0 : it->second;
}

std::string clientAddressKey(const boost::asio::ip::address& address) {
  namespace ip = boost::asio::ip;
  if (address.is_v4()) return address.to_string();
  const ip::address_v6 v6 = address.to_v6();
  if (v6.is_v4_mapped()) return ip::make_address_v4(ip::v4_mapped, v6).to_string();
  ip::address_v6::bytes_type prefix = v6.to_bytes();
  std::fill(prefix.begin() + 8, prefix.end(), 0);
  return ip::address_v6(prefix).to_string() + "/64";
}

}  // namespace berth::server
