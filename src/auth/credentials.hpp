// Bearer tokens: "<kind>_<prefix>_<secret>" with kind bk (API key), bs
// (session) or bi (invitation), prefix 12 and secret 48 lower-case hex digits.
// The prefix is public (stored, listed, used to look the row up); only
// sha256(secret) is stored, and compared in constant time.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "common/result.hpp"

namespace berth::auth {

inline constexpr const char* kKeyKind = "bk";
inline constexpr const char* kSessionKind = "bs";
inline constexpr const char* kInviteKind = "bi";

struct ParsedToken {
  std::string kind;
  std::string prefix;
  std::string secret;
};

// Pure. nullopt for anything not exactly of that shape (legacy keys
// "bk_<48 hex>" included: the caller looks those up by their whole hash).
std::optional<ParsedToken> parseToken(const std::string& text);

struct MintedToken {
  std::string text;  // shown once
  std::string prefix;
  std::string secret_hash;  // sha256 hex of the secret
};
// A new random token of `kind`.
MintedToken mintToken(const std::string& kind);

// sha256(secret) equals `stored_hash`, compared in constant time.
bool secretMatches(const std::string& secret, const std::string& stored_hash);

// Pure. "90s", "15m", "1h", "30d" (or "0") -> milliseconds, at most `max_ms`;
// errors name `field`.
Result<std::int64_t> parseLifetime(const std::string& field, const std::string& text, std::int64_t max_ms);

}  // namespace berth::auth
