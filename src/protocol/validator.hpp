// Every inbound frame passes through a FrameValidator: size, schema, accepted
// type, clock skew, expiry, signature (COMMAND), verb allowlist, replay. Pure:
// time is passed in. One validator per session (it owns the replay cache).
#pragma once

#include <cstdint>
#include <set>
#include <string>

#include "protocol/envelope.hpp"
#include "protocol/replay_cache.hpp"

namespace berth::protocol {

struct ValidationPolicy {
  std::size_t max_frame_bytes = 1 << 20;
  std::int64_t max_clock_skew_ms = 60'000;
  std::size_t replay_capacity = 4096;
  std::set<FrameType> accepted_types;
  std::set<std::string> allowed_verbs;  // checked on COMMAND frames
  std::string command_public_key;       // when set, COMMAND signatures must verify
};

class FrameValidator {
 public:
  explicit FrameValidator(ValidationPolicy policy) : policy_(std::move(policy)), replay_(policy_.replay_capacity) {}

  Result<Envelope> accept(std::string_view bytes, std::int64_t now_ms);
  const ValidationPolicy& policy() const { return policy_; }

 private:
  ValidationPolicy policy_;
  ReplayCache replay_;
};

// An ERROR frame answering a rejected one.
Envelope makeErrorFrame(const Error& error, const std::string& agent_id, const std::string& correlation_id,
                        std::int64_t now_ms);

}  // namespace berth::protocol
