// Servers started: `berth server` (restarted, sometimes with SIGKILL) and
// `berth agent` processes, all on 127.0.0.1 with mutual TLS.
#include <gtest/gtest.h>

#include <fstream>
#include <thread>

#include "agent/enrollment.hpp"
#include "common/clock.hpp"
#include "harness.hpp"
#include "net/http_client.hpp"
#include "pki/sealed_file.hpp"
#include "protocol/envelope.hpp"

namespace berth::itest {
namespace {

std::string submit(Cluster& c, const std::string& node, const nlohmann::json& body) {
  auto reply = c.api("POST", "/api/v1/nodes/" + node + "/commands", body);
  EXPECT_EQ(reply.status, 202) << reply.body.dump();
  return reply.body.value("id", std::string());
}

void stopAgent(Cluster& c, const std::string& name, const std::string& id) {
  c.agent(name).signal(SIGTERM);
  EXPECT_EQ(c.agent(name).wait(), 0);
  EXPECT_TRUE(eventually([&] { return c.node(id)["status"] == "unreachable"; }));
}

TEST(Commands, CommandForAnOfflineAgentIsDeliveredWhenItConnects) {
  Cluster c;
  c.startServer();
  const std::string id = c.startOnlineAgent("a1");
  stopAgent(c, "a1", id);
  const std::string cmd = submit(c, id, {{"verb", "ping"}, {"ttl_s", 60}});
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_EQ(c.api("GET", "/api/v1/commands/" + cmd).body["state"], "queued");
  c.startOnlineAgent("a1");
  auto done = c.waitForCommand(cmd);
  EXPECT_EQ(done["state"], "succeeded") << done.dump();
  EXPECT_EQ(done["result"]["pong"], true);
  EXPECT_EQ(done["attempts"], 1);
}

TEST(Commands, QueuedCommandsSurviveServerSigkill) {
  Cluster c;
  c.startServer();
  const std::string id = c.startOnlineAgent("a1");
  stopAgent(c, "a1", id);
  std::vector<std::string> ids = {submit(c, id, {{"verb", "host.info"}}), submit(c, id, {{"verb", "ping"}}),
                                  submit(c, id, {{"verb", "host.metrics"}})};
  c.killServer(SIGKILL);
  c.startServer();
  for (const auto& cmd : ids) EXPECT_EQ(c.api("GET", "/api/v1/commands/" + cmd).body["state"], "queued");
  c.startOnlineAgent("a1");
  for (const auto& cmd : ids) EXPECT_EQ(c.waitForCommand(cmd)["state"], "succeeded");
  auto metrics = c.api("GET", "/api/v1/commands/" + ids[2]).body["result"];
  EXPECT_GT(metrics["memory"]["total_bytes"].get<std::uint64_t>(), 0u) << metrics.dump();
  EXPECT_TRUE(metrics.contains("load"));
  auto info = c.api("GET", "/api/v1/commands/" + ids[0]).body["result"];
  EXPECT_FALSE(info.value("hostname", std::string()).empty()) << info.dump();
}

TEST(Commands, CommandRedeliveredAfterADroppedSessionRunsOnce) {
  Cluster c;
  c.startServer();
  const std::string id = c.startOnlineAgent("a1");
  const std::string cmd =
      submit(c, id, {{"verb", "ping"}, {"args", {{"delay_ms", 3000}}}, {"correlation_id", "run-once-1"}});
  ASSERT_TRUE(eventually([&] { return c.api("GET", "/api/v1/commands/" + cmd).body["state"] == "running"; }));
  c.killServer(SIGKILL);  // the RESULT can no longer reach this server
  c.startServer();
  auto done = c.waitForCommand(cmd, std::chrono::seconds(30));
  EXPECT_EQ(done["state"], "succeeded") << done.dump();
  const auto log = c.agent("a1").log();
  // It reached the agent a second time after the restart...
  EXPECT_TRUE(log.find("still running") != std::string::npos || log.find("already ran") != std::string::npos) << log;
  // ...and ran once.
  EXPECT_EQ(countOccurrences(log, "\"msg\":\"executing command\""), 1) << log;
}

TEST(Commands, FullQueueAnswers429WithRetryAfter) {
  Cluster c;
  c.startServer({"--max-queue", "2"});
  auto enrolled = agent::enroll({c.url(), c.createToken(), c.caPin(), "offline"});
  ASSERT_TRUE(enrolled.ok());
  const std::string id = enrolled->node_id;
  submit(c, id, {{"verb", "ping"}, {"correlation_id", "q-1"}});
  submit(c, id, {{"verb", "ping"}});
  auto tls = net::makeClientContext({*pki::readFile(c.caFile()), "", ""});
  auto r = net::httpsRequest(
      *net::parseUrl(c.url()), **tls,
      {"POST", "/api/v1/nodes/" + id + "/commands", R"({"verb":"ping"})", {{"Authorization", "Bearer " + c.apiKey()}}});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 429) << r->body;
  EXPECT_EQ(r->headers["retry-after"], "5");
  EXPECT_NE(r->body.find("queue_full"), std::string::npos);
  // Resubmitting a known correlation id is not a new command, so it still answers.
  auto again = c.api("POST", "/api/v1/nodes/" + id + "/commands", {{"verb", "ping"}, {"correlation_id", "q-1"}});
  EXPECT_EQ(again.status, 200);
  EXPECT_EQ(c.api("GET", "/api/v1/commands?node=" + id).body["commands"].size(), 2u);
}

TEST(Commands, AtMostMaxInFlightCommandsPerAgent) {
  Cluster c;
  c.startServer({"--max-in-flight", "2"});
  const std::string id = c.startOnlineAgent("a1");
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) ids.push_back(submit(c, id, {{"verb", "ping"}, {"args", {{"delay_ms", 400}}}}));
  int maxSeen = 0;
  eventually([&] {
    auto list = c.api("GET", "/api/v1/commands?node=" + id).body["commands"];
    int inFlight = 0, finished = 0;
    for (const auto& cmd : list) {
      inFlight += cmd["state"] == "dispatched" || cmd["state"] == "running";
      finished += cmd["state"] == "succeeded";
    }
    maxSeen = std::max(maxSeen, inFlight);
    return finished == 5;
  });
  EXPECT_GE(maxSeen, 1);
  EXPECT_LE(maxSeen, 2);
  for (const auto& cmd : ids) EXPECT_EQ(c.waitForCommand(cmd)["state"], "succeeded");
}

TEST(Sessions, HeartbeatLossMarksTheNodeUnreachable) {
  Cluster c;
  c.startServer({"--heartbeat-interval-s", "1", "--heartbeat-misses", "3"});
  const std::string id = c.startOnlineAgent("a1");
  c.agent("a1").signal(SIGSTOP);  // alive but silent
  EXPECT_TRUE(eventually([&] { return c.node(id)["status"] == "unreachable"; }, std::chrono::seconds(10)));
  auto metrics = c.api("GET", "/metrics").body.get<std::string>();
  EXPECT_NE(metrics.find("berth_heartbeats_missed_total 1\n"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("berth_agent_sessions_active 0\n"), std::string::npos) << metrics;
  c.agent("a1").signal(SIGCONT);  // it notices, reconnects with backoff, and is back
  EXPECT_TRUE(eventually([&] { return c.node(id)["status"] == "online"; }, std::chrono::seconds(20)));
}

protocol::Envelope secondHello(const std::string& id) {
  protocol::Envelope hello;
  hello.type = protocol::FrameType::Hello;
  hello.agent_id = id;
  hello.issued_at = systemNowMs();
  hello.expires_at = hello.issued_at + 30'000;
  hello.nonce = "feedfacefeedface0001";
  hello.data = {{"hostname", "second"}, {"version", "test"}};
  return hello;
}

TEST(Sessions, ASecondSessionIsRefusedWhileTheFirstAnswers) {
  Cluster c;
  c.startServer();
  const std::string id = c.startOnlineAgent("a1");
  const auto first = c.node(id)["session_id"];
  RawAgentConnection raw;
  ASSERT_TRUE(raw.connect(c.url(), c.agentState("a1")).ok());
  raw.send(protocol::serialize(secondHello(id)));
  auto answer = raw.read();
  ASSERT_TRUE(answer.has_value());
  EXPECT_EQ(nlohmann::json::parse(*answer)["error"]["code"], "duplicate_session") << *answer;
  auto node = c.node(id);
  EXPECT_EQ(node["session_id"], first);
  EXPECT_NE(node["hostname"], "second");
  EXPECT_NE(node["last_refusal"].get<std::string>().find("second session"), std::string::npos) << node.dump();
}

TEST(Sessions, ASecondSessionReplacesAFirstThatNoLongerAnswers) {
  Cluster c;
  c.startServer();
  const std::string id = c.startOnlineAgent("a1");
  const auto first = c.node(id)["session_id"];
  c.agent("a1").signal(SIGSTOP);  // its connection stays open but nothing answers
  RawAgentConnection raw;
  ASSERT_TRUE(raw.connect(c.url(), c.agentState("a1")).ok());
  raw.send(protocol::serialize(secondHello(id)));
  ASSERT_TRUE(raw.read().has_value());
  EXPECT_TRUE(eventually([&] { return c.node(id)["session_id"] != first && c.node(id)["hostname"] == "second"; }));
  EXPECT_EQ(c.api("GET", "/api/v1/status").body["sessions"], 1);
  c.agent("a1").signal(SIGCONT);
}

TEST(Sessions, ConfigReloadKeepsSessions) {
  Cluster c;
  const std::string config = c.root() + "/server.json";
  std::ofstream(config) << R"({"max_in_flight": 4, "heartbeat_interval_s": 20})";
  c.startServer({"--config", config});
  const std::string id = c.startOnlineAgent("a1");
  const auto session = c.node(id)["session_id"];
  std::ofstream(config) << R"({"max_in_flight": 2, "heartbeat_interval_s": 7, "log_level": "debug"})";
  c.server().signal(SIGHUP);
  ASSERT_TRUE(eventually([&] { return c.api("GET", "/api/v1/status").body["config"]["max_in_flight"] == 2; }));
  auto status = c.api("GET", "/api/v1/status").body;
  EXPECT_EQ(status["config"]["heartbeat_interval_s"], 7);
  EXPECT_EQ(status["sessions"], 1);
  EXPECT_EQ(c.node(id)["session_id"], session);  // not dropped
  auto metrics = c.api("GET", "/metrics").body.get<std::string>();
  EXPECT_NE(metrics.find("berth_agent_sessions_opened_total 1\n"), std::string::npos) << metrics;
  // A broken file is refused and the running settings stay.
  std::ofstream(config) << R"({"max_in_flight": 0})";
  c.server().signal(SIGHUP);
  EXPECT_TRUE(eventually([&] { return c.server().log().find("reload failed") != std::string::npos; }));
  EXPECT_EQ(c.api("GET", "/api/v1/status").body["config"]["max_in_flight"], 2);
  // Commands still flow on the original session.
  EXPECT_EQ(c.waitForCommand(submit(c, id, {{"verb", "ping"}}))["state"], "succeeded");
  EXPECT_EQ(c.node(id)["session_id"], session);
}

TEST(Telemetry, LatestSampleAndHistoryAreStored) {
  Cluster c;
  c.startServer();
  const std::string id = c.startOnlineAgent("a1");
  nlohmann::json body;
  ASSERT_TRUE(eventually([&] {
    body = c.api("GET", "/api/v1/nodes/" + id + "/telemetry").body;
    return !body["history"].empty();
  }));
  EXPECT_GT(body["latest"]["data"]["memory"]["total_bytes"].get<std::uint64_t>(), 0u) << body.dump();
  EXPECT_TRUE(body["latest"]["data"].contains("network"));
  EXPECT_TRUE(body["latest"]["data"].contains("disk"));
}

}  // namespace
}  // namespace berth::itest
