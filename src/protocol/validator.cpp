#include "protocol/validator.hpp"

#include <cstdlib>

#include "common/ids.hpp"
#include "protocol/signing.hpp"

namespace berth::protocol {

Result<Envelope> FrameValidator::accept(std::string_view bytes, std::int64_t now_ms) {
  auto parsed = parse(bytes, policy_.max_frame_bytes);
  if (!parsed) return parsed.error();
  Envelope& e = *parsed;
  const std::string typeName(frameTypeName(e.type));

  if (!policy_.accepted_types.count(e.type)) {
    return makeError(codes::kUnexpected, typeName + " frames are not accepted on this side");
  }
  if (std::llabs(e.issued_at - now_ms) > policy_.max_clock_skew_ms) {
    return makeError(codes::kClockSkew, "issued_at is " + std::to_string((e.issued_at - now_ms) / 1000) +
                                            " s from local time; allowed skew is " +
                                            std::to_string(policy_.max_clock_skew_ms / 1000) + " s");
  }
  if (e.expires_at <= now_ms) return makeError(codes::kExpired, typeName + " frame expired");
  if (e.type == FrameType::Command) {
    if (!policy_.command_public_key.empty() && !verify(e, policy_.command_public_key)) {
      return makeError(codes::kBadSignature, "COMMAND signature does not verify against the server's signing key");
    }
    if (!policy_.allowed_verbs.count(e.verb)) {
      return makeError(codes::kVerbNotAllowed, "verb '" + e.verb + "' is not on the allowlist");
    }
  }
  // Last, so a forged or stale frame cannot evict genuine nonces.
  if (!replay_.insert(e.nonce)) return makeError(codes::kReplay, "nonce " + e.nonce + " was already used");
  return parsed;
}

Envelope makeErrorFrame(const Error& error, const std::string& agent_id, const std::string& correlation_id,
                        std::int64_t now_ms) {
  Envelope e;
  e.type = FrameType::Error;
  e.agent_id = agent_id;
  e.correlation_id = correlation_id;
  e.issued_at = now_ms;
  e.expires_at = now_ms + 60'000;
  e.nonce = randomHex(16);
  e.error = ErrorInfo{error.code, error.message};
  return e;
}

}  // namespace berth::protocol
