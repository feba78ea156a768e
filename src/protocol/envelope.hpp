// The berth-agent-v1 wire envelope: one JSON object per WebSocket text frame.
// Pure value types and (de)serialisation; no I/O. See docs/protocol.md.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.hpp"

namespace berth::protocol {

inline constexpr const char* kSubprotocol = "berth-agent-v1";

enum class FrameType { Hello, Welcome, Heartbeat, Telemetry, Command, Result, Log, Event, Error };

std::string_view frameTypeName(FrameType type);
std::optional<FrameType> parseFrameType(std::string_view name);

struct ErrorInfo {
  std::string code;
  std::string message;
};

struct Envelope {
  FrameType type = FrameType::Heartbeat;
  std::string correlation_id;  // COMMAND/RESULT pairing; also idempotency key on the agent
  std::string agent_id;
  std::int64_t issued_at = 0;                      // unix ms
  std::int64_t expires_at = 0;                     // unix ms
  std::string nonce;                               // unique per frame; replay cache key
  std::string verb;                                // COMMAND only
  nlohmann::json args = nlohmann::json::object();  // COMMAND only
  nlohmann::json data = nlohmann::json::object();  // every other type
  std::optional<ErrorInfo> error;                  // ERROR, failed RESULT
  std::string signature;                           // base64 Ed25519, COMMAND only
};

// Error codes every rejection carries (also in docs/protocol.md).
namespace codes {
inline constexpr const char* kTooLarge = "frame_too_large";
inline constexpr const char* kMalformed = "malformed_frame";
inline constexpr const char* kSchema = "schema_violation";
inline constexpr const char* kClockSkew = "clock_skew";
inline constexpr const char* kExpired = "expired";
inline constexpr const char* kReplay = "replayed_nonce";
inline constexpr const char* kVerbNotAllowed = "verb_not_allowed";
inline constexpr const char* kBadArgs = "invalid_args";
inline constexpr const char* kBadSignature = "bad_signature";
inline constexpr const char* kUnexpected = "unexpected_frame";
}  // namespace codes

// A new frame from or to `agent_id`: issued at `now_ms`, valid `lifetime_ms`, with a fresh nonce.
Envelope newEnvelope(FrameType type, std::string agent_id, std::int64_t now_ms, std::int64_t lifetime_ms);

nlohmann::json toJson(const Envelope& envelope, bool include_signature = true);
std::string serialize(const Envelope& envelope);

// Parses and checks the schema. Fails with kTooLarge when `bytes` exceeds
// `max_bytes`, kMalformed when it is not a JSON object, kSchema when a field is
// missing, has the wrong type, or does not belong to the frame type.
Result<Envelope> parse(std::string_view bytes, std::size_t max_bytes);

}  // namespace berth::protocol
