// libFuzzer target over frame parsing and validation, as both sides see it.
// Invariants: nothing crashes or leaks; a frame that parses re-serialises to a
// frame that parses to the same JSON; a COMMAND accepted by the agent's
// validator carries a signature that verifies.
#include <sodium.h>

#include <cstdint>
#include <string_view>

#include "protocol/agent_frames.hpp"
#include "protocol/envelope.hpp"
#include "protocol/signing.hpp"
#include "protocol/validator.hpp"

namespace {

using namespace berth::protocol;

const SigningKeyPair& serverKey() {
  static const SigningKeyPair key = [] {
    if (sodium_init() < 0) __builtin_trap();
    return generateSigningKey();
  }();
  return key;
}

constexpr std::int64_t kNow = 1'700'000'000'000;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto parsed = parse(bytes, 1 << 16);
  if (parsed.ok()) {
    const auto again = parse(serialize(*parsed), 1 << 20);
    if (!again.ok() || toJson(*again) != toJson(*parsed)) __builtin_trap();
  }

  ValidationPolicy agentSide;
  agentSide.accepted_types = {FrameType::Welcome, FrameType::Heartbeat, FrameType::Command, FrameType::Event,
                              FrameType::Error};
  agentSide.allowed_verbs = {"ping", "host.info", "host.metrics"};
  agentSide.command_public_key = serverKey().public_key;
  agentSide.signed_types = {FrameType::Welcome, FrameType::Command, FrameType::Event};
  FrameValidator agent(agentSide);
  auto accepted = agent.accept(bytes, kNow);
  if (accepted.ok() && accepted->type == FrameType::Command && !verify(*accepted, serverKey().public_key)) {
    __builtin_trap();
  }

  ValidationPolicy serverSide;
  serverSide.accepted_types = {FrameType::Hello, FrameType::Heartbeat, FrameType::Telemetry, FrameType::Result,
                               FrameType::Log,   FrameType::Event,     FrameType::Error};
  FrameValidator server(serverSide);
  if (auto frame = server.accept(bytes, kNow)) {
    // The typed payload parsers the server runs next: they refuse, never throw.
    (void)parseAppEvent(frame->data);
    (void)parseLogFrame(frame->data);
    (void)parseResultFrame(frame->data);
    (void)eventKind(frame->data);
  }
  return 0;
}
