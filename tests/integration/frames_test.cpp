// Servers started: one `berth server` on 127.0.0.1; the test itself plays the
// agent over a real mutual-TLS WebSocket and sends bad frames.
#include <gtest/gtest.h>

#include <thread>

#include "agent/enrollment.hpp"
#include "common/clock.hpp"
#include "common/encoding.hpp"
#include "common/ids.hpp"
#include "harness.hpp"
#include "pki/sealed_file.hpp"
#include "protocol/envelope.hpp"
#include "protocol/signing.hpp"

namespace berth::itest {
namespace {

using protocol::Envelope;
using protocol::FrameType;

// A HELLO from `node_id` carrying `data`, as the raw-connection tests send it.
std::string helloFrame(const std::string& node_id, const nlohmann::json& data) {
  Envelope e = rawAgentFrame(node_id, FrameType::Hello);
  e.data = data;
  return protocol::serialize(e);
}

class FramesTest : public ::testing::Test {
 protected:
  Cluster c;
  agent::AgentState state;
  RawAgentConnection conn;

  void SetUp() override {
    c.startServer({"--max-frame-bytes", "4096"});
    auto enrolled = agent::enroll({c.url(), c.createToken(), c.caPin(), "raw"});
    ASSERT_TRUE(enrolled.ok()) << enrolled.error().message;
    state = *enrolled;
    ASSERT_TRUE(conn.connect(c.url(), state).ok());
    Envelope hello = frame(FrameType::Hello);
    hello.data = {{"hostname", "raw"}, {"version", "test"}};
    conn.send(protocol::serialize(hello));
    auto welcome = nextOfType("WELCOME");
    ASSERT_TRUE(welcome.has_value());
    EXPECT_EQ((*welcome)["data"]["heartbeat_interval_s"], 20);
  }

  Envelope frame(FrameType type) { return rawAgentFrame(state.node_id, type); }

  std::optional<nlohmann::json> nextOfType(const std::string& type) {
    for (int i = 0; i < 10; ++i) {
      auto text = conn.read();
      if (!text) return std::nullopt;
      auto j = nlohmann::json::parse(*text);
      if (j["type"] == type) return j;
    }
    return std::nullopt;
  }

  std::string rejection(const std::string& text) {
    conn.send(text);
    auto error = nextOfType("ERROR");
    return error ? (*error)["error"]["code"].get<std::string>() : "no ERROR frame";
  }

  std::string metrics() { return c.api("GET", "/metrics").body.get<std::string>(); }
};

TEST_F(FramesTest, ReplayedFrameIsRejected) {
  const std::string text = protocol::serialize(frame(FrameType::Heartbeat));
  conn.send(text);
  EXPECT_EQ(rejection(text), "replayed_nonce");
}

TEST_F(FramesTest, ExpiredFrameIsRejected) {
  Envelope e = frame(FrameType::Heartbeat);
  e.issued_at -= 10'000;
  e.expires_at = e.issued_at + 1'000;
  EXPECT_EQ(rejection(protocol::serialize(e)), "expired");
}

TEST_F(FramesTest, SkewedClockIsRejected) {
  Envelope e = frame(FrameType::Heartbeat);
  e.issued_at += 120'000;
  e.expires_at = e.issued_at + 1'000;
  EXPECT_EQ(rejection(protocol::serialize(e)), "clock_skew");
}

TEST_F(FramesTest, OversizedFrameIsRejected) {
  Envelope e = frame(FrameType::Telemetry);
  e.data = {{"padding", std::string(5000, 'x')}};
  EXPECT_EQ(rejection(protocol::serialize(e)), "frame_too_large");
}

TEST_F(FramesTest, MalformedAndSchemaViolatingFramesAreRejected) {
  EXPECT_EQ(rejection("{this is not json"), "malformed_frame");
  auto j = protocol::toJson(frame(FrameType::Heartbeat));
  j.erase("nonce");
  EXPECT_EQ(rejection(j.dump()), "schema_violation");
  Envelope other = frame(FrameType::Heartbeat);
  other.agent_id = "n_someone_else";
  EXPECT_EQ(rejection(protocol::serialize(other)), "schema_violation");
  // The agent may not send COMMAND frames.
  Envelope command = frame(FrameType::Command);
  command.correlation_id = "c";
  command.verb = "ping";
  command.signature = "AAAA";
  EXPECT_EQ(rejection(protocol::serialize(command)), "unexpected_frame");
  // Rejections are counted per code, and the session survived them all.
  const auto text = metrics();
  EXPECT_NE(text.find("berth_frames_rejected_total{code=\"malformed_frame\"} 1"), std::string::npos) << text;
  EXPECT_NE(text.find("berth_frames_rejected_total{code=\"schema_violation\"} 2"), std::string::npos) << text;
  EXPECT_EQ(c.node(state.node_id)["connected"], true);
}

TEST_F(FramesTest, ErrorFramesAreNeverAnsweredWithErrorFrames) {
  // An ERROR the server must refuse (its clock is two minutes off) gets no answer...
  Envelope error = frame(FrameType::Error);
  error.issued_at += 120'000;
  error.expires_at = error.issued_at + 1'000;
  error.error = protocol::ErrorInfo{"clock_skew", "yours is wrong"};
  conn.send(protocol::serialize(error));
  // ...so the next ERROR to arrive answers the replay sent after it.
  const std::string text = protocol::serialize(frame(FrameType::Heartbeat));
  conn.send(text);
  EXPECT_EQ(rejection(text), "replayed_nonce");
  // The skew is shown on the node instead of a bare "unreachable".
  auto node = c.node(state.node_id);
  EXPECT_GT(node["clock_skew_ms"].get<std::int64_t>(), 100'000) << node.dump();
  EXPECT_NE(node["last_refusal"].get<std::string>().find("clock_skew"), std::string::npos) << node.dump();
}

TEST_F(FramesTest, RejectionsAreRateLimitedPerSession) {
  for (int i = 0; i < 200; ++i) conn.send("{not json " + std::to_string(i));
  int answers = 0;
  while (auto text = conn.read(std::chrono::milliseconds(1500))) {
    if (nlohmann::json::parse(*text)["type"] == "ERROR") ++answers;
  }
  EXPECT_GT(answers, 0);
  EXPECT_LE(answers, 15);  // a burst of 10, refilled at one a second
  EXPECT_NE(metrics().find("berth_frames_rejected_total{code=\"unanswered\"}"), std::string::npos);
}

TEST_F(FramesTest, ReplayedTelemetryIsNotStoredAgainOnANewSession) {
  Envelope t = frame(FrameType::Telemetry);
  t.data = {{"seq", 7}, {"cpu_percent", 1.0}};
  conn.send(protocol::serialize(t));
  EXPECT_TRUE(eventually([&] {
    return c.api("GET", "/api/v1/nodes/" + state.node_id + "/telemetry").body["history"].size() == 1;
  }));
  Envelope missing = frame(FrameType::Telemetry);
  missing.data = {{"cpu_percent", 2.0}};
  EXPECT_EQ(rejection(protocol::serialize(missing)), "schema_violation");
  // A new connection (as after a reconnect or a server restart) replays the same sequence number.
  RawAgentConnection again;
  ASSERT_TRUE(again.connect(c.url(), state).ok());
  Envelope hello = frame(FrameType::Hello);
  hello.data = {{"hostname", "raw"}, {"version", "test"}};
  again.send(protocol::serialize(hello));
  Envelope replay = frame(FrameType::Telemetry);  // fresh nonce and time, old sequence
  replay.data = t.data;
  bool refused = false;
  for (int i = 0; i < 5 && !refused; ++i) {
    auto text = again.read();
    if (!text) break;
    auto j = nlohmann::json::parse(*text);
    if (j["type"] == "WELCOME") again.send(protocol::serialize(replay));
    if (j["type"] == "ERROR") refused = j["error"]["message"].get<std::string>().find("seq") != std::string::npos;
  }
  EXPECT_TRUE(refused);
  EXPECT_EQ(c.api("GET", "/api/v1/nodes/" + state.node_id + "/telemetry").body["history"].size(), 1u);
}

// An agent that never answers the close frame (frozen, or its network gone)
// leaves its session in the table when the loops stop; freeing it must not
// crash the server's exit (it did once: the network loops were freed first).
TEST_F(FramesTest, AServerStoppedWhileItsAgentIgnoresTheCloseExitsCleanly) {
  c.server().signal(SIGTERM);
  EXPECT_EQ(c.server().wait(std::chrono::seconds(20)), 0) << c.server().log();
}

// A node sending faster than the 1 s flush costs one stored sample per flush,
// the newest: every frame is either stored or counted as coalesced.
TEST_F(FramesTest, ABurstOfTelemetryIsStoredAsItsNewestSamplePerFlush) {
  constexpr int kFrames = 50;
  for (int seq = 1; seq <= kFrames; ++seq) {
    Envelope t = frame(FrameType::Telemetry);
    t.data = {{"seq", seq}, {"cpu_percent", static_cast<double>(seq)}};
    conn.send(protocol::serialize(t));
  }
  auto coalesced = [&] { return c.metric("berth_telemetry_coalesced_total"); };
  nlohmann::json history;
  EXPECT_TRUE(eventually([&] {
    history = c.api("GET", "/api/v1/nodes/" + state.node_id + "/telemetry").body["history"];
    return history.size() + static_cast<std::size_t>(std::max<std::int64_t>(coalesced(), 0)) == kFrames;
  })) << history.dump() << " coalesced " << coalesced();
  ASSERT_FALSE(history.empty());
  EXPECT_LT(history.size(), static_cast<std::size_t>(kFrames)) << "a burst inside one flush is one row";
  std::int64_t newest = 0;
  for (const auto& sample : history) newest = std::max(newest, sample["data"]["seq"].get<std::int64_t>());
  EXPECT_EQ(newest, kFrames) << "the latest view is the last frame sent: " << history.dump();
}

TEST_F(FramesTest, PayloadsOfTheWrongTypeAreRefusedNamingTheFieldNotThrown) {
  Envelope log = frame(FrameType::Log);
  log.data = {{"app", "web"}, {"lines", {{{"at", "soon"}, {"text", "x"}}}}};
  conn.send(protocol::serialize(log));
  auto error = nextOfType("ERROR");
  ASSERT_TRUE(error.has_value());
  EXPECT_NE((*error)["error"]["message"].get<std::string>().find("data.lines[0].at"), std::string::npos) << error->dump();
  Envelope event = frame(FrameType::Event);
  event.data = {{"kind", 42}};
  conn.send(protocol::serialize(event));
  const std::string beat = protocol::serialize(frame(FrameType::Heartbeat));
  conn.send(beat);
  EXPECT_EQ(rejection(beat), "replayed_nonce");  // the session is still served
  EXPECT_EQ(c.node(state.node_id)["connected"], true);
}

// Servers started: one `berth server`; the test plays a node whose HELLO
// carries terminal escapes meant for the operator reading `berth node ls`.
TEST(Handshake, AHelloWithControlCharactersIsRefusedNamingTheField) {
  Cluster c;
  c.startServer();
  auto enrolled = agent::enroll({c.url(), c.createToken(), c.caPin(), "plain"});
  ASSERT_TRUE(enrolled.ok());
  RawAgentConnection conn;
  ASSERT_TRUE(conn.connect(c.url(), *enrolled).ok());
  auto hello = [&](const std::string& hostname) {
    conn.send(helloFrame(enrolled->node_id, {{"hostname", hostname}, {"version", "test"}}));
    auto answer = conn.read();
    return answer ? nlohmann::json::parse(*answer) : nlohmann::json();
  };
  auto refused = hello("evil\x1b[31mRED\x1b]0;pwned\x07");
  EXPECT_EQ(refused["type"], "ERROR") << refused.dump();
  EXPECT_NE(refused["error"]["message"].get<std::string>().find("data.hostname"), std::string::npos) << refused.dump();
  EXPECT_EQ(c.node(enrolled->node_id)["hostname"], "plain");
  EXPECT_EQ(hello("web-1")["type"], "WELCOME");
  EXPECT_EQ(c.node(enrolled->node_id)["hostname"], "web-1");
}

// Servers started: one `berth server`; the test connects with a valid certificate and stays silent.
TEST(Handshake, ASessionWithoutHelloIsClosed) {
  Cluster c;
  c.startServer();
  auto enrolled = agent::enroll({c.url(), c.createToken(), c.caPin(), "silent"});
  ASSERT_TRUE(enrolled.ok());
  RawAgentConnection conn;
  ASSERT_TRUE(conn.connect(c.url(), *enrolled).ok());
  EXPECT_FALSE(conn.read(std::chrono::seconds(30)).has_value());
  // The server closed it (rather than the read giving up): it says so.
  EXPECT_NE(c.server().log().find("no HELLO in time"), std::string::npos) << c.server().log();
}

// Servers started: one `berth server` capping loopback at 2 connections per
// address; the test opens agent WebSockets with a valid certificate and stays
// silent. Until its HELLO is welcomed a WebSocket counts against the address,
// so one certificate cannot hold thousands of them open for the HELLO deadline.
TEST(Handshake, WebSocketsWaitingForHelloCountAgainstTheirAddress) {
  Cluster c;
  c.startServer({"--max-connections-per-address", "2", "--limit-loopback-connections", "true"});
  auto enrolled = agent::enroll({c.url(), c.createToken(), c.caPin(), "many"});
  ASSERT_TRUE(enrolled.ok());
  std::vector<std::unique_ptr<RawAgentConnection>> silent;
  for (int i = 0; i < 2; ++i) {
    silent.push_back(std::make_unique<RawAgentConnection>());
    ASSERT_TRUE(silent.back()->connect(c.url(), *enrolled).ok()) << i;
  }
  RawAgentConnection third;
  EXPECT_FALSE(third.connect(c.url(), *enrolled).ok());
  // A welcomed HELLO makes the first one a session, which no longer counts. (WELCOME is written
  // before the network thread hears the count was released: the next connection may race it.)
  silent[0]->send(helloFrame(enrolled->node_id, {{"hostname", "many"}, {"version", "test"}}));
  auto welcome = silent[0]->read();
  ASSERT_TRUE(welcome.has_value());
  EXPECT_EQ(nlohmann::json::parse(*welcome)["type"], "WELCOME") << *welcome;
  std::unique_ptr<RawAgentConnection> fourth;
  EXPECT_TRUE(eventually([&] {
    fourth = std::make_unique<RawAgentConnection>();
    return fourth->connect(c.url(), *enrolled).ok();
  }, std::chrono::seconds(5)));
}

// Servers started: one `berth server`; the test sends a refused HELLO every
// 2 s. Each one is answered, but none moves the 10 s HELLO deadline.
TEST(Handshake, RefusedHellosDoNotKeepASessionOpenPastTheHelloDeadline) {
  Cluster c;
  c.startServer();
  auto enrolled = agent::enroll({c.url(), c.createToken(), c.caPin(), "stubborn"});
  ASSERT_TRUE(enrolled.ok());
  RawAgentConnection conn;
  ASSERT_TRUE(conn.connect(c.url(), *enrolled).ok());
  const auto started = std::chrono::steady_clock::now();
  bool closed = false;
  while (std::chrono::steady_clock::now() - started < std::chrono::seconds(30)) {
    // Refused: hostname must be a string.
    conn.send(helloFrame(enrolled->node_id, {{"hostname", 42}, {"version", "test"}}));
    if (!conn.read().has_value()) {
      closed = true;
      break;
    }
    std::this_thread::sleep_for(std::chrono::seconds(2));
  }
  EXPECT_TRUE(closed) << "refused HELLOs kept the session open for 30 s";
  EXPECT_NE(c.server().log().find("no HELLO in time"), std::string::npos) << c.server().log();
}

// Servers started: `berth server` (twice) and a `berth agent`. The server's
// signing key is replaced between the two starts, so every COMMAND it signs
// afterwards is a forgery from the agent's point of view.
TEST(ForgedSignature, AgentRefusesCommandsNotSignedByItsServer) {
  Cluster c;
  c.startServer();
  const std::string id = c.startOnlineAgent("a1");
  c.agent("a1").signal(SIGTERM);
  c.agent("a1").wait();
  c.killServer(SIGTERM);
  auto impostor = protocol::generateSigningKey();
  ASSERT_TRUE(pki::writePrivateFile(c.serverDir() + "/pki/signing.key", base64Encode(impostor.secret_key)).ok());
  ASSERT_TRUE(pki::writePrivateFile(c.serverDir() + "/pki/signing.pub", base64Encode(impostor.public_key)).ok());
  c.startServer();
  c.startOnlineAgent("a1");
  auto sent = c.api("POST", "/api/v1/nodes/" + id + "/commands", {{"verb", "ping"}});
  auto command = c.waitForCommand(sent.body["id"]);
  EXPECT_EQ(command["state"], "failed");
  EXPECT_NE(command["error"].get<std::string>().find("bad_signature"), std::string::npos) << command.dump();
  const auto log = c.agent("a1").log();
  EXPECT_NE(log.find("\"code\":\"bad_signature\""), std::string::npos);
  EXPECT_EQ(log.find("executing command"), std::string::npos) << "a forged command ran";
}

}  // namespace
}  // namespace berth::itest

namespace berth::itest {
namespace {

// agent_frames_per_s: a session that floods is closed and counted; its node can come back.
TEST(AgentFrameRate, ASessionOverItsFrameRateIsClosedAndCounted) {
  Cluster c;
  c.startServer({"--agent-frames-per-s", "1", "--agent-frames-burst", "5"});
  auto enrolled = agent::enroll({c.url(), c.createToken(), c.caPin(), "flood"});
  ASSERT_TRUE(enrolled.ok()) << enrolled.error().message;
  RawAgentConnection conn;
  ASSERT_TRUE(conn.connect(c.url(), *enrolled).ok());
  conn.send(helloFrame(enrolled->node_id, {{"hostname", "flood"}, {"version", "test"}}));
  bool welcomed = false;
  for (int i = 0; i < 5 && !welcomed; ++i) {
    auto text = conn.read();
    welcomed = text && nlohmann::json::parse(*text)["type"] == "WELCOME";
  }
  ASSERT_TRUE(welcomed);
  for (int i = 0; i < 30; ++i) {
    conn.send(protocol::serialize(rawAgentFrame(enrolled->node_id, FrameType::Heartbeat)));
  }
  // The server closes the connection: reads end (whatever was queued before comes first).
  bool closed = false;
  for (int i = 0; i < 40 && !closed; ++i) closed = !conn.read(std::chrono::seconds(2)).has_value();
  EXPECT_TRUE(closed);
  EXPECT_TRUE(eventually([&] {
    const auto m = c.api("GET", "/metrics").body.get<std::string>();
    return m.find("berth_agent_frames_rate_limited_total 1") != std::string::npos;
  }));
  // A new session of the same node is welcomed again.
  RawAgentConnection again;
  ASSERT_TRUE(again.connect(c.url(), *enrolled).ok());
  again.send(helloFrame(enrolled->node_id, {{"hostname", "flood"}, {"version", "test"}}));
  bool back = false;
  for (int i = 0; i < 5 && !back; ++i) {
    auto text = again.read();
    back = text && nlohmann::json::parse(*text)["type"] == "WELCOME";
  }
  EXPECT_TRUE(back);
}

}  // namespace
}  // namespace berth::itest
