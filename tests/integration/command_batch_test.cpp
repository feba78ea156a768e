// Fleet-wide commands (POST /api/v1/commands/batch, `berth cmd send
// --label/--all`, `berth cmd ls --batch`) through a real server. Servers
// started: one `berth server` on 127.0.0.1 per test and real `berth agent`s
// with labels; the partial-failure test adds a hand-driven agent connection
// that answers its COMMAND with a failed RESULT.
#include <gtest/gtest.h>

#include <thread>

#include "agent/enrollment.hpp"
#include "common/clock.hpp"
#include "common/ids.hpp"
#include "harness.hpp"
#include "pki/sealed_file.hpp"
#include "protocol/envelope.hpp"

namespace berth::itest {
namespace {

using protocol::Envelope;
using protocol::FrameType;

// Polls the batch until no entry is pending; its last JSON.
nlohmann::json waitForBatch(Cluster& c, const std::string& id,
                            std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
  nlohmann::json batch;
  eventually(
      [&] {
        auto reply = c.apiResult("GET", "/api/v1/commands/batch/" + id);
        if (!reply) return false;
        batch = reply->body;
        return batch.value("done", false);
      },
      timeout);
  return batch;
}

std::map<std::string, nlohmann::json> entriesByNode(const nlohmann::json& batch) {
  std::map<std::string, nlohmann::json> out;
  for (const auto& e : batch["entries"]) out[e["node_id"].get<std::string>()] = e;
  return out;
}

std::size_t batchCommandsOf(Cluster& c, const std::string& node) {
  return c.api("GET", "/api/v1/commands?node=" + node).body["commands"].size();
}

void stopBatchAgent(Cluster& c, const std::string& name, const std::string& id) {
  c.agent(name).signal(SIGTERM);
  EXPECT_EQ(c.agent(name).wait(), 0);
  EXPECT_TRUE(eventually([&] { return c.node(id)["status"] == "unreachable"; }));
}

TEST(CommandBatch, ALabelSelectorReachesTheMatchingNodesOnly) {
  Cluster c;
  c.startServer();
  const std::string web1 = c.startOnlineAgent("web1", {"--labels", "role=web,zone=eu"});
  const std::string web2 = c.startOnlineAgent("web2", {"--labels", "role=web,zone=us"});
  const std::string db = c.startOnlineAgent("db", {"--labels", "role=db,zone=eu"});
  auto sent = c.api("POST", "/api/v1/commands/batch", {{"selector", "role=web"}, {"verb", "ping"}});
  ASSERT_EQ(sent.status, 202) << sent.body.dump();
  const std::string id = sent.body["id"];
  EXPECT_EQ(sent.body["selector"], "role=web");
  EXPECT_EQ(sent.body["totals"]["nodes"], 2);
  auto done = waitForBatch(c, id);
  EXPECT_EQ(done["totals"], (nlohmann::json{{"nodes", 2}, {"succeeded", 2}, {"failed", 0}, {"pending", 0}, {"pruned", 0}}))
      << done.dump();
  auto entries = entriesByNode(done);
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[web1]["correlation_id"], id + ":" + web1);
  EXPECT_EQ(entries[web2]["state"], "succeeded");
  // Each entry is a command like any other, with the agent's RESULT stored.
  auto command = c.api("GET", "/api/v1/commands/" + entries[web1]["command_id"].get<std::string>()).body;
  EXPECT_EQ(command["result"]["pong"], true) << command.dump();
  EXPECT_EQ(batchCommandsOf(c, db), 0u);
  // Two pairs: both must match.
  auto eu = c.api("POST", "/api/v1/commands/batch", {{"selector", "zone=eu,role=web"}, {"verb", "host.info"}});
  ASSERT_EQ(eu.status, 202) << eu.body.dump();
  EXPECT_EQ(eu.body["entries"].size(), 1u);
  EXPECT_EQ(eu.body["entries"][0]["node_id"], web1);
  // Audited once per batch, naming the selector and the count.
  auto audit = c.api("GET", "/api/v1/audit?limit=1000").body;
  int records = 0;
  for (const auto& r : audit["records"]) {
    if (r.value("action", "") != "POST /api/v1/commands/batch") continue;
    ++records;
    if (r["target"] == "nodes role=web; 2 nodes") EXPECT_NE(r["detail"].get<std::string>().find(id), std::string::npos) << r.dump();
  }
  EXPECT_EQ(records, 2) << audit.dump();
  EXPECT_NE(audit.dump().find("\"nodes role=web; 2 nodes\""), std::string::npos) << audit.dump();
}

TEST(CommandBatch, AllThroughTheCliWaitsAndListsTheBatch) {
  Cluster c;
  c.startServer();
  const std::string a = c.startOnlineAgent("a", {"--labels", "role=web"});
  const std::string b = c.startOnlineAgent("b", {"--labels", "role=db"});
  auto [code, out] = c.cli({"cmd", "send", "--all", "ping", "--wait", "--json"});
  ASSERT_EQ(code, 0) << out;
  auto batch = nlohmann::json::parse(out.substr(out.find('{')));
  EXPECT_EQ(batch["selector"], "all");
  EXPECT_EQ(batch["totals"]["succeeded"], 2) << batch.dump();
  auto [lsCode, table] = c.cli({"cmd", "ls", "--batch", batch["id"].get<std::string>()});
  ASSERT_EQ(lsCode, 0) << table;
  EXPECT_NE(table.find(a), std::string::npos) << table;
  EXPECT_NE(table.find(b), std::string::npos) << table;
  EXPECT_NE(table.find("2 nodes, 2 succeeded, 0 failed, 0 pending"), std::string::npos) << table;
  auto [labelCode, labelOut] = c.cli({"cmd", "send", "--label", "role=db", "host.info"});
  ASSERT_EQ(labelCode, 0) << labelOut;
  auto [jsonCode, json] = c.cli({"cmd", "ls", "--batch", labelOut.substr(0, labelOut.find('\n')), "--json"});
  ASSERT_EQ(jsonCode, 0) << json;
  auto listed = nlohmann::json::parse(json.substr(json.find('{')));
  ASSERT_EQ(listed["entries"].size(), 1u);
  EXPECT_EQ(listed["entries"][0]["node_id"], b);
}

TEST(CommandBatch, NoMatchIsAnErrorNamingTheSelector) {
  Cluster c;
  c.startServer();
  c.startOnlineAgent("a", {"--labels", "role=web"});
  auto r = c.apiResult("POST", "/api/v1/commands/batch", {{"selector", "role=cache"}, {"verb", "ping"}});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "no_node");
  EXPECT_NE(r.error().message.find("'role=cache'"), std::string::npos) << r.error().message;
  auto [code, out] = c.cli({"cmd", "send", "--label", "role=cache", "ping"});
  EXPECT_EQ(code, 5) << out;  // exit_code::kConflict
  EXPECT_NE(out.find("role=cache"), std::string::npos) << out;
  // A bad selector names the field and the rule; nothing is stored either way.
  auto bad = c.apiResult("POST", "/api/v1/commands/batch", {{"selector", "role"}, {"verb", "ping"}});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, "invalid_argument");
  EXPECT_NE(bad.error().message.find("'selector'"), std::string::npos) << bad.error().message;
  EXPECT_EQ(c.api("GET", "/api/v1/commands").body["commands"].size(), 0u);
}

TEST(CommandBatch, OneNodesFailureLeavesTheOthersSucceeded) {
  Cluster c;
  c.startServer();
  const std::string good = c.startOnlineAgent("good", {"--labels", "role=web"});
  auto enrolled = agent::enroll({c.url(), c.createToken(), c.caPin(), "raw"});
  ASSERT_TRUE(enrolled.ok()) << enrolled.error().message;
  RawAgentConnection raw;
  ASSERT_TRUE(raw.connect(c.url(), *enrolled).ok());
  Envelope hello = rawAgentFrame(enrolled->node_id, FrameType::Hello);
  hello.data = {{"hostname", "raw"}, {"version", "test"}, {"labels", {{"role", "web"}}}};
  raw.send(protocol::serialize(hello));
  auto welcome = raw.read();
  ASSERT_TRUE(welcome && welcome->find("WELCOME") != std::string::npos) << welcome.value_or("nothing");

  auto sent = c.api("POST", "/api/v1/commands/batch", {{"selector", "role=web"}, {"verb", "ping"}});
  ASSERT_EQ(sent.status, 202) << sent.body.dump();
  const std::string id = sent.body["id"];
  std::optional<nlohmann::json> command;
  for (int i = 0; i < 10 && !command; ++i) {
    auto text = raw.read();
    ASSERT_TRUE(text.has_value());
    auto j = nlohmann::json::parse(*text);
    if (j["type"] == "COMMAND") command = j;
  }
  ASSERT_TRUE(command.has_value());
  EXPECT_EQ((*command)["correlation_id"], id + ":" + enrolled->node_id);
  Envelope result = rawAgentFrame(enrolled->node_id, FrameType::Result);
  result.correlation_id = (*command)["correlation_id"];
  result.data = {{"status", "failed"}, {"exit_code", 3}, {"stderr", "disk on fire"}};
  raw.send(protocol::serialize(result));

  auto done = waitForBatch(c, id);
  EXPECT_EQ(done["totals"], (nlohmann::json{{"nodes", 2}, {"succeeded", 1}, {"failed", 1}, {"pending", 0}, {"pruned", 0}}))
      << done.dump();
  auto entries = entriesByNode(done);
  EXPECT_EQ(entries[good]["state"], "succeeded");
  EXPECT_EQ(entries[enrolled->node_id]["state"], "failed");
  EXPECT_EQ(entries[enrolled->node_id]["exit_code"], 3);
  auto [code, out] = c.cli({"cmd", "ls", "--batch", id});
  EXPECT_EQ(code, 0) << out;
  EXPECT_NE(out.find("1 succeeded, 1 failed, 0 pending"), std::string::npos) << out;
}

TEST(CommandBatch, AnOfflineNodesEntryIsQueuedAndDeliveredWhenItConnects) {
  Cluster c;
  c.startServer();
  const std::string online = c.startOnlineAgent("online", {"--labels", "role=web"});
  const std::string away = c.startOnlineAgent("away", {"--labels", "role=web"});
  stopBatchAgent(c, "away", away);
  auto sent = c.api("POST", "/api/v1/commands/batch", {{"selector", "role=web"}, {"verb", "ping"}, {"ttl_s", 120}});
  ASSERT_EQ(sent.status, 202) << sent.body.dump();
  const std::string id = sent.body["id"];
  ASSERT_TRUE(eventually([&] {
    auto b = c.api("GET", "/api/v1/commands/batch/" + id).body;
    return b["totals"]["succeeded"] == 1;
  }));
  auto half = c.api("GET", "/api/v1/commands/batch/" + id).body;
  EXPECT_EQ(half["totals"]["pending"], 1) << half.dump();
  EXPECT_FALSE(half["done"].get<bool>());
  EXPECT_EQ(entriesByNode(half)[away]["state"], "queued");
  c.startOnlineAgent("away", {"--labels", "role=web"});
  auto done = waitForBatch(c, id);
  EXPECT_EQ(done["totals"]["succeeded"], 2) << done.dump();
}

// The 202 means durable: a server killed right after it still holds every entry and sends them.
TEST(CommandBatch, ABatchForOfflineNodesSurvivesAServerSigkill) {
  Cluster c;
  c.startServer();
  const std::string a = c.startOnlineAgent("a", {"--labels", "role=web"});
  const std::string b = c.startOnlineAgent("b", {"--labels", "role=web"});
  stopBatchAgent(c, "a", a);
  stopBatchAgent(c, "b", b);
  auto sent = c.api("POST", "/api/v1/commands/batch",
                    {{"selector", "role=web"}, {"verb", "ping"}, {"ttl_s", 300}, {"idempotency_key", "before-kill"}});
  ASSERT_EQ(sent.status, 202) << sent.body.dump();
  const std::string id = sent.body["id"];
  c.killServer(SIGKILL);
  c.startServer();
  auto after = c.api("GET", "/api/v1/commands/batch/" + id).body;
  EXPECT_EQ(after["totals"]["pending"], 2) << after.dump();
  // The retry after the restart is still the same batch.
  auto again = c.api("POST", "/api/v1/commands/batch",
                     {{"selector", "role=web"}, {"verb", "ping"}, {"ttl_s", 300}, {"idempotency_key", "before-kill"}});
  EXPECT_EQ(again.status, 200) << again.body.dump();
  EXPECT_EQ(again.body["id"], id);
  c.startOnlineAgent("a", {"--labels", "role=web"});
  c.startOnlineAgent("b", {"--labels", "role=web"});
  auto done = waitForBatch(c, id);
  EXPECT_EQ(done["totals"]["succeeded"], 2) << done.dump();
  EXPECT_EQ(batchCommandsOf(c, a), 1u);
}

TEST(CommandBatch, ARetryWithTheSameKeyReturnsTheSameBatchAndQueuesNothingTwice) {
  Cluster c;
  c.startServer();
  const std::string a = c.startOnlineAgent("a", {"--labels", "role=web"});
  const std::string b = c.startOnlineAgent("b", {"--labels", "role=web"});
  const nlohmann::json body = {{"selector", "role=web"}, {"verb", "ping"}, {"idempotency_key", "rollout-17"}};
  auto first = c.api("POST", "/api/v1/commands/batch", body);
  ASSERT_EQ(first.status, 202) << first.body.dump();
  waitForBatch(c, first.body["id"]);
  // A node that joins later does not grow the batch on a retry.
  c.startOnlineAgent("late", {"--labels", "role=web"});
  auto again = c.api("POST", "/api/v1/commands/batch", body);
  ASSERT_EQ(again.status, 200) << again.body.dump();
  EXPECT_EQ(again.body["id"], first.body["id"]);
  EXPECT_EQ(again.body["totals"]["nodes"], 2);
  EXPECT_EQ(again.body["totals"]["succeeded"], 2);
  EXPECT_EQ(batchCommandsOf(c, a), 1u);
  EXPECT_EQ(batchCommandsOf(c, b), 1u);
  // The same key for another command is a conflict, not a second batch.
  auto other = c.apiResult("POST", "/api/v1/commands/batch",
                           {{"selector", "role=web"}, {"verb", "host.info"}, {"idempotency_key", "rollout-17"}});
  ASSERT_FALSE(other.ok());
  EXPECT_EQ(other.error().code, "conflict");
  // The CLI sends the key as the Idempotency-Key header: the same batch id both times.
  auto [code1, out1] = c.cli({"cmd", "send", "--all", "ping", "--idempotency-key", "cli-retry-1"});
  auto [code2, out2] = c.cli({"cmd", "send", "--all", "ping", "--idempotency-key", "cli-retry-1"});
  ASSERT_EQ(code1, 0) << out1;
  ASSERT_EQ(code2, 0) << out2;
  EXPECT_EQ(out1, out2);
  EXPECT_EQ(out1.rfind("batch_", 0), 0u) << out1;
  EXPECT_EQ(batchCommandsOf(c, a), 2u);
}

TEST(CommandBatch, AFullQueueFailsOnlyThatNodesEntry) {
  Cluster c;
  c.startServer({"--max-queue", "1"});
  const std::string online = c.startOnlineAgent("online");
  auto enrolled = agent::enroll({c.url(), c.createToken(), c.caPin(), "offline"});
  ASSERT_TRUE(enrolled.ok());
  const std::string full = enrolled->node_id;
  ASSERT_EQ(c.api("POST", "/api/v1/nodes/" + full + "/commands", {{"verb", "ping"}}).status, 202);
  auto sent = c.api("POST", "/api/v1/commands/batch", {{"all", true}, {"verb", "ping"}});
  ASSERT_EQ(sent.status, 202) << sent.body.dump();
  auto entries = entriesByNode(sent.body);
  EXPECT_EQ(entries[full]["state"], "failed");
  EXPECT_EQ(entries[full]["error"].get<std::string>().rfind("queue_full: ", 0), 0u) << entries[full].dump();
  auto done = waitForBatch(c, sent.body["id"]);
  EXPECT_EQ(done["totals"], (nlohmann::json{{"nodes", 2}, {"succeeded", 1}, {"failed", 1}, {"pending", 0}, {"pruned", 0}}))
      << done.dump();
  EXPECT_EQ(batchCommandsOf(c, full), 2u);  // its own command and the failed entry; nothing more queued
  EXPECT_EQ(c.node(full)["commands_queued"], 1);
  // When every selected queue is full the batch is refused whole (429), and nothing is stored.
  stopBatchAgent(c, "online", online);
  ASSERT_EQ(c.api("POST", "/api/v1/nodes/" + online + "/commands", {{"verb", "ping"}}).status, 202);
  auto refused = c.apiResult("POST", "/api/v1/commands/batch", {{"all", true}, {"verb", "host.info"}});
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, "queue_full");
  EXPECT_EQ(batchCommandsOf(c, full), 2u);
  EXPECT_EQ(batchCommandsOf(c, online), 2u);  // the first batch's entry and its own command
}

TEST(CommandBatch, AnotherOrgsBatchAnswersLikeAMissingOne) {
  Cluster c;
  c.startServer();
  // The bootstrap owner's session makes two orgs, each with an admin key of its own owner.
  ASSERT_TRUE(c.callAs(c.apiKey(), "PUT", "/api/v1/users/me/password", {{"password", "owner password!"}}).ok);
  const std::string owner =
      c.callAs("", "POST", "/api/v1/login", {{"name", "owner"}, {"password", "owner password!"}}).body["token"];
  auto orgKey = [&](const std::string& org) {
    EXPECT_TRUE(c.callAs(c.apiKey(), "POST", "/api/v1/orgs", {{"name", org}}).ok);
    auto invite = c.callAs(owner, "POST", "/api/v1/users/invite", {{"name", org + "-boss"}, {"role", "owner"}}, org);
    EXPECT_TRUE(invite.ok) << invite.message;
    const std::string password = org + " boss password";
    EXPECT_TRUE(c.callAs("", "POST", "/api/v1/invites/accept", {{"token", invite.body["token"]}, {"password", password}}).ok);
    auto login = c.callAs("", "POST", "/api/v1/login", {{"name", org + "-boss"}, {"password", password}});
    auto key = c.callAs(login.body.value("token", ""), "POST", "/api/v1/keys", {{"scope", "admin"}});
    EXPECT_TRUE(key.ok) << key.message;
    return key.body.value("key", std::string());
  };
  const std::string acme = orgKey("acme"), beta = orgKey("beta");
  // acme's own node, and a platform node with the same label.
  auto token = c.callAs(acme, "POST", "/api/v1/tokens", nlohmann::json::object());
  ASSERT_TRUE(token.ok) << token.message;
  c.startAgent("acme1", token.body["token"], {"--labels", "role=web"});
  ASSERT_TRUE(eventually([&] { return pki::fileExists(c.agentDir("acme1") + "/agent.json"); }));
  const std::string acmeNode = c.agentState("acme1").node_id;
  ASSERT_TRUE(eventually([&] { return c.node(acmeNode).value("status", "") == "online"; }));
  const std::string platformNode = c.startOnlineAgent("platform1", {"--labels", "role=web"});

  auto sent = c.callAs(acme, "POST", "/api/v1/commands/batch", {{"selector", "role=web"}, {"verb", "ping"}});
  ASSERT_TRUE(sent.ok) << sent.message;
  EXPECT_EQ(sent.status, 202);
  ASSERT_EQ(sent.body["entries"].size(), 1u) << sent.body.dump();  // not the platform node
  EXPECT_EQ(sent.body["entries"][0]["node_id"], acmeNode);
  EXPECT_EQ(sent.body["org"], "acme");
  const std::string id = sent.body["id"];
  EXPECT_TRUE(c.callAs(acme, "GET", "/api/v1/commands/batch/" + id).ok);
  auto theirs = c.callAs(beta, "GET", "/api/v1/commands/batch/" + id);
  EXPECT_FALSE(theirs.ok);
  EXPECT_EQ(theirs.code, "not_found");
  EXPECT_EQ(theirs.message, "command batch " + id + " does not exist");
  auto [cliCode, cliOut] = c.cli({"cmd", "ls", "--batch", id, "--api-key", beta});
  EXPECT_EQ(cliCode, 3) << cliOut;  // exit_code::kNotFound
  // beta has no node of its own: the platform node is not its to command.
  auto none = c.callAs(beta, "POST", "/api/v1/commands/batch", {{"all", true}, {"verb", "ping"}});
  EXPECT_EQ(none.code, "no_node") << none.message;
  EXPECT_NE(none.message.find("'all'"), std::string::npos) << none.message;
  // The same key in two orgs makes two batches.
  auto a1 = c.callAs(acme, "POST", "/api/v1/commands/batch", {{"all", true}, {"verb", "ping"}, {"idempotency_key", "same"}});
  auto p1 = c.callAs(c.apiKey(), "POST", "/api/v1/commands/batch", {{"all", true}, {"verb", "ping"}, {"idempotency_key", "same"}});
  ASSERT_TRUE(a1.ok && p1.ok) << a1.message << p1.message;
  EXPECT_NE(a1.body["id"], p1.body["id"]);
  EXPECT_EQ(p1.body["entries"].size(), 2u);  // a platform admin reaches every node
  EXPECT_EQ(batchCommandsOf(c, platformNode), 1u);
}

}  // namespace
}  // namespace berth::itest
