// Every inbound frame passes through a FrameValidator: size, schema, accepted
// type, addressee, clock skew, lifetime, expiry, signature (fail closed),
// verb allowlist and arguments, replay. Pure: time is passed in. One
// validator per session (it owns the replay cache).
#pragma once

#include <cstdint>
#include <set>
#include <string>

#include <optional>

#include "protocol/envelope.hpp"
#include "protocol/replay_cache.hpp"

namespace berth::protocol {

struct ValidationPolicy {
  std::size_t max_frame_bytes = 1 << 20;
  std::int64_t max_clock_skew_ms = 60'000;
  std::size_t replay_capacity = 4096;
  std::set<FrameType> accepted_types;
  std::set<std::string> allowed_verbs;  // checked on COMMAND frames, with their args (protocol/verb_args)
  // Frames of these types must carry a signature that verifies against
  // `command_public_key`; with no key they are all refused (fail closed).
  std::set<FrameType> signed_types;
  std::string command_public_key;
  std::string expected_agent_id;           // when set, frames addressed to another node are refused
  std::int64_t max_lifetime_ms = 600'000;  // expires_at - issued_at
};

// What the validator saw of the last frame it refused: whether it was an
// ERROR (never answered with another ERROR) and the command it named.
struct Refused {
  std::optional<FrameType> type;
  std::string correlation_id;
  std::int64_t issued_at = 0;
};

class FrameValidator {
 public:
  explicit FrameValidator(ValidationPolicy policy) : policy_(std::move(policy)), replay_(policy_.replay_capacity, policy_.max_clock_skew_ms) {}

  Result<Envelope> accept(std::string_view bytes, std::int64_t now_ms);
  const ValidationPolicy& policy() const { return policy_; }
  const Refused& lastRefused() const { return refused_; }

 private:
  Result<void> check(const Envelope& e, std::int64_t now_ms);

  ValidationPolicy policy_;
  Refused refused_;
  ReplayCache replay_;
};

// An ERROR frame answering a rejected one.
Envelope makeErrorFrame(const Error& error, const std::string& agent_id, const std::string& correlation_id,
                        std::int64_t now_ms);

}  // namespace berth::protocol
