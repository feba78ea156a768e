// Faults injected into real processes. Servers started: `berth server` with
// its data directory on a small tmpfs (mounted here, needs root) and a
// `berth agent`, on 127.0.0.1 with mutual TLS.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "agent/enrollment.hpp"
#include "common/clock.hpp"
#include "common/ids.hpp"
#include "disk_support.hpp"
#include "harness.hpp"
#include "protocol/envelope.hpp"
#include "net/http_client.hpp"
#include "pki/sealed_file.hpp"

namespace berth::itest {
namespace {

net::HttpResponse rawPost(Cluster& c, const std::string& target, const std::string& body) {
  auto tls = net::makeClientContext({*pki::readFile(c.caFile()), "", ""});
  auto r = net::httpsRequest(*net::parseUrl(c.url()), **tls,
                             {"POST", target, body, {{"Authorization", "Bearer " + c.apiKey()}}});
  EXPECT_TRUE(r.ok());
  return r.ok() ? *r : net::HttpResponse{};
}

TEST(DiskFull, WritesAnswer503AndRefusedCommandsNeverRun) {
  Cluster c;
  TmpfsMount disk(c.serverDir(), "24m");
  ASSERT_TRUE(disk.mounted()) << "mounting a tmpfs needs root";
  c.startServer();
  const std::string id = c.startOnlineAgent("a1");
  auto before = c.api("GET", "/api/v1/commands?node=" + id).body["commands"].size();

  fillDisk(c.serverDir() + "/filler");
  int refused = 0;
  for (int i = 0; i < 5; ++i) {  // several, so the WAL has to grow past what it had
    auto r = rawPost(c, "/api/v1/nodes/" + id + "/commands", R"({"verb":"ping","correlation_id":"full-)" +
                                                               std::to_string(i) + R"("})");
    if (r.status == 202) continue;
    ++refused;
    EXPECT_EQ(r.status, 503) << r.body;
    EXPECT_EQ(r.headers["retry-after"], "5");
    EXPECT_NE(r.body.find("store_unavailable"), std::string::npos) << r.body;
  }
  ASSERT_GT(refused, 0) << "the full disk refused nothing";
  // Nothing refused reached the agent.
  std::this_thread::sleep_for(std::chrono::seconds(2));
  const auto agentLog = c.agent("a1").log();
  const auto accepted = static_cast<int>(5 - refused);
  EXPECT_EQ(countOccurrences(agentLog, "\"verb\":\"ping\""), accepted) << agentLog;

  std::filesystem::remove(c.serverDir() + "/filler");
  auto after = c.api("POST", "/api/v1/nodes/" + id + "/commands", {{"verb", "ping"}});
  ASSERT_EQ(after.status, 202) << after.body.dump();
  EXPECT_EQ(c.waitForCommand(after.body["id"])["state"], "succeeded");
  // The store holds exactly the accepted commands plus the last one.
  EXPECT_EQ(c.api("GET", "/api/v1/commands?node=" + id).body["commands"].size(),
            before + static_cast<std::size_t>(accepted) + 1);
  c.killServer(SIGTERM);
}

// Servers started: one `berth server` and one `berth agent` whose state
// directory is a small tmpfs, filled while the agent runs.
TEST(AgentDiskFull, CommandsAreRefusedUnrecordedNeverRunAndRunAgainOnceSpaceReturns) {
  Cluster c;
  TmpfsMount disk(c.agentDir("a1"), "2m");
  ASSERT_TRUE(disk.mounted()) << "mounting a tmpfs needs root";
  c.startServer();
  const std::string id = c.startOnlineAgent("a1");
  auto first = c.api("POST", "/api/v1/nodes/" + id + "/commands", {{"verb", "ping"}});
  ASSERT_EQ(c.waitForCommand(first.body["id"])["state"], "succeeded");

  fillDisk(c.agentDir("a1") + "/filler");
  auto refused = c.api("POST", "/api/v1/nodes/" + id + "/commands", {{"verb", "ping"}, {"correlation_id", "full-1"}});
  ASSERT_EQ(refused.status, 202) << refused.body.dump();
  auto command = c.waitForCommand(refused.body["id"]);
  EXPECT_EQ(command["state"], "failed") << command.dump();
  EXPECT_NE(command["error"].get<std::string>().find("journal_unavailable"), std::string::npos) << command.dump();
  const auto log = c.agent("a1").log();
  EXPECT_NE(log.find("command journal not saved; command refused"), std::string::npos) << log;
  EXPECT_NE(log.find("\"correlation_id\":\"" + first.body["correlation_id"].get<std::string>() +
                     "\",\"level\":\"info\",\"msg\":\"executing command\""),
            std::string::npos)
      << "the log format changed; the next check would pass for nothing: " << log;
  EXPECT_EQ(log.find("\"correlation_id\":\"full-1\",\"level\":\"info\",\"msg\":\"executing command\""),
            std::string::npos)
      << log;
  EXPECT_TRUE(c.agent("a1").running());

  std::filesystem::remove(c.agentDir("a1") + "/filler");
  auto after = c.api("POST", "/api/v1/nodes/" + id + "/commands", {{"verb", "ping"}, {"correlation_id", "after-1"}});
  EXPECT_EQ(c.waitForCommand(after.body["id"])["state"], "succeeded");
  // And it was journaled: the file names it.
  auto journal = pki::readFile(c.agentDir("a1") + "/commands.json");
  ASSERT_TRUE(journal.ok());
  EXPECT_NE(journal->find("after-1"), std::string::npos);
  EXPECT_EQ(journal->find("full-1"), std::string::npos);
}

// Servers started: one `berth server` and one `berth agent` (telemetry every
// second); the test plays the same node in between to leave a sequence number
// that an agent numbering from a clock an hour behind would never pass.
TEST(ClockSteppedBack, TelemetryIsStillAcceptedAfterADamagedSequenceFile) {
  Cluster c;
  c.startServer({"--telemetry-interval-s", "1"});
  const std::string id = c.startOnlineAgent("a1");
  const std::string target = "/api/v1/nodes/" + id + "/telemetry?limit=1";
  ASSERT_TRUE(eventually([&] { return !c.api("GET", target).body["history"].empty(); }));
  c.agent("a1").signal(SIGTERM);
  ASSERT_NE(c.agent("a1").wait(), -1);

  // A previous run that fell back to its clock while the clock was an hour ahead.
  const auto state = c.agentState("a1");
  const std::int64_t ahead = (systemNowMs() + 3'600'000) * 1000;
  {
  RawAgentConnection conn;
  ASSERT_TRUE(conn.connect(c.url(), state).ok());
  auto frame = [&](protocol::FrameType type) { return rawAgentFrame(id, type); };
  auto hello = frame(protocol::FrameType::Hello);
  hello.data = {{"hostname", "a1"}, {"version", "test"}};
  conn.send(protocol::serialize(hello));
  ASSERT_TRUE(conn.read().has_value());  // WELCOME
  auto sample = frame(protocol::FrameType::Telemetry);
  sample.data = {{"seq", ahead}, {"cpu_percent", 1.0}};
  conn.send(protocol::serialize(sample));
  ASSERT_TRUE(eventually([&] {
    auto h = c.api("GET", target).body["history"];
    return !h.empty() && h[0]["data"]["seq"] == ahead;
  }));
  }
  ASSERT_TRUE(eventually([&] { return c.node(id)["connected"] == false; }));

  // Now the agent starts with a damaged file and today's clock: clock x 1000 is below `ahead`.
  ASSERT_TRUE(pki::writePrivateFile(c.agentDir("a1") + "/telemetry.seq", "garbage").ok());
  c.startAgent("a1", "");
  EXPECT_TRUE(eventually([&] {
    auto h = c.api("GET", target).body["history"];
    return !h.empty() && h[0]["data"]["seq"].get<std::int64_t>() > ahead;
  })) << c.node(id).dump() << c.agent("a1").log();
  EXPECT_EQ(c.node(id)["last_refusal"].get<std::string>().find("data.seq"), std::string::npos) << c.node(id).dump();
}

// Servers started: one `berth server`; the test plays an enrolled agent.
TEST(DeepJson, FromAnAgentAndThroughTheApiIsRefusedWithoutHarm) {
  Cluster c;
  c.startServer();
  const std::string deep = std::string(200'000, '[') + std::string(200'000, ']');
  auto r = rawPost(c, "/api/v1/tokens", deep);
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_NE(r.body.find("nested deeper than 64"), std::string::npos) << r.body;

  auto enrolled = agent::enroll({c.url(), c.createToken(), c.caPin(), "deep"});
  ASSERT_TRUE(enrolled.ok());
  RawAgentConnection conn;
  ASSERT_TRUE(conn.connect(c.url(), *enrolled).ok());
  const auto now = systemNowMs();
  conn.send(R"({"type":"HELLO","agent_id":")" + enrolled->node_id + R"(","issued_at":)" + std::to_string(now) +
            R"(,"expires_at":)" + std::to_string(now + 30'000) + R"(,"nonce":")" + randomHex(16) +
            R"(","data":{"hostname":"deep","version":"t","labels":)" + deep + "}}");
  auto answer = conn.read();
  ASSERT_TRUE(answer.has_value());
  EXPECT_NE(answer->find("malformed_frame"), std::string::npos) << *answer;
  // The server is alive and still serves.
  EXPECT_TRUE(c.server().running());
  EXPECT_EQ(c.api("GET", "/api/v1/status").status, 200);
}

}  // namespace
}  // namespace berth::itest
