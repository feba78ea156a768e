#include "proxy/dns/dns_message.hpp"

#include <arpa/inet.h>

#include <array>

namespace berth::proxy::dns {
namespace {

constexpr std::size_t kHeaderSize = 12;
constexpr std::size_t kMaxNameWire = 255;
constexpr std::size_t kMaxLabel = 63;
constexpr std::uint32_t kAnswerTtlS = 1;  // Caddy caches by its own `refresh`; resolvers should not hold on longer

std::uint16_t dnsRead16(std::span<const std::uint8_t> p, std::size_t at) {
  return static_cast<std::uint16_t>((p[at] << 8) | p[at + 1]);
}

void dnsPut16(std::vector<std::uint8_t>& out, std::uint16_t v) {
  out.push_back(static_cast<std::uint8_t>(v >> 8));
  out.push_back(static_cast<std::uint8_t>(v & 0xff));
}

Error dnsMalformed(const std::string& why) { return makeError("malformed_dns", "dns query: " + why); }

bool dnsInZone(const std::string& name, const std::string& zone) {
  if (name == zone) return true;
  return name.size() > zone.size() && name.compare(name.size() - zone.size(), zone.size(), zone) == 0 &&
         name[name.size() - zone.size() - 1] == '.';
}

// Only names a berth app can have are looked up; any other byte makes the name foreign.
bool dnsPlainName(const std::string& name) {
  for (char c : name)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_')) return false;
  return true;
}

}  // namespace

Result<Query> parseQuery(std::span<const std::uint8_t> packet) {
  if (packet.size() < kHeaderSize) return dnsMalformed("shorter than a header");
  if (packet.size() > kMaxMessageSize) return dnsMalformed("longer than 512 bytes");
  const std::uint16_t flags = dnsRead16(packet, 2);
  if (flags & 0x8000) return dnsMalformed("is a response");
  if (((flags >> 11) & 0xf) != 0) return dnsMalformed("opcode is not a standard query");
  if (dnsRead16(packet, 4) != 1) return dnsMalformed("must hold exactly one question");
  if (dnsRead16(packet, 6) != 0 || dnsRead16(packet, 8) != 0) return dnsMalformed("a query holds no answers");
  Query q;
  q.id = dnsRead16(packet, 0);
  q.recursion_desired = (flags & 0x0100) != 0;
  std::size_t at = kHeaderSize;
  for (;;) {
    if (at >= packet.size()) return dnsMalformed("name runs past the end");
    const std::uint8_t length = packet[at];
    if (length == 0) {
      ++at;
      break;
    }
    if (length > kMaxLabel) return dnsMalformed("label longer than 63 bytes or compressed");
    if (at + 1 + length > packet.size()) return dnsMalformed("label runs past the end");
    if (!q.name.empty()) q.name.push_back('.');
    for (std::size_t i = 0; i < length; ++i) {
      char c = static_cast<char>(packet[at + 1 + i]);
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
      q.name.push_back(c);
    }
    at += 1 + length;
    if (at - kHeaderSize > kMaxNameWire) return dnsMalformed("name longer than 255 bytes");
  }
  if (at - kHeaderSize > kMaxNameWire) return dnsMalformed("name longer than 255 bytes");
  if (at + 4 > packet.size()) return dnsMalformed("question runs past the end");
  q.type = dnsRead16(packet, at);
  q.klass = dnsRead16(packet, at + 2);
  q.question_end = at + 4;
  return q;
}

std::vector<std::uint8_t> answerQuery(std::span<const std::uint8_t> packet, const Records& records,
                                      const std::string& zone) {
  auto parsed = parseQuery(packet);
  if (!parsed) return {};
  const Query& q = *parsed;
  const bool ours = q.klass == kClassIn && dnsPlainName(q.name) && dnsInZone(q.name, zone);
  const auto held = ours ? records.find(q.name) : records.end();
  std::uint8_t rcode = kRcodeRefused;
  if (ours) rcode = held != records.end() ? kRcodeNoError : kRcodeNxDomain;

  std::vector<std::array<std::uint8_t, 16>> data;  // first 4 or 16 bytes used
  std::size_t dataSize = q.type == kTypeAAAA ? 16 : 4;
  if (held != records.end() && (q.type == kTypeA || q.type == kTypeAAAA)) {
    for (const auto& address : held->second) {
      std::array<std::uint8_t, 16> bytes{};
      const int family = q.type == kTypeA ? AF_INET : AF_INET6;
      if (::inet_pton(family, address.c_str(), bytes.data()) == 1) data.push_back(bytes);
    }
  }
  std::vector<std::uint8_t> out;
  out.reserve(kMaxMessageSize);
  dnsPut16(out, q.id);
  // QR, opcode 0, AA for our zone, RD echoed, RA never (no recursion), rcode.
  std::uint16_t flags = 0x8000 | (q.recursion_desired ? 0x0100 : 0) | rcode;
  if (ours) flags |= 0x0400;
  dnsPut16(out, flags);
  dnsPut16(out, 1);
  const std::size_t answerCountAt = out.size();
  dnsPut16(out, 0);
  dnsPut16(out, 0);
  dnsPut16(out, 0);
  out.insert(out.end(), packet.begin() + kHeaderSize, packet.begin() + static_cast<std::ptrdiff_t>(q.question_end));
  const std::size_t recordSize = 2 + 2 + 2 + 4 + 2 + dataSize;
  std::uint16_t count = 0;
  for (const auto& bytes : data) {
    if (out.size() + recordSize > kMaxMessageSize) break;  // the rest do not fit a plain UDP answer
    dnsPut16(out, 0xC000 | kHeaderSize);                  // the name: a pointer to the question's
    dnsPut16(out, q.type);
    dnsPut16(out, kClassIn);
    dnsPut16(out, static_cast<std::uint16_t>(kAnswerTtlS >> 16));
    dnsPut16(out, static_cast<std::uint16_t>(kAnswerTtlS & 0xffff));
    dnsPut16(out, static_cast<std::uint16_t>(dataSize));
    out.insert(out.end(), bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(dataSize));
    ++count;
  }
  out[answerCountAt] = static_cast<std::uint8_t>(count >> 8);
  out[answerCountAt + 1] = static_cast<std::uint8_t>(count & 0xff);
  return out;
}

}  // namespace berth::proxy::dns
