#include "agent/command_runner.hpp"

#include <gtest/gtest.h>

#include "protocol/signing.hpp"

namespace berth::agent {
namespace {

TEST(ResultCache, RemembersRunningAndFinishedCommands) {
  ResultCache cache(8);
  EXPECT_EQ(cache.status("c1"), ResultCache::Status::New);
  cache.markRunning("c1");
  EXPECT_EQ(cache.status("c1"), ResultCache::Status::Running);
  EXPECT_EQ(cache.result("c1"), nullptr);
  cache.finish("c1", VerbOutcome{true, 0, {{"pong", true}}, "", ""});
  EXPECT_EQ(cache.status("c1"), ResultCache::Status::Done);
  ASSERT_NE(cache.result("c1"), nullptr);
  EXPECT_EQ(cache.result("c1")->output["pong"], true);
}

TEST(ResultCache, ForgetsTheOldestFinishedBeyondCapacity) {
  ResultCache cache(2);
  for (const char* id : {"a", "b", "c"}) {
    cache.markRunning(id);
    cache.finish(id, VerbOutcome{});
  }
  EXPECT_EQ(cache.status("a"), ResultCache::Status::New);
  EXPECT_EQ(cache.status("c"), ResultCache::Status::Done);
}

TEST(ResultFrame, MarksReplaysAndFailures) {
  auto ok = resultFrame("n_1", "c1", VerbOutcome{true, 0, {{"x", 1}}, "", ""}, true, 1000);
  EXPECT_EQ(ok.data["status"], "succeeded");
  EXPECT_EQ(ok.data["replayed"], true);
  EXPECT_FALSE(ok.error.has_value());
  auto failed = resultFrame("n_1", "c2", VerbOutcome{false, 2, {}, "invalid_argument", "bad"}, false, 1000);
  EXPECT_EQ(failed.data["status"], "failed");
  ASSERT_TRUE(failed.error.has_value());
  EXPECT_EQ(failed.error->code, "invalid_argument");
}

// The agent refuses a COMMAND whose signature is not the server's, even though
// every other check passes.
TEST(AgentPolicy, RefusesCommandsNotSignedByTheServer) {
  auto server = protocol::generateSigningKey();
  auto attacker = protocol::generateSigningKey();
  protocol::FrameValidator validator(agentPolicy("n_1", server.public_key, {"ping"}, 60'000, 1 << 20));
  protocol::Envelope e;
  e.type = protocol::FrameType::Command;
  e.agent_id = "n_1";
  e.correlation_id = "c1";
  e.issued_at = 1000;
  e.expires_at = 5000;
  e.nonce = "0123456789abcdef";
  e.verb = "ping";
  protocol::sign(e, attacker.secret_key);
  auto r = validator.accept(protocol::serialize(e), 1000);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, protocol::codes::kBadSignature);
  protocol::sign(e, server.secret_key);
  EXPECT_TRUE(validator.accept(protocol::serialize(e), 1000).ok());
}

class AgentPolicyTest : public ::testing::Test {
 protected:
  protocol::SigningKeyPair server = protocol::generateSigningKey();
  int nonces = 0;
  protocol::Envelope frame(protocol::FrameType type, const std::string& to = "n_1") {
    protocol::Envelope e;
    e.type = type;
    e.agent_id = to;
    e.issued_at = 1000;
    e.expires_at = 5000;
    e.nonce = "0123456789abcd" + std::to_string(10 + nonces++);
    if (type == protocol::FrameType::Command) {
      e.correlation_id = "c1";
      e.verb = "ping";
    }
    return e;
  }
  std::string code(protocol::FrameValidator& v, protocol::Envelope e, bool sign = true) {
    if (sign) protocol::sign(e, server.secret_key);
    auto r = v.accept(protocol::serialize(e), 1000);
    return r ? "accepted" : r.error().code;
  }
};

TEST_F(AgentPolicyTest, ACommandForAnotherNodeIsNotRun) {
  protocol::FrameValidator v(agentPolicy("n_1", server.public_key, {"ping"}, 60'000, 1 << 20));
  EXPECT_EQ(code(v, frame(protocol::FrameType::Command, "n_2")), protocol::codes::kSchema);
  EXPECT_EQ(code(v, frame(protocol::FrameType::Command)), "accepted");
}

TEST_F(AgentPolicyTest, EnvelopesLiveAtMostTheMaximumLifetime) {
  protocol::FrameValidator v(agentPolicy("n_1", server.public_key, {"ping"}, 60'000, 1 << 20, 600'000));
  auto e = frame(protocol::FrameType::Command);
  e.expires_at = e.issued_at + 10LL * 365 * 86400 * 1000;  // ten years
  EXPECT_EQ(code(v, e), protocol::codes::kSchema);
  e.expires_at = e.issued_at + 600'000;
  EXPECT_EQ(code(v, e), "accepted");
}

TEST_F(AgentPolicyTest, WithoutASigningKeyEveryCommandIsRefused) {
  protocol::FrameValidator v(agentPolicy("n_1", "", {"ping"}, 60'000, 1 << 20));
  EXPECT_EQ(code(v, frame(protocol::FrameType::Command)), protocol::codes::kBadSignature);
}

TEST_F(AgentPolicyTest, SettingsComeOnlyFromSignedFrames) {
  protocol::FrameValidator v(agentPolicy("n_1", server.public_key, {"ping"}, 60'000, 1 << 20));
  auto event = frame(protocol::FrameType::Event);
  event.data = {{"kind", "config"}, {"heartbeat_interval_s", 1}};
  EXPECT_EQ(code(v, event, false), protocol::codes::kBadSignature);  // unsigned
  event.signature = "AAAA";
  EXPECT_EQ(code(v, event, false), protocol::codes::kBadSignature);
  EXPECT_EQ(code(v, frame(protocol::FrameType::Welcome), false), protocol::codes::kBadSignature);
  EXPECT_EQ(code(v, event), "accepted");
  EXPECT_EQ(code(v, frame(protocol::FrameType::Heartbeat), false), "accepted");  // carries nothing to act on
}

TEST_F(AgentPolicyTest, UnexpectedArgumentsAreRefused) {
  protocol::FrameValidator v(agentPolicy("n_1", server.public_key, {"ping", "app.delete"}, 60'000, 1 << 20));
  auto e = frame(protocol::FrameType::Command);
  e.args = {{"cmd", "id; rm -rf /"}};
  EXPECT_EQ(code(v, e), protocol::codes::kBadArgs);
  auto del = frame(protocol::FrameType::Command);
  del.verb = "app.delete";
  del.args = {{"app", "web"}, {"volumes", "yes"}};  // wrong type: would throw in json::value
  EXPECT_EQ(code(v, del), protocol::codes::kBadArgs);
  del.args = {{"app", "web"}, {"volumes", true}};
  EXPECT_EQ(code(v, del), "accepted");
}

TEST(Verbs, PingValidatesItsDelay) {
  HostSampler sampler([](const std::string&) { return std::optional<std::string>(); });
  auto verbs = builtinVerbs(sampler, "test", "/");
  EXPECT_TRUE(verbs.run("ping", nlohmann::json::object()).ok);
  auto bad = verbs.run("ping", {{"delay_ms", -1}});
  EXPECT_FALSE(bad.ok);
  EXPECT_NE(bad.error_message.find("args.delay_ms"), std::string::npos);
  auto unknown = verbs.run("exec", {});
  EXPECT_EQ(unknown.error_code, "verb_not_allowed");
}

TEST(Verbs, HostMetricsReadsThroughTheHostReader) {
  HostSampler sampler([](const std::string& path) -> std::optional<std::string> {
    if (path == "/proc/meminfo") return "MemTotal: 100 kB\nMemAvailable: 40 kB\n";
    if (path == "/proc/loadavg") return "1.0 2.0 3.0 1/1 1\n";
    return std::nullopt;
  });
  auto m = sampler.metrics("/");
  EXPECT_EQ(m["memory"]["used_bytes"], 60 * 1024);
  EXPECT_EQ(m["load"][2], 3.0);
}

}  // namespace
}  // namespace berth::agent
