#include "protocol/envelope.hpp"

#include <gtest/gtest.h>

namespace berth::protocol {
namespace {

Envelope heartbeat() {
  Envelope e;
  e.type = FrameType::Heartbeat;
  e.agent_id = "n_1";
  e.issued_at = 1000;
  e.expires_at = 2000;
  e.nonce = "0123456789abcdef";
  return e;
}

// A container's output or a subprocess's error text can hold any bytes; sending
// it must not throw (json::dump does by default), or the agent dies on the line.
TEST(Envelope, InvalidUtf8IsSentReplacedNotThrown) {
  Envelope e = heartbeat();
  e.type = FrameType::Log;
  e.data = {{"text", std::string("cut \xe4\xb8") + "\xff end"}};
  std::string text;
  ASSERT_NO_THROW(text = serialize(e));
  auto back = parse(text, 1 << 20);
  ASSERT_TRUE(back.ok()) << back.error().message;
  const std::string got = back->data["text"];
  EXPECT_EQ(got.rfind("cut ", 0), 0u) << got;
  EXPECT_NE(got.find("\xef\xbf\xbd end"), std::string::npos) << got;  // U+FFFD where the bad bytes were
}

TEST(Envelope, ANewOneIsIssuedNowForItsLifetimeWithItsOwnNonce) {
  const Envelope a = newEnvelope(FrameType::Telemetry, "n_1", 1'000, 30'000);
  const Envelope b = newEnvelope(FrameType::Telemetry, "n_1", 1'000, 30'000);
  EXPECT_EQ(a.type, FrameType::Telemetry);
  EXPECT_EQ(a.agent_id, "n_1");
  EXPECT_EQ(a.issued_at, 1'000);
  EXPECT_EQ(a.expires_at, 31'000);
  EXPECT_EQ(a.nonce.size(), 32u);
  EXPECT_NE(a.nonce, b.nonce);  // a replay cache key: never shared
}

TEST(Envelope, RoundTripsEveryField) {
  Envelope e;
  e.type = FrameType::Command;
  e.agent_id = "n_1";
  e.correlation_id = "c-1";
  e.issued_at = 10;
  e.expires_at = 20;
  e.nonce = "0123456789abcdef";
  e.verb = "ping";
  e.args = {{"delay_ms", 5}};
  e.signature = "c2ln";
  auto parsed = parse(serialize(e), 1 << 20);
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  EXPECT_EQ(parsed->type, FrameType::Command);
  EXPECT_EQ(parsed->verb, "ping");
  EXPECT_EQ(parsed->args["delay_ms"], 5);
  EXPECT_EQ(parsed->correlation_id, "c-1");
  EXPECT_EQ(parsed->signature, "c2ln");
}

TEST(Envelope, RefusesOversizedFrames) {
  auto text = serialize(heartbeat());
  auto r = parse(text, text.size() - 1);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, codes::kTooLarge);
}

TEST(Envelope, RefusesMalformedJson) {
  for (const char* text : {"{", "[]", "42", "", "{\"type\": }"}) {
    auto r = parse(text, 1024);
    ASSERT_FALSE(r.ok()) << text;
    EXPECT_EQ(r.error().code, codes::kMalformed) << text;
  }
}

TEST(Envelope, SchemaErrorsNameTheField) {
  const std::vector<std::pair<std::function<void(nlohmann::json&)>, std::string>> cases = {
      {[](nlohmann::json& j) { j.erase("nonce"); }, "nonce"},
      {[](nlohmann::json& j) { j["nonce"] = "short"; }, "nonce"},
      {[](nlohmann::json& j) { j["issued_at"] = "yesterday"; }, "issued_at"},
      {[](nlohmann::json& j) { j["expires_at"] = 10; }, "expires_at"},
      {[](nlohmann::json& j) { j["type"] = "SHOUT"; }, "type"},
      {[](nlohmann::json& j) { j["data"] = 5; }, "data"},
      {[](nlohmann::json& j) { j["verb"] = "ping"; }, "verb"},
      {[](nlohmann::json& j) { j["surprise"] = true; }, "surprise"},
      {[](nlohmann::json& j) { j["type"] = "ERROR"; }, "error"},
      {[](nlohmann::json& j) { j["type"] = "RESULT"; }, "correlation_id"},
  };
  for (const auto& [mutate, field] : cases) {
    auto j = toJson(heartbeat());
    mutate(j);
    auto r = parse(j.dump(), 1 << 20);
    ASSERT_FALSE(r.ok()) << j.dump();
    EXPECT_EQ(r.error().code, codes::kSchema) << j.dump();
    EXPECT_NE(r.error().message.find("'" + field + "'"), std::string::npos) << r.error().message;
  }
}

TEST(Envelope, CommandNeedsSignatureAndCorrelation) {
  nlohmann::json j = toJson(heartbeat());
  j["type"] = "COMMAND";
  j.erase("data");
  j["verb"] = "ping";
  auto r = parse(j.dump(), 1 << 20);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("correlation_id"), std::string::npos);
  j["correlation_id"] = "c1";
  r = parse(j.dump(), 1 << 20);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("signature"), std::string::npos);
}

}  // namespace
}  // namespace berth::protocol
