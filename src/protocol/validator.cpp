#include "protocol/validator.hpp"

#include <cstdlib>

#include "protocol/signing.hpp"
#include "protocol/verb_args.hpp"

namespace berth::protocol {

Result<Envelope> FrameValidator::accept(std::string_view bytes, std::int64_t now_ms) {
  refused_ = Refused{};
  auto parsed = parse(bytes, policy_.max_frame_bytes);
  if (!parsed) return parsed.error();
  refused_ = Refused{parsed->type, parsed->correlation_id, parsed->issued_at};
  if (auto checked = check(*parsed, now_ms); !checked) return checked.error();
  // Last, so a forged or stale frame cannot evict genuine nonces.
  if (parsed->issued_at < replay_.forgottenBefore()) {
    return makeError(codes::kReplay, "issued_at is older than the nonces this session still remembers (a replay, "
                                     "or a clock that went back)");
  }
  if (!replay_.insert(parsed->nonce, parsed->issued_at, now_ms)) return makeError(codes::kReplay, "nonce " + parsed->nonce + " was already used");
  refused_ = Refused{};
  return parsed;
}

Result<void> FrameValidator::check(const Envelope& e, std::int64_t now_ms) {
  const std::string typeName(frameTypeName(e.type));
  if (!policy_.accepted_types.count(e.type)) {
    return makeError(codes::kUnexpected, typeName + " frames are not accepted on this side");
  }
  if (!policy_.expected_agent_id.empty() && e.agent_id != policy_.expected_agent_id) {
    return makeError(codes::kSchema, "field 'agent_id': the frame is addressed to '" + e.agent_id + "', not to '" +
                                         policy_.expected_agent_id + "'");
  }
  if (std::llabs(e.issued_at - now_ms) > policy_.max_clock_skew_ms) {
    return makeError(codes::kClockSkew, "issued_at is " + std::to_string((e.issued_at - now_ms) / 1000) +
                                            " s from local time; allowed skew is " +
                                            std::to_string(policy_.max_clock_skew_ms / 1000) + " s");
  }
  if (e.expires_at - e.issued_at > policy_.max_lifetime_ms) {
    return makeError(codes::kSchema, "field 'expires_at': lifetime of " +
                                         std::to_string((e.expires_at - e.issued_at) / 1000) +
                                         " s exceeds the maximum of " +
                                         std::to_string(policy_.max_lifetime_ms / 1000) + " s");
  }
  if (e.expires_at <= now_ms) return makeError(codes::kExpired, typeName + " frame expired");
  if (policy_.signed_types.count(e.type)) {
    if (policy_.command_public_key.empty()) {
      return makeError(codes::kBadSignature, typeName + " refused: no signing key to verify it with");
    }
    if (!verify(e, policy_.command_public_key)) {
      return makeError(codes::kBadSignature, typeName + " signature does not verify against the server's signing key");
    }
  }
  if (e.type == FrameType::Command) {
    if (!policy_.allowed_verbs.count(e.verb)) {
      return makeError(codes::kVerbNotAllowed, "verb '" + e.verb + "' is not on the allowlist");
    }
    if (auto args = checkVerbArgs(e.verb, e.args); !args) return makeError(codes::kBadArgs, args.error().message);
  }
  return Ok{};
}

Envelope makeErrorFrame(const Error& error, const std::string& agent_id, const std::string& correlation_id,
                        std::int64_t now_ms) {
  Envelope e = newEnvelope(FrameType::Error, agent_id, now_ms, 60'000);
  e.correlation_id = correlation_id;
  e.error = ErrorInfo{error.code, error.message};
  return e;
}

}  // namespace berth::protocol
