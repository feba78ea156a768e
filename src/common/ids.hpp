// Random identifiers and secrets. Uses libsodium's CSPRNG; callers must have
// called sodium_init() (done once in main and in test main).
#pragma once

#include <cstdint>
#include <string>

namespace berth {

// Lower-case hex of `bytes` random bytes.
std::string randomHex(std::size_t bytes);
// "<prefix>_" + 16 random hex characters, e.g. "n_3fa2...". Short enough to type.
std::string newId(const std::string& prefix);
// "<prefix>_" + 12 hex digits of `now_ms` + 16 random hex characters: ids that
// sort by creation time (to the millisecond), so rows keyed by them append to
// their index instead of landing on random pages, and are still unguessable
// (64 random bits). A time outside 0..2^48-1 is clamped to it.
std::string newTimeOrderedId(const std::string& prefix, std::int64_t now_ms);
// Hex SHA-256 of `data`.
std::string sha256Hex(const std::string& data);
// Hex HMAC-SHA256 of `data` under `key` (any length).
std::string hmacSha256Hex(const std::string& key, const std::string& data);
// Equal texts, in a time that depends on their lengths only (for MACs and tokens).
bool constantTimeEquals(const std::string& a, const std::string& b);

}  // namespace berth
