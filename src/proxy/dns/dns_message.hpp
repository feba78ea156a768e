// DNS messages for the small authoritative responder in front of Caddy's
// dynamic upstreams (RFC 1035, UDP only). Pure: parsing a query and building
// its answer from a table of names, no sockets. Only standard queries with one
// question are answered; anything else is dropped (no answer at all).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "common/result.hpp"

namespace berth::proxy::dns {

// Queries and answers are plain UDP DNS without EDNS: at most 512 bytes each.
constexpr std::size_t kMaxMessageSize = 512;
constexpr std::uint16_t kTypeA = 1;
constexpr std::uint16_t kTypeAAAA = 28;
constexpr std::uint16_t kClassIn = 1;
constexpr std::uint8_t kRcodeNoError = 0;
constexpr std::uint8_t kRcodeNxDomain = 3;
constexpr std::uint8_t kRcodeRefused = 5;

// Name (lower-case, no trailing dot) -> IP addresses (text, IPv4 or IPv6).
using Records = std::map<std::string, std::vector<std::string>>;

struct Query {
  std::uint16_t id = 0;
  bool recursion_desired = false;
  std::string name;  // lower-cased ASCII, labels joined by '.', no trailing dot
  std::uint16_t type = 0;
  std::uint16_t klass = 0;
  std::size_t question_end = 0;  // offset just past the question in the packet
};

// One standard query (QR 0, opcode 0) with exactly one question; a refusal
// ("malformed_dns") for anything else: short, over kMaxMessageSize, compressed
// or over-long names, answers in a query.
Result<Query> parseQuery(std::span<const std::uint8_t> packet);

// The bytes to send back for `packet`, empty when it must be dropped. Names
// under `zone` held in `records`: their A (IPv4) or AAAA (IPv6) records, as
// many as fit in kMaxMessageSize, authoritative; an existing name asked for
// another type: no records (NOERROR); other names under `zone`: NXDOMAIN;
// names outside `zone`: REFUSED (never recursing).
std::vector<std::uint8_t> answerQuery(std::span<const std::uint8_t> packet, const Records& records,
                                      const std::string& zone);

}  // namespace berth::proxy::dns
