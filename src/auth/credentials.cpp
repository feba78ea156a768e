#include "auth/credentials.hpp"

#include <sodium.h>

#include <algorithm>

#include "common/ids.hpp"

namespace berth::auth {
namespace {

constexpr std::size_t kPrefixHex = 12;
constexpr std::size_t kSecretHex = 48;

bool lowerHex(const std::string& text, std::size_t size) {
  return text.size() == size &&
         std::all_of(text.begin(), text.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

}  // namespace

std::optional<ParsedToken> parseToken(const std::string& text) {
  // kind(2) _ prefix(12) _ secret(48)
  if (text.size() != 2 + 1 + kPrefixHex + 1 + kSecretHex) return std::nullopt;
  if (text[2] != '_' || text[3 + kPrefixHex] != '_') return std::nullopt;
  ParsedToken t{text.substr(0, 2), text.substr(3, kPrefixHex), text.substr(4 + kPrefixHex)};
  if (t.kind != kKeyKind && t.kind != kSessionKind && t.kind != kInviteKind) return std::nullopt;
  if (!lowerHex(t.prefix, kPrefixHex) || !lowerHex(t.secret, kSecretHex)) return std::nullopt;
  return t;
}

MintedToken mintToken(const std::string& kind) {
  MintedToken t;
  t.prefix = randomHex(kPrefixHex / 2);
  const std::string secret = randomHex(kSecretHex / 2);
  t.text = kind + "_" + t.prefix + "_" + secret;
  t.secret_hash = sha256Hex(secret);
  return t;
}

bool secretMatches(const std::string& secret, const std::string& stored_hash) {
  const std::string hash = sha256Hex(secret);
  if (hash.size() != stored_hash.size()) return false;
  return sodium_memcmp(hash.data(), stored_hash.data(), hash.size()) == 0;
}

Result<std::int64_t> parseLifetime(const std::string& field, const std::string& text, std::int64_t max_ms) {
  const auto rule = [&] { return invalidField(field, "must be a duration like 90s, 15m, 1h or 30d"); };
  if (text == "0") return std::int64_t{0};
  if (text.size() < 2 || text.size() > 10) return rule();
  const std::string digits = text.substr(0, text.size() - 1);
  if (digits.find_first_not_of("0123456789") != std::string::npos) return rule();
  std::int64_t unit = 0;
  switch (text.back()) {
    case 's':
      unit = 1000;
      break;
    case 'm':
      unit = 60'000;
      break;
    case 'h':
      unit = 3'600'000;
      break;
    case 'd':
      unit = 86'400'000;
      break;
    default:
      return rule();
  }
  const std::int64_t count = std::stoll(digits);  // at most 9 digits: no overflow below
  if (count == 0) return rule();
  if (count > max_ms / unit) return invalidField(field, "must be at most " + std::to_string(max_ms / 86'400'000) + " days");
  return count * unit;
}

}  // namespace berth::auth
