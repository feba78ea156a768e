#include "protocol/validator.hpp"

#include <gtest/gtest.h>

#include "protocol/signing.hpp"

namespace berth::protocol {
namespace {

constexpr std::int64_t kNow = 1'700'000'000'000;

class ValidatorTest : public ::testing::Test {
 protected:
  SigningKeyPair key = generateSigningKey();

  ValidationPolicy policy() {
    ValidationPolicy p;
    p.accepted_types = {FrameType::Command, FrameType::Heartbeat};
    p.allowed_verbs = {"ping"};
    p.command_public_key = key.public_key;
    p.signed_types = {FrameType::Command};
    p.max_frame_bytes = 4096;
    return p;
  }

  Envelope command(const std::string& nonce = "aaaaaaaaaaaaaaaa") {
    Envelope e;
    e.type = FrameType::Command;
    e.agent_id = "n_1";
    e.correlation_id = "c1";
    e.issued_at = kNow;
    e.expires_at = kNow + 30'000;
    e.nonce = nonce;
    e.verb = "ping";
    sign(e, key.secret_key);
    return e;
  }

  std::string rejectCode(FrameValidator& v, const Envelope& e, std::int64_t now = kNow) {
    auto r = v.accept(serialize(e), now);
    return r.ok() ? "accepted" : r.error().code;
  }
};

TEST_F(ValidatorTest, AcceptsASignedCommand) {
  FrameValidator v(policy());
  EXPECT_EQ(rejectCode(v, command()), "accepted");
}

TEST_F(ValidatorTest, RejectsAReplayedNonce) {
  FrameValidator v(policy());
  EXPECT_EQ(rejectCode(v, command()), "accepted");
  EXPECT_EQ(rejectCode(v, command()), codes::kReplay);
}

TEST_F(ValidatorTest, RejectsClockSkewBothWays) {
  FrameValidator v(policy());
  EXPECT_EQ(rejectCode(v, command("b000000000000000"), kNow + 61'000), codes::kClockSkew);
  EXPECT_EQ(rejectCode(v, command("b000000000000001"), kNow - 61'000), codes::kClockSkew);
  EXPECT_EQ(rejectCode(v, command("b000000000000002"), kNow + 29000), "accepted");
}

TEST_F(ValidatorTest, RejectsAnExpiredFrame) {
  FrameValidator v(policy());
  Envelope e = command();
  e.expires_at = kNow - 1;
  e.issued_at = kNow - 10;
  sign(e, key.secret_key);
  EXPECT_EQ(rejectCode(v, e), codes::kExpired);
}

TEST_F(ValidatorTest, RejectsAForgedSignature) {
  FrameValidator v(policy());
  Envelope e = command();
  sign(e, generateSigningKey().secret_key);  // another key
  EXPECT_EQ(rejectCode(v, e), codes::kBadSignature);
}

TEST_F(ValidatorTest, RejectsATamperedCommand) {
  FrameValidator v(policy());
  Envelope e = command();
  e.args = {{"delay_ms", 1}};  // changed after signing
  EXPECT_EQ(rejectCode(v, e), codes::kBadSignature);
}

TEST_F(ValidatorTest, ForgedFramesDoNotPoisonTheReplayCache) {
  FrameValidator v(policy());
  Envelope forged = command();
  sign(forged, generateSigningKey().secret_key);
  EXPECT_EQ(rejectCode(v, forged), codes::kBadSignature);
  EXPECT_EQ(rejectCode(v, command()), "accepted");
}

TEST_F(ValidatorTest, RejectsVerbsOffTheAllowlist) {
  FrameValidator v(policy());
  Envelope e = command();
  e.verb = "shell";
  sign(e, key.secret_key);
  EXPECT_EQ(rejectCode(v, e), codes::kVerbNotAllowed);
}

TEST_F(ValidatorTest, RejectsFrameTypesThisSideDoesNotTake) {
  FrameValidator v(policy());
  Envelope e = command();
  e.type = FrameType::Telemetry;
  e.signature.clear();
  EXPECT_EQ(rejectCode(v, e), codes::kUnexpected);
}

TEST_F(ValidatorTest, ErrorFrameCarriesTheCode) {
  auto e = makeErrorFrame(makeError(codes::kReplay, "again"), "n_1", "c1", kNow);
  auto parsed = parse(serialize(e), 4096);
  ASSERT_TRUE(parsed.ok());
  ASSERT_TRUE(parsed->error.has_value());
  EXPECT_EQ(parsed->error->code, codes::kReplay);
  EXPECT_EQ(parsed->correlation_id, "c1");
}

}  // namespace
}  // namespace berth::protocol
