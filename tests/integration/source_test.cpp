// Servers started: berth server (a process) and an agent in this test's process
// on the in-memory runtime (no dockerd). Apps built from git, the server's side
// (docs/builds.md): the source routes with credentials sealed at rest and never
// answered or audited, host-key trust, the push webhook (GitHub signatures,
// GitLab tokens, redeliveries, other branches, bad signatures) and the CLI
// commands. The agent cannot build yet (SourceBuilder is wired separately), so
// the tests assert on what the server stored and queued.
#include <gtest/gtest.h>

#include <cstdlib>
#include <ctime>
#include <fstream>
#include <sstream>
#include <thread>

#include "../support/memory_runtime.hpp"
#include "agent/agent.hpp"
#include "common/ids.hpp"
#include "common/json.hpp"
#include "harness.hpp"
#include "net/http_client.hpp"
#include "net/tls.hpp"
#include "net/url.hpp"
#include "pki/sealed_file.hpp"

namespace berth::itest {
namespace {

constexpr const char* kToken = "ghp_IntegrationSecretToken42";
const std::string kRepo = "https://git.example.com/acme/web.git";

// An agent in this process on the in-memory runtime: a node for placement.
class MemoryNode {
 public:
  explicit MemoryNode(Cluster& cluster) {
    agent::AgentParts parts;
    parts.connect_runtime = []() -> Result<std::unique_ptr<runtime::ContainerRuntime>> {
      return std::unique_ptr<runtime::ContainerRuntime>(std::make_unique<testing::MemoryRuntime>());
    };
    parts.host_reader = agent::realHostReader();
    agent::AgentConfig config;
    config.state_dir = cluster.root() + "/memory-agent";
    parts.journal = std::move(agent::CommandJournal::load(config.state_dir + "/commands.json").value());
    config.server_url = cluster.url();
    config.join_token = cluster.createToken();
    config.ca_pin = cluster.caPin();
    config.handle_signals = false;
    config.docker_socket = cluster.root() + "/no-dockerd-here.sock";
    agent_ = std::move(agent::Agent::create(config, std::move(parts)).value());
    thread_ = std::thread([this] { agent_->run(); });
    id = agent_->nodeId();
  }
  ~MemoryNode() {
    agent_->stop();
    thread_.join();
  }
  std::string id;

 private:
  std::unique_ptr<agent::Agent> agent_;
  std::thread thread_;
};

struct Raw {
  int status = 0;
  nlohmann::json body;
};

// A request with headers of its own (the webhook's), no API key.
Raw hookCall(Cluster& cluster, const std::string& app, const std::string& body,
             const std::map<std::string, std::string>& headers) {
  std::ifstream in(cluster.caFile());
  std::stringstream pem;
  pem << in.rdbuf();
  auto tls = net::makeClientContext({pem.str(), "", ""}).value();
  net::HttpRequest request{"POST", "/api/v1/hooks/git/" + app, body, headers};
  request.headers["Content-Type"] = "application/json";
  auto response = net::httpsRequest(net::parseUrl(cluster.url()).value(), *tls, request);
  if (!response) return {0, response.error().message};
  return {response->status, parseJsonOrDiscarded(response->body)};
}

std::string pushBody(const std::string& branch, const std::string& commit) {
  return nlohmann::json{{"ref", "refs/heads/" + branch}, {"after", commit}, {"repository", {{"name", "web"}}}}.dump();
}

std::map<std::string, std::string> github(const std::string& secret, const std::string& body,
                                          const std::string& delivery) {
  return {{"X-Hub-Signature-256", "sha256=" + hmacSha256Hex(secret, body)},
          {"X-GitHub-Event", "push"},
          {"X-GitHub-Delivery", delivery}};
}

nlohmann::json auditRecords(Cluster& cluster) {
  return cluster.api("GET", "/api/v1/audit?limit=500").body.value("records", nlohmann::json::array());
}

std::string storeBytes(Cluster& cluster) {
  std::string out;
  for (const char* suffix : {"", "-wal"}) {
    if (auto text = pki::readFile(cluster.serverDir() + "/berth.db" + suffix)) out += *text;
  }
  return out;
}

class SourceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cluster.startServer();
    node = std::make_unique<MemoryNode>(cluster);
    ASSERT_TRUE(eventually([&] { return cluster.node(node->id).value("status", "") == "online"; }));
    ASSERT_EQ(cluster.api("POST", "/api/v1/apps", {{"name", "web"}, {"node", node->id}}).status, 201);
  }

  // Deploys from git; the queued app.deploy command as GET /commands/ID shows it.
  nlohmann::json deployFromGit(const std::string& ref = "main") {
    auto accepted = cluster.api("POST", "/api/v1/apps/web/deployments",
                                {{"source", {{"git", kRepo}, {"ref", ref}}}, {"port", 3000}});
    EXPECT_EQ(accepted.status, 202) << accepted.body.dump();
    return cluster.api("GET", "/api/v1/commands/" + accepted.body.value("command_id", "")).body;
  }

  Cluster cluster;
  std::unique_ptr<MemoryNode> node;
};

TEST_F(SourceTest, CredentialsAreSealedNeverAnsweredQueuedSealedAndNotInTheStoreOrAudit) {
  auto put = cluster.api("PUT", "/api/v1/apps/web/source", {{"token", kToken}, {"username", "ci"}});
  ASSERT_EQ(put.status, 200) << put.body.dump();
  auto shown = cluster.api("GET", "/api/v1/apps/web/source");
  EXPECT_EQ(shown.body["kind"], "https");
  EXPECT_EQ(shown.body["username"], "ci");
  EXPECT_EQ(shown.body.dump().find(kToken), std::string::npos);

  const auto command = deployFromGit();
  ASSERT_EQ(command["verb"], "app.deploy");
  EXPECT_TRUE(command["args"].contains("sealed_source"));
  EXPECT_EQ(command["args"]["spec"]["source"]["git"], kRepo);
  EXPECT_EQ(command.dump().find(kToken), std::string::npos);
  auto deployment = cluster.api("GET", "/api/v1/apps/web/deployments/1").body;
  EXPECT_EQ(deployment["source_ref"], "main");

  auto key = cluster.api("POST", "/api/v1/apps/web/source/deploy-key", {{"generate", true}});
  ASSERT_EQ(key.status, 201) << key.body.dump();
  EXPECT_EQ(key.body.value("public_key", "").rfind("ssh-ed25519 ", 0), 0u);
  EXPECT_EQ(cluster.api("GET", "/api/v1/apps/web/source").body["public_key"], key.body["public_key"]);
  const auto ssh = cluster.api("POST", "/api/v1/apps/web/deployments",
                               {{"source", {{"git", "git@git.example.com:acme/web.git"}}}, {"port", 3000}});
  ASSERT_EQ(ssh.status, 202);

  // Neither the token nor any private key is in the store file or the audit records.
  const auto bytes = storeBytes(cluster);
  EXPECT_EQ(bytes.find(kToken), std::string::npos);
  EXPECT_EQ(bytes.find("OPENSSH PRIVATE KEY"), std::string::npos);
  const auto audit = auditRecords(cluster).dump();
  EXPECT_EQ(audit.find(kToken), std::string::npos);
  EXPECT_EQ(audit.find("PRIVATE KEY"), std::string::npos);
  EXPECT_NE(audit.find("PUT /api/v1/apps/web/source"), std::string::npos);
  EXPECT_NE(audit.find("POST /api/v1/apps/web/source/deploy-key"), std::string::npos);
}

TEST_F(SourceTest, HostileSourcesAreRefusedNamingTheFieldAndNothingIsQueued) {
  for (const auto& [field, source] : std::vector<std::pair<std::string, nlohmann::json>>{
           {"source.git", {{"git", "--upload-pack=touch /tmp/berth-canary"}}},
           {"source.ref", {{"git", kRepo}, {"ref", "$(id)"}}},
           {"source.ref", {{"git", kRepo}, {"ref", "main;id"}}},
           {"source.dir", {{"git", kRepo}, {"dir", "../../etc"}}},
           {"image", {{"git", kRepo}}}}) {
    nlohmann::json body = {{"source", source}};
    if (field == "image") body["image"] = "nginx:1";
    auto answer = cluster.apiResult("POST", "/api/v1/apps/web/deployments", body);
    ASSERT_FALSE(answer.ok()) << body.dump();
    EXPECT_NE(answer.error().message.find("field '" + field), std::string::npos) << answer.error().message;
  }
  EXPECT_EQ(cluster.api("GET", "/api/v1/apps/web").body["deployments"].size(), 0u);
}

TEST_F(SourceTest, TrustPinsOnlyOfferedKeysUnlessAnAdminForces) {
  const std::string fingerprint = "SHA256:" + std::string(43, 'K');
  auto refused = cluster.apiResult("POST", "/api/v1/apps/web/source/trust", {{"fingerprint", fingerprint}});
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message.find("field 'fingerprint'"), std::string::npos);
  auto deployKey = cluster.api("POST", "/api/v1/keys", {{"scope", "deploy"}}).body.value("key", "");
  auto notAdmin = cluster.callAs(deployKey, "POST", "/api/v1/apps/web/source/trust",
                                 {{"fingerprint", fingerprint}, {"force", true}});
  EXPECT_EQ(notAdmin.code, "forbidden") << notAdmin.message;
  auto forced = cluster.api("POST", "/api/v1/apps/web/source/trust", {{"fingerprint", fingerprint}, {"force", true}});
  ASSERT_EQ(forced.status, 200) << forced.body.dump();
  EXPECT_EQ(cluster.api("GET", "/api/v1/apps/web/source").body["host_key"], fingerprint);
  // The pinned key reaches the agent's command sealed; a deploy key cannot swap it "up front".
  EXPECT_EQ(
      cluster.callAs(deployKey, "PUT", "/api/v1/apps/web/source", {{"host_key", "SHA256:" + std::string(43, 'L')}}).code,
      "conflict");
  EXPECT_TRUE(deployFromGit()["args"].contains("sealed_source"));
  const auto audit = auditRecords(cluster);
  int trusts = 0;
  for (const auto& r : audit) {
    if (r.value("action", "") == "POST /api/v1/apps/web/source/trust") ++trusts;
  }
  EXPECT_EQ(trusts, 3);  // refused, forbidden and pinned: each audited
}

TEST_F(SourceTest, WebhookDeploysAPushedCommitOnceIgnoresOtherBranchesAndRefusesBadSignatures) {
  deployFromGit("main");
  auto rotated = cluster.api("POST", "/api/v1/apps/web/hooks/secret");
  ASSERT_EQ(rotated.status, 201);
  const std::string secret = rotated.body["secret"];
  EXPECT_EQ(rotated.body["url"], "/api/v1/hooks/git/web");
  EXPECT_FALSE(cluster.api("GET", "/api/v1/apps/web/source").body.dump().find(secret) != std::string::npos);

  const std::string sha(40, 'a');
  const auto body = pushBody("main", sha);
  auto deployed = hookCall(cluster, "web", body, github(secret, body, "delivery-1"));
  ASSERT_EQ(deployed.status, 202) << deployed.body.dump();
  EXPECT_EQ(deployed.body["outcome"], "deployed");
  const int number = deployed.body["deployment"];
  auto command = cluster.api("GET", "/api/v1/commands/" + deployed.body.value("command_id", "")).body;
  EXPECT_EQ(command["args"]["commit"], sha);
  EXPECT_EQ(command["args"]["spec"]["source"]["ref"], "main");
  auto deployment = cluster.api("GET", "/api/v1/apps/web/deployments/" + std::to_string(number)).body;
  EXPECT_EQ(deployment["commit"], sha);
  EXPECT_EQ(deployment["source_ref"], "main");

  auto again = hookCall(cluster, "web", body, github(secret, body, "delivery-1"));
  EXPECT_EQ(again.status, 202);
  EXPECT_EQ(again.body["outcome"], "duplicate");
  const auto other = pushBody("feature", std::string(40, 'b'));
  auto ignored = hookCall(cluster, "web", other, github(secret, other, "delivery-2"));
  EXPECT_EQ(ignored.status, 202);
  EXPECT_EQ(ignored.body["outcome"], "ignored");
  EXPECT_EQ(cluster.api("GET", "/api/v1/apps/web").body["deployments"].size(), 2u);  // the API's and the push's

  auto bad = hookCall(cluster, "web", body, github("not-the-secret", body, "delivery-3"));
  auto unknown = hookCall(cluster, "nope", body, github(secret, body, "delivery-3"));
  EXPECT_EQ(bad.status, 401);
  EXPECT_EQ(unknown.status, 401);
  EXPECT_EQ(bad.body, unknown.body);  // no oracle: which apps exist is not told
  const auto gitlab = pushBody("main", std::string(40, 'c'));
  auto viaGitlab = hookCall(cluster, "web", gitlab,
                            {{"X-Gitlab-Token", secret}, {"X-Gitlab-Event", "Push Hook"}, {"X-Gitlab-Event-UUID", "g-1"}});
  EXPECT_EQ(viaGitlab.status, 202) << viaGitlab.body.dump();
  EXPECT_EQ(viaGitlab.body["outcome"], "deployed");
  EXPECT_EQ(hookCall(cluster, "web", gitlab, {{"X-Gitlab-Token", "wrong"}, {"X-Gitlab-Event", "Push Hook"}}).status, 401);

  // Every outcome is audited, the refusal by app and source address, with the webhook as the actor.
  std::map<std::string, int> outcomes;
  for (const auto& r : auditRecords(cluster)) {
    if (r.value("actor", "") != "webhook") continue;
    ++outcomes[r.value("detail", "")];
    if (r.value("outcome", "") == "refused") {
      EXPECT_FALSE(r.value("source", "").empty());
      EXPECT_TRUE(r.value("target", "") == "web" || r.value("target", "") == "nope");
    }
  }
  EXPECT_EQ(outcomes["202 deployed"], 2);
  EXPECT_EQ(outcomes["202 duplicate"], 1);
  EXPECT_EQ(outcomes["202 ignored"], 1);
  EXPECT_EQ(outcomes["401 unauthorized"], 3);
  EXPECT_EQ(auditRecords(cluster).dump().find(secret), std::string::npos);
}

// A captured push replayed later: its delivery id is forgotten after 24 h (and the
// id header is not signed, so a replay may carry any id at once). Only the body
// is signed: an old push is known by its push time or by its commit.
TEST_F(SourceTest, AnOldPushReplayedUnderANewDeliveryIdDoesNotDeployItsOlderCommit) {
  deployFromGit("main");
  const std::string secret = cluster.api("POST", "/api/v1/apps/web/hooks/secret").body["secret"];
  const auto now = static_cast<std::int64_t>(std::time(nullptr));
  auto timedPush = [](const std::string& commit, std::int64_t pushed_at) {
    return nlohmann::json{{"ref", "refs/heads/main"}, {"after", commit}, {"repository", {{"name", "web"}, {"pushed_at", pushed_at}}}}
        .dump();
  };
  const std::string older(40, 'a'), newer(40, 'b'), newest(40, 'c');
  const auto first = timedPush(older, now - 600);
  const auto second = timedPush(newer, now - 300);
  EXPECT_EQ(hookCall(cluster, "web", first, github(secret, first, "d-1")).body["outcome"], "deployed");
  EXPECT_EQ(hookCall(cluster, "web", second, github(secret, second, "d-2")).body["outcome"], "deployed");
  const auto deployments = cluster.api("GET", "/api/v1/apps/web").body["deployments"].size();

  // The first push again, as a delivery the server no longer remembers: not deployed over the newer one.
  auto replayed = hookCall(cluster, "web", first, github(secret, first, "d-1-much-later"));
  EXPECT_EQ(replayed.status, 202);
  EXPECT_EQ(replayed.body["outcome"], "ignored") << replayed.body.dump();
  EXPECT_NE(replayed.body.value("reason", "").find("older than the last one deployed"), std::string::npos)
      << replayed.body.dump();
  // The newest push replayed: its commit was deployed by a push already.
  auto again = hookCall(cluster, "web", second, github(secret, second, "d-2-again"));
  EXPECT_EQ(again.body["outcome"], "ignored") << again.body.dump();
  EXPECT_EQ(cluster.api("GET", "/api/v1/apps/web").body["deployments"].size(), deployments);

  // GitLab's pushes carry no push time: a commit a push deployed is not deployed by a push again.
  const auto gitlab = pushBody("main", newest);
  auto viaGitlab = [&](const std::string& uuid) {
    return hookCall(cluster, "web", gitlab, {{"X-Gitlab-Token", secret}, {"X-Gitlab-Event", "Push Hook"}, {"X-Gitlab-Event-UUID", uuid}});
  };
  EXPECT_EQ(viaGitlab("g-1").body["outcome"], "deployed");
  auto gitlabReplay = viaGitlab("g-1-much-later");
  EXPECT_EQ(gitlabReplay.body["outcome"], "ignored") << gitlabReplay.body.dump();
  EXPECT_NE(gitlabReplay.body.value("reason", "").find("deployed by an earlier push"), std::string::npos)
      << gitlabReplay.body.dump();

  // A newer push still deploys, even of a commit deployed before (the branch moved back on purpose).
  const auto back = timedPush(older, now);
  auto moved = hookCall(cluster, "web", back, github(secret, back, "d-3"));
  EXPECT_EQ(moved.body["outcome"], "deployed") << moved.body.dump();
  EXPECT_EQ(cluster.api("GET", "/api/v1/apps/web").body["deployments"].size(), deployments + 2);
  // A push time a year ahead is not believed: it sets no floor that would stop the next pushes.
  const auto future = timedPush(std::string(40, 'd'), now + 365 * 86400);
  EXPECT_EQ(hookCall(cluster, "web", future, github(secret, future, "d-4")).body["outcome"], "deployed");
  const auto next = timedPush(std::string(40, 'e'), now + 1);
  EXPECT_EQ(hookCall(cluster, "web", next, github(secret, next, "d-5")).body["outcome"], "deployed");
}

// Refused webhooks need no credential either: they share the anonymous refusals' audit budget.
TEST(SourceHookAudit, AFloodOfBadSignaturesIsCountedNotWrittenRowByRow) {
  Cluster cluster;
  cluster.startServer({"--audit-anonymous-per-s", "1", "--audit-anonymous-burst", "3"});
  const auto body = pushBody("main", std::string(40, 'a'));
  for (int i = 0; i < 20; ++i)
    EXPECT_EQ(hookCall(cluster, "web", body, github("guess-" + std::to_string(i), body, "d" + std::to_string(i))).status,
              401);
  int written = 0;
  for (const auto& r : auditRecords(cluster)) written += r.value("actor", "") == "webhook";
  EXPECT_GE(written, 3);
  EXPECT_LT(written, 20) << "every refused webhook was written";
  // A body over 1 MiB is refused before the route reads it (which would answer 401): 413, or the
  // connection closed under the client while it was still sending.
  const std::string huge(1024 * 1024 + 16, ' ');
  const int status = hookCall(cluster, "web", huge, github("x", huge, "big")).status;
  EXPECT_TRUE(status == 413 || status == 0) << status;
}

TEST_F(SourceTest, CliDeploysFromGitWithATokenFromTheEnvironmentAndManagesTheSource) {
  ::setenv("BERTH_TEST_GIT_TOKEN", kToken, 1);
  const std::string hostKey = "SHA256:" + std::string(43, 'H');
  auto [code, out] = cluster.cli({"app", "deploy", "web", "--git", kRepo, "--ref", "release", "--dir", "app",
                                  "--build-arg", "MODE=prod", "--token-env", "BERTH_TEST_GIT_TOKEN", "--host-key",
                                  hostKey, "--detach"});
  ASSERT_EQ(code, 0) << out;
  auto source = cluster.api("GET", "/api/v1/apps/web/source").body;
  EXPECT_EQ(source["kind"], "https");
  EXPECT_EQ(source["host_key"], hostKey);
  auto deployment = cluster.api("GET", "/api/v1/apps/web/deployments/1").body;
  EXPECT_EQ(deployment["spec"]["source"]["ref"], "release");
  EXPECT_EQ(deployment["spec"]["source"]["build_args"]["MODE"], "prod");
  EXPECT_EQ(storeBytes(cluster).find(kToken), std::string::npos);

  std::tie(code, out) = cluster.cli({"app", "source", "show", "web"});
  EXPECT_EQ(code, 0) << out;
  EXPECT_NE(out.find("https"), std::string::npos) << out;
  EXPECT_EQ(out.find(kToken), std::string::npos);
  std::tie(code, out) = cluster.cli({"app", "source", "key", "web", "--generate"});
  EXPECT_EQ(code, 0) << out;
  EXPECT_NE(out.find("ssh-ed25519 "), std::string::npos) << out;
  std::tie(code, out) = cluster.cli({"app", "source", "trust", "web", "SHA256:" + std::string(43, 'X')});
  EXPECT_EQ(code, 2) << out;  // not offered: refused naming the field
  EXPECT_NE(out.find("fingerprint"), std::string::npos) << out;
  std::tie(code, out) = cluster.cli({"app", "hook", "secret", "web"});
  EXPECT_EQ(code, 0) << out;
  EXPECT_NE(out.find("/api/v1/hooks/git/web"), std::string::npos) << out;

  const std::string planFile = cluster.root() + "/plan.json";
  std::ofstream(planFile) << R"({"start": ["node", "server.js"]})";
  std::tie(code, out) = cluster.cli({"app", "plan", "web", "--set", planFile});
  EXPECT_EQ(code, 0) << out;
  std::tie(code, out) = cluster.cli({"app", "plan", "web", "--json"});
  EXPECT_EQ(code, 0) << out;
  EXPECT_NE(out.find("server.js"), std::string::npos) << out;
  std::ofstream(planFile) << R"({"start": "node server.js"})";
  std::tie(code, out) = cluster.cli({"app", "plan", "web", "--set", planFile});
  EXPECT_EQ(code, 2) << out;
  EXPECT_NE(out.find("plan.start"), std::string::npos) << out;

  std::tie(code, out) = cluster.cli({"app", "build", "cancel", "web", "--json"});
  EXPECT_EQ(code, 0) << out;
  auto accepted = parseJsonOrDiscarded(out);
  ASSERT_TRUE(accepted.is_object()) << out;
  EXPECT_EQ(accepted["verb"], "app.build.cancel");
  auto cancel = cluster.api("GET", "/api/v1/commands/" + accepted.value("command_id", "")).body;
  EXPECT_EQ(cancel["verb"], "app.build.cancel");
  EXPECT_EQ(cancel["args"], (nlohmann::json{{"app", "web"}}));

  std::tie(code, out) = cluster.cli({"app", "show", "web"});
  EXPECT_EQ(code, 0) << out;
  ::unsetenv("BERTH_TEST_GIT_TOKEN");
  // A token never goes on the command line: --token with a value is not a flag.
  std::tie(code, out) = cluster.cli({"app", "deploy", "web", "--git", kRepo, "--token", kToken});
  EXPECT_NE(code, 0);
}

}  // namespace
}  // namespace berth::itest
