#include "helper/helper_protocol.hpp"

#include "common/ids.hpp"
#include "common/json.hpp"

namespace berth::helper {
namespace {

bool isLowerHex(const std::string& s) { return s.find_first_not_of("0123456789abcdef") == std::string::npos; }

Error badRequest(const std::string& field, const std::string& rule) {
  return makeError("bad_request", "field '" + field + "': " + rule);
}

}  // namespace

std::string canonicalRequest(const std::string& verb, const nlohmann::json& args, const std::string& nonce,
                             std::int64_t expires_ms) {
  return "berth-helper/1\n" + verb + "\n" + nonce + "\n" + std::to_string(expires_ms) + "\n" + dumpJson(args);
}

std::string requestMac(const std::string& key, const std::string& verb, const nlohmann::json& args,
                       const std::string& nonce, std::int64_t expires_ms) {
  return hmacSha256Hex(key, canonicalRequest(verb, args, nonce, expires_ms));
}

std::string encodeRequest(const std::string& key, const std::string& verb, const nlohmann::json& args,
                          const std::string& nonce, std::int64_t expires_ms) {
  return dumpJson({{"verb", verb},
                   {"args", args},
                   {"nonce", nonce},
                   {"expires_ms", expires_ms},
                   {"mac", requestMac(key, verb, args, nonce, expires_ms)}});
}

Result<Request> parseRequest(const std::string& text) {
  if (text.size() > kMaxRequestBytes) return badRequest("request", "must be at most 1 MiB");
  auto parsed = parseJson(text);
  if (!parsed) return badRequest("request", parsed.error().message);
  const auto& j = *parsed;
  if (!j.is_object()) return badRequest("request", "must be a JSON object");
  for (auto it = j.begin(); it != j.end(); ++it) {
    const auto& k = it.key();
    if (k != "verb" && k != "args" && k != "nonce" && k != "expires_ms" && k != "mac")
      return badRequest(k, "is not a request field");
  }
  Request r;
  if (!j.contains("verb") || !j["verb"].is_string()) return badRequest("verb", "must be a string");
  r.verb = j["verb"];
  if (r.verb.empty() || r.verb.size() > kMaxVerbChars ||
      r.verb.find_first_not_of("abcdefghijklmnopqrstuvwxyz.") != std::string::npos)
    return badRequest("verb", "must be 1-32 characters of a-z and '.'");
  if (!j.contains("args") || !j["args"].is_object()) return badRequest("args", "must be an object");
  r.args = j["args"];
  if (!j.contains("nonce") || !j["nonce"].is_string()) return badRequest("nonce", "must be a string");
  r.nonce = j["nonce"];
  if (r.nonce.size() != kNonceHexChars || !isLowerHex(r.nonce))
    return badRequest("nonce", "must be 32 lower-case hex characters");
  if (!j.contains("expires_ms") || !j["expires_ms"].is_number_integer())
    return badRequest("expires_ms", "must be an integer (unix milliseconds)");
  r.expires_ms = j["expires_ms"].is_number_unsigned() && j["expires_ms"].get<std::uint64_t>() > INT64_MAX
                     ? INT64_MAX
                     : j["expires_ms"].get<std::int64_t>();
  if (!j.contains("mac") || !j["mac"].is_string()) return badRequest("mac", "must be a string");
  r.mac = j["mac"];
  if (r.mac.size() != 64 || !isLowerHex(r.mac))  // hex of an HMAC-SHA256
    return badRequest("mac", "must be 64 lower-case hex characters");
  return r;
}

Result<void> authenticate(const Request& request, const std::string& key, UnixMs now, const Freshness& freshness) {
  const std::string expected = requestMac(key, request.verb, request.args, request.nonce, request.expires_ms);
  if (!constantTimeEquals(request.mac, expected))
    return makeError("bad_mac", "field 'mac': does not match the request (wrong key or altered request)");
  // In 128 bits: no value of either clock can overflow the difference.
  const __int128 ahead = static_cast<__int128>(request.expires_ms) - now;
  if (ahead < -static_cast<__int128>(freshness.skew_ms))
    return makeError("expired", "field 'expires_ms': the request has expired");
  if (ahead > static_cast<__int128>(freshness.max_lifetime_ms) + freshness.skew_ms)
    return makeError("bad_expiry", "field 'expires_ms': must be at most " +
                                       std::to_string(freshness.max_lifetime_ms / 1000) + " s ahead");
  return Ok{};
}

Result<void> NonceCache::insert(const std::string& nonce, std::int64_t expires_ms, UnixMs now) {
  while (!by_expiry_.empty() && by_expiry_.begin()->first < now) {
    by_nonce_.erase(by_expiry_.begin()->second);
    by_expiry_.erase(by_expiry_.begin());
  }
  if (by_nonce_.count(nonce)) return makeError("replayed", "field 'nonce': this request was already received");
  if (by_nonce_.size() >= capacity_) return makeError("busy", "too many requests in flight; try again shortly");
  const std::int64_t forget = expires_ms > INT64_MAX - skew_ms_ ? INT64_MAX : expires_ms + skew_ms_;
  by_nonce_[nonce] = forget;
  by_expiry_.emplace(forget, nonce);
  return Ok{};
}

Result<std::string> parseKey(const std::string& file_text) {
  std::string text = file_text;
  if (!text.empty() && text.back() == '\n') text.pop_back();
  if (text.size() != 2 * kKeyBytes || !isLowerHex(text))
    return makeError("bad_key", "the helper key file must hold 64 lower-case hex characters");
  std::string key(kKeyBytes, '\0');
  for (std::size_t i = 0; i < kKeyBytes; ++i) key[i] = static_cast<char>(std::stoi(text.substr(2 * i, 2), nullptr, 16));
  return key;
}

std::string frame(const std::string& body) {
  const auto n = static_cast<std::uint32_t>(body.size());
  std::string out{static_cast<char>(n >> 24), static_cast<char>(n >> 16), static_cast<char>(n >> 8),
                  static_cast<char>(n)};
  return out + body;
}

std::uint32_t frameLength(const unsigned char header[4]) {
  return (std::uint32_t{header[0]} << 24) | (std::uint32_t{header[1]} << 16) | (std::uint32_t{header[2]} << 8) |
         std::uint32_t{header[3]};
}

std::string okResponse(const std::string& output) { return dumpJson({{"ok", true}, {"output", output}}); }

std::string errorResponse(const Error& error) {
  return dumpJson({{"ok", false}, {"code", error.code}, {"message", error.message}});
}

Result<std::string> parseResponse(const std::string& text) {
  const auto j = parseJsonOrDiscarded(text);
  if (!j.is_object() || !j.contains("ok") || !j["ok"].is_boolean())
    return makeError("bad_response", "the helper's answer is not a response");
  if (j["ok"]) return j.contains("output") && j["output"].is_string() ? j["output"].get<std::string>() : "";
  const auto field = [&](const char* name) {
    return j.contains(name) && j[name].is_string() ? j[name].get<std::string>() : std::string("helper_failed");
  };
  return makeError(field("code"), field("message"));
}

}  // namespace berth::helper
