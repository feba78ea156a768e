// The helper's wire protocol, pure (no sockets): one request per connection,
// each frame a 4-byte big-endian length then a JSON object (docs/helper.md).
//
//   request:  {"verb", "args" (object), "nonce" (32 hex), "expires_ms" (unix ms), "mac" (64 hex)}
//   response: {"ok": true, "output"} | {"ok": false, "code", "message"}
//
// mac = HMAC-SHA256(key, canonicalRequest(...)) in lower-case hex. The
// canonical form serialises `args` with sorted keys (nlohmann's dump of a
// parsed object), so the two sides agree however the JSON was spaced.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "common/clock.hpp"
#include "common/result.hpp"

namespace berth::helper {

inline constexpr std::size_t kMaxRequestBytes = 1u << 20;     // file.write carries a whole file
inline constexpr std::size_t kMaxResponseBytes = 256u << 10;  // command output is cut well below this
inline constexpr std::size_t kKeyBytes = 32;
inline constexpr std::size_t kNonceHexChars = 32;
inline constexpr std::size_t kMaxVerbChars = 32;

struct Request {
  std::string verb;
  nlohmann::json args = nlohmann::json::object();
  std::string nonce;
  std::int64_t expires_ms = 0;
  std::string mac;
};

// How long a request may live, and the clock difference tolerated (both ms).
struct Freshness {
  std::int64_t max_lifetime_ms = 30'000;
  std::int64_t skew_ms = 5'000;
};

std::string canonicalRequest(const std::string& verb, const nlohmann::json& args, const std::string& nonce,
                             std::int64_t expires_ms);
// Lower-case hex HMAC-SHA256; `key` is raw bytes.
std::string requestMac(const std::string& key, const std::string& verb, const nlohmann::json& args,
                       const std::string& nonce, std::int64_t expires_ms);
// The request's JSON text, signed.
std::string encodeRequest(const std::string& key, const std::string& verb, const nlohmann::json& args,
                          const std::string& nonce, std::int64_t expires_ms);

// The shape only (types, lengths, the nonce's and mac's alphabet): "bad_request" naming the field.
Result<Request> parseRequest(const std::string& text);
// The mac (constant-time compare; "bad_mac"), then the clock: "expired" when
// now > expires + skew, "bad_expiry" when expires lies beyond now + lifetime + skew.
Result<void> authenticate(const Request& request, const std::string& key, UnixMs now, const Freshness& freshness);

// Nonces seen, each kept until its request could no longer pass authenticate()
// (expires + skew). Not thread-safe.
class NonceCache {
 public:
  explicit NonceCache(std::size_t capacity, std::int64_t skew_ms) : capacity_(capacity), skew_ms_(skew_ms) {}
  // "replayed" when seen before; "busy" when `capacity` live nonces are held.
  Result<void> insert(const std::string& nonce, std::int64_t expires_ms, UnixMs now);
  std::size_t size() const { return by_nonce_.size(); }

 private:
  std::size_t capacity_;
  std::int64_t skew_ms_;
  std::map<std::string, std::int64_t> by_nonce_;       // nonce -> forget after (ms)
  std::multimap<std::int64_t, std::string> by_expiry_;  // forget after -> nonce
};

// The key file's text: 64 hex characters (an optional trailing newline) -> 32 raw bytes.
Result<std::string> parseKey(const std::string& file_text);

// 4-byte big-endian length + body.
std::string frame(const std::string& body);
// The body length a header announces.
std::uint32_t frameLength(const unsigned char header[4]);

std::string okResponse(const std::string& output);
std::string errorResponse(const Error& error);
// The output of an "ok" answer, or its error; "bad_response" when it is not one.
Result<std::string> parseResponse(const std::string& text);

}  // namespace berth::helper
