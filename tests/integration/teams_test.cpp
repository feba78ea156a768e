// Teams on one berth through the REST API and the CLI of a real server:
// orgs, roles, scoped keys, cross-org 404s, sessions, bootstrap, and two orgs
// deploying the same app name on one dockerd. Servers started: berth server
// on 127.0.0.1, berth agents (one without Docker; one against a private
// dockerd with busybox images for the deploy test).
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <csignal>

#include "common/subprocess.hpp"
#include "harness.hpp"
#include "pki/sealed_file.hpp"

namespace berth::itest {
namespace {

using Answer = BearerAnswer;

class TeamsTest : public ::testing::Test {
 protected:
  Cluster cluster;
  std::string ownerSession;

  Answer call(const std::string& bearer, const std::string& method, const std::string& target,
              const nlohmann::json& body = nullptr, const std::string& org = "") {
    return cluster.callAs(bearer, method, target, body, org);
  }

  // The owner's password and session (the bootstrap owner has no password until it sets one).
  void ownerLogsIn() { ownerSession = cluster.ownerSession(); }
  std::string orgWithAdminKey(const std::string& org) { return cluster.orgWithAdminKey(org); }

  // Invites `name` into the admin key's org as `role`; the user's own key with `scope`.
  std::string userKey(const std::string& adminKey, const std::string& name, const std::string& role,
                      const std::string& scope) {
    auto invite = call(adminKey, "POST", "/api/v1/users/invite", {{"name", name}, {"role", role}});
    EXPECT_TRUE(invite.ok) << invite.message;
    auto accepted = call("", "POST", "/api/v1/invites/accept",
                         {{"token", invite.body["token"]}, {"password", name + " password!"}});
    EXPECT_TRUE(accepted.ok) << accepted.message;
    auto login = call("", "POST", "/api/v1/login", {{"name", name}, {"password", name + " password!"}});
    EXPECT_TRUE(login.ok) << login.message;
    const std::string session = login.body.value("token", std::string());
    auto key = call(session, "POST", "/api/v1/keys", {{"scope", scope}});
    if (!key.ok) return session;  // a viewer makes no keys: its session is its credential
    return key.body.value("key", std::string());
  }
};

// Every app route of another org's app answers exactly what a missing app
// answers; nodes, commands and keys of another org likewise.
TEST_F(TeamsTest, AnotherOrgsResourcesAnswerLikeMissingOnes) {
  cluster.startServer();
  ownerLogsIn();
  const std::string acme = orgWithAdminKey("acme");
  const std::string beta = orgWithAdminKey("beta");
  const std::vector<std::pair<std::string, std::string>> routes = {
      {"GET", "/api/v1/apps/web"},
      {"GET", "/api/v1/apps/web/deployments/1"},
      {"GET", "/api/v1/apps/web/events"},
      {"GET", "/api/v1/apps/web/logs"},
      {"GET", "/api/v1/apps/web/domains"},
      {"POST", "/api/v1/apps/web/deployments"},
      {"POST", "/api/v1/apps/web/stop"},
      {"POST", "/api/v1/apps/web/rollback"},
      {"POST", "/api/v1/apps/web/scale"},
      {"PUT", "/api/v1/apps/web/limits"},
      {"POST", "/api/v1/apps/web/domains"},
      {"PUT", "/api/v1/apps/web/domains/shop.example.com/certificate"},
      {"DELETE", "/api/v1/apps/web/domains/shop.example.com"},
      {"DELETE", "/api/v1/apps/web"},
  };
  auto bodyFor = [](const std::string& method, const std::string& target) -> nlohmann::json {
    if (target.find("/scale") != std::string::npos) return {{"replicas", 1}};
    if (target.find("/limits") != std::string::npos) return {{"memory", "64m"}};
    if (method == "POST" && target.find("/domains") != std::string::npos) return {{"domain", "shop.example.com"}};
    if (target.find("/certificate") != std::string::npos) return {{"certificate", "x"}, {"key", "y"}};
    if (target.find("/deployments") != std::string::npos) return {{"image", "busybox:1"}};
    return method == "GET" || method == "DELETE" ? nlohmann::json() : nlohmann::json::object();
  };
  // What beta gets while no org has an app "web"...
  std::vector<Answer> missing;
  for (const auto& [method, target] : routes) missing.push_back(call(beta, method, target, bodyFor(method, target)));
  // ...acme makes its "web" (with a custom domain)...
  auto made = call(acme, "POST", "/api/v1/apps", {{"name", "web"}});
  ASSERT_TRUE(made.ok) << made.message;
  EXPECT_EQ(made.body["org"], "acme");
  EXPECT_EQ(made.body["name"], "web");
  auto domain = call(acme, "POST", "/api/v1/apps/web/domains", {{"domain", "shop.example.com"}});
  ASSERT_TRUE(domain.ok) << domain.message;
  // ...and beta gets exactly the same answers, none of them a success.
  for (std::size_t i = 0; i < routes.size(); ++i) {
    const auto& [method, target] = routes[i];
    auto now = call(beta, method, target, bodyFor(method, target));
    EXPECT_FALSE(now.ok) << method << " " << target;
    EXPECT_EQ(now.code, missing[i].code) << method << " " << target;
    EXPECT_EQ(now.message, missing[i].message) << method << " " << target;
  }
  EXPECT_EQ(call(beta, "GET", "/api/v1/apps/web").code, "not_found");
  EXPECT_TRUE(call(beta, "GET", "/api/v1/apps").body.empty());
  ASSERT_EQ(call(acme, "GET", "/api/v1/apps").body.size(), 1u);
  // A dotted name is a bad name, not a way into another org; the default org's owner does not see acme's app.
  EXPECT_EQ(call(beta, "GET", "/api/v1/apps/web.acme").code, "invalid_argument");
  EXPECT_EQ(call(cluster.apiKey(), "GET", "/api/v1/apps/web.acme").code, "invalid_argument");
  EXPECT_EQ(call(cluster.apiKey(), "GET", "/api/v1/apps/web").code, "not_found");
  // Beta may use the name too; the domain stays acme's and beta is not told whose.
  ASSERT_TRUE(call(beta, "POST", "/api/v1/apps", {{"name", "web"}}).ok);
  auto taken = call(beta, "POST", "/api/v1/apps/web/domains", {{"domain", "shop.example.com"}});
  EXPECT_EQ(taken.code, "domain_in_use");
  EXPECT_EQ(taken.message.find("acme"), std::string::npos) << taken.message;

  // An acme node: beta neither sees it nor places apps on it; its commands are acme's.
  auto token = call(acme, "POST", "/api/v1/tokens", nlohmann::json::object());
  ASSERT_TRUE(token.ok) << token.message;
  EXPECT_EQ(token.body["org"], "acme");
  cluster.startAgent("a", token.body["token"]);
  ASSERT_TRUE(eventually([&] { return pki::fileExists(cluster.agentDir("a") + "/agent.json"); }));
  const std::string node = cluster.agentState("a").node_id;
  ASSERT_TRUE(eventually([&] { return call(acme, "GET", "/api/v1/nodes/" + node).body.value("status", "") == "online"; }));
  EXPECT_EQ(call(acme, "GET", "/api/v1/nodes/" + node).body["org"], "acme");
  auto missingNode = call(beta, "GET", "/api/v1/nodes/n_nosuchnode");
  auto hiddenNode = call(beta, "GET", "/api/v1/nodes/" + node);
  EXPECT_EQ(hiddenNode.code, "not_found");
  EXPECT_EQ(hiddenNode.message, std::string(missingNode.message).replace(missingNode.message.find("n_nosuchnode"), 12, node));
  EXPECT_EQ(call(beta, "GET", "/api/v1/nodes/" + node + "/telemetry").code, "not_found");
  EXPECT_EQ(call(beta, "POST", "/api/v1/nodes/" + node + "/revoke", nlohmann::json::object()).code, "not_found");
  EXPECT_TRUE(call(beta, "GET", "/api/v1/nodes").body["nodes"].empty());
  // The status page counts what the caller may see: not acme's node, nor the server's settings.
  auto betaStatus = call(beta, "GET", "/api/v1/status");
  ASSERT_TRUE(betaStatus.ok) << betaStatus.message;
  EXPECT_EQ(betaStatus.body["nodes"]["total"], 0) << betaStatus.body.dump();
  EXPECT_EQ(betaStatus.body["sessions"], 0) << betaStatus.body.dump();
  EXPECT_FALSE(betaStatus.body.contains("config")) << betaStatus.body.dump();
  EXPECT_EQ(call(acme, "GET", "/api/v1/status").body["nodes"]["total"], 1);
  EXPECT_TRUE(call(cluster.apiKey(), "GET", "/api/v1/status").body.contains("config"));
  auto placed = call(beta, "POST", "/api/v1/apps", {{"name", "api"}, {"node", node}});
  EXPECT_EQ(placed.code, "invalid_argument");
  EXPECT_NE(placed.message.find("no node"), std::string::npos);
  auto ping = call(acme, "POST", "/api/v1/nodes/" + node + "/commands", {{"verb", "ping"}});
  ASSERT_TRUE(ping.ok) << ping.message;
  const std::string commandId = ping.body["id"];
  EXPECT_EQ(call(beta, "GET", "/api/v1/commands/" + commandId).code, "not_found");
  EXPECT_EQ(call(beta, "POST", "/api/v1/commands/" + commandId + "/cancel", nlohmann::json::object()).code,
            "not_found");
  EXPECT_TRUE(call(beta, "GET", "/api/v1/commands").body["commands"].empty());
  EXPECT_FALSE(call(acme, "GET", "/api/v1/commands").body["commands"].empty());
  // Keys: another org's key id reads as a missing one.
  const std::string acmeKeyId = call(acme, "GET", "/api/v1/whoami").body["key_id"];
  auto foreignKey = call(beta, "POST", "/api/v1/keys/" + acmeKeyId + "/revoke", nlohmann::json::object());
  EXPECT_EQ(foreignKey.code, "not_found");
  EXPECT_TRUE(call(acme, "GET", "/api/v1/whoami").ok);
  // A key acts in its own org only, whatever header it sends.
  EXPECT_EQ(call(beta, "GET", "/api/v1/apps", nullptr, "acme").code, "forbidden");
}

TEST_F(TeamsTest, MembersAndViewersAreLimitedAndDeadKeysAnswer401) {
  cluster.startServer();
  ownerLogsIn();
  const std::string acme = orgWithAdminKey("acme");
  const std::string member = userKey(acme, "mia", "member", "deploy");
  const std::string viewer = userKey(acme, "vic", "viewer", "read");
  auto who = call(member, "GET", "/api/v1/whoami");
  ASSERT_TRUE(who.ok);
  EXPECT_EQ(who.body["org"], "acme");
  EXPECT_EQ(who.body["role"], "member");
  EXPECT_EQ(who.body["scope"], "deploy");

  // A member deploys but makes no admin keys, no join tokens, no node commands, no users.
  EXPECT_TRUE(call(member, "POST", "/api/v1/apps", {{"name", "web"}}).ok);
  EXPECT_EQ(call(member, "POST", "/api/v1/keys", {{"scope", "admin"}}).code, "forbidden");
  EXPECT_EQ(call(member, "POST", "/api/v1/tokens", nlohmann::json::object()).code, "forbidden");
  EXPECT_EQ(call(member, "POST", "/api/v1/nodes/n_x/commands", {{"verb", "ping"}}).code, "forbidden");
  EXPECT_EQ(call(member, "POST", "/api/v1/users/invite", {{"name", "zed"}}).code, "forbidden");
  EXPECT_EQ(call(member, "DELETE", "/api/v1/users/vic").code, "forbidden");
  EXPECT_EQ(call(member, "POST", "/api/v1/orgs", {{"name", "mine"}}).code, "forbidden");
  EXPECT_EQ(call(member, "GET", "/api/v1/audit").code, "forbidden");
  // A viewer reads and changes nothing.
  EXPECT_EQ(call(viewer, "GET", "/api/v1/apps").body.size(), 1u);
  EXPECT_EQ(call(viewer, "POST", "/api/v1/apps", {{"name", "blog"}}).code, "forbidden");
  EXPECT_EQ(call(viewer, "DELETE", "/api/v1/apps/web").code, "forbidden");
  EXPECT_EQ(call(viewer, "POST", "/api/v1/apps/web/stop", nlohmann::json::object()).code, "forbidden");
  EXPECT_EQ(call(viewer, "POST", "/api/v1/keys", {{"scope", "read"}}).code, "forbidden");
  EXPECT_TRUE(call(acme, "GET", "/api/v1/apps/web").ok);

  // Revoked keys answer 401 at once; rotation with an overlap keeps the old key until it ends.
  auto spare = call(acme, "POST", "/api/v1/keys", {{"scope", "read"}});
  ASSERT_TRUE(spare.ok);
  ASSERT_TRUE(call(acme, "POST", "/api/v1/keys/" + spare.body["id"].get<std::string>() + "/revoke",
                   nlohmann::json::object()).ok);
  EXPECT_EQ(call(spare.body["key"], "GET", "/api/v1/apps").code, "unauthorized");
  const std::string memberKeyId = call(member, "GET", "/api/v1/whoami").body["key_id"];
  auto rotated = call(member, "POST", "/api/v1/keys/" + memberKeyId + "/rotate", {{"overlap", "1h"}});
  ASSERT_TRUE(rotated.ok) << rotated.message;
  EXPECT_TRUE(call(member, "GET", "/api/v1/apps").ok);  // inside the window
  const std::string next = rotated.body["key"];
  EXPECT_TRUE(call(next, "GET", "/api/v1/apps").ok);
  auto immediate = call(next, "POST", "/api/v1/keys/" + rotated.body["id"].get<std::string>() + "/rotate",
                        nlohmann::json::object());
  ASSERT_TRUE(immediate.ok) << immediate.message;
  EXPECT_EQ(call(next, "GET", "/api/v1/apps").code, "unauthorized");  // no overlap: at once
  EXPECT_TRUE(call(immediate.body["key"], "GET", "/api/v1/apps").ok);
  // Removing a user revokes their keys in that org.
  ASSERT_TRUE(call(acme, "DELETE", "/api/v1/users/mia").ok);
  EXPECT_EQ(call(immediate.body["key"], "GET", "/api/v1/apps").code, "unauthorized");
  EXPECT_EQ(call(member, "GET", "/api/v1/apps").code, "unauthorized");

  // Failed logins slow down per source and the audit names no password.
  for (int i = 0; i < 5; ++i)
    EXPECT_EQ(call("", "POST", "/api/v1/login", {{"name", "vic"}, {"password", "wrong-password-" + std::to_string(i)}}).code,
              "unauthorized");
  auto slowed = call("", "POST", "/api/v1/login", {{"name", "vic"}, {"password", "vic password!"}});
  EXPECT_EQ(slowed.code, "rate_limited");
  auto audit = call(cluster.apiKey(), "GET", "/api/v1/audit?limit=1000");
  ASSERT_TRUE(audit.ok) << audit.message;
  EXPECT_EQ(audit.body.dump().find("wrong-password"), std::string::npos);
  EXPECT_EQ(audit.body.dump().find("vic password"), std::string::npos);
  EXPECT_NE(audit.body.dump().find("login:u_"), std::string::npos);
  EXPECT_EQ(cluster.server().log().find("wrong-password"), std::string::npos);
}

// The bootstrap made the owner; erasing its markers and restarting makes no second one.
// An org admin lists the org's keys, the platform owner's among them: rotating
// one would hand the admin a key acting as its user (a platform admin).
TEST_F(TeamsTest, AnAdminCannotRotateTheOwnersKeyIntoTheirOwnHands) {
  cluster.startServer();
  ownerLogsIn();
  auto invite = call(ownerSession, "POST", "/api/v1/users/invite", {{"name", "ann"}, {"role", "admin"}});
  ASSERT_TRUE(invite.ok) << invite.message;
  ASSERT_TRUE(call("", "POST", "/api/v1/invites/accept", {{"token", invite.body["token"]}, {"password", "ann password!!"}}).ok);
  auto login = call("", "POST", "/api/v1/login", {{"name", "ann"}, {"password", "ann password!!"}});
  ASSERT_TRUE(login.ok) << login.message;
  const std::string admin = login.body["token"];
  const std::string ownerKeyId = call(cluster.apiKey(), "GET", "/api/v1/whoami").body["key_id"];
  auto rotated = call(admin, "POST", "/api/v1/keys/" + ownerKeyId + "/rotate", {{"overlap", "1h"}});
  ASSERT_FALSE(rotated.ok) << "the admin holds " << rotated.body.dump();
  EXPECT_EQ(rotated.code, "forbidden");
  EXPECT_EQ(call(admin, "POST", "/api/v1/orgs", {{"name", "stolen"}}).code, "forbidden");
  auto owner = call(cluster.apiKey(), "GET", "/api/v1/whoami");
  ASSERT_TRUE(owner.ok);
  EXPECT_EQ(owner.body["platform_role"], "admin");
  auto keys = call(cluster.apiKey(), "GET", "/api/v1/keys");
  for (const auto& k : keys.body["keys"]) EXPECT_EQ(k["state"], "active") << k.dump();
}

// A stolen session must not become a password oracle: wrong current
// passwords slow down like failed logins.
TEST_F(TeamsTest, WrongCurrentPasswordsSlowDownLikeFailedLogins) {
  cluster.startServer();
  ownerLogsIn();
  Answer last;
  for (int i = 0; i < 30 && last.code != "rate_limited"; ++i)
    last = call(ownerSession, "PUT", "/api/v1/users/me/password",
                {{"password", "taken over password"}, {"current_password", "guess " + std::to_string(i)}});
  EXPECT_EQ(last.code, "rate_limited") << last.message;
}

TEST_F(TeamsTest, BootstrapIsClosedOnceAnOwnerExists) {
  cluster.startServer();
  const std::string key = cluster.apiKey();
  cluster.killServer(SIGTERM);
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open((cluster.serverDir() + "/berth.db").c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db, "DELETE FROM settings WHERE key IN ('bootstrap_closed', 'admin_key_created')", nullptr,
                           nullptr, nullptr),
              SQLITE_OK);
    sqlite3_close(db);
  }
  cluster.startServer();
  EXPECT_EQ(cluster.server().log().find("admin key:"), std::string::npos) << cluster.server().log();
  EXPECT_TRUE(call(key, "GET", "/api/v1/whoami").ok);
  auto users = call(key, "GET", "/api/v1/users");
  ASSERT_TRUE(users.ok);
  EXPECT_EQ(users.body["users"].size(), 1u);
  auto keys = call(key, "GET", "/api/v1/keys");
  EXPECT_EQ(keys.body["keys"].size(), 1u);
  // The CLI's whoami through the context the server wrote.
  auto [code, out] = cluster.cli({"whoami"});
  EXPECT_EQ(code, 0) << out;
  EXPECT_NE(out.find("owner"), std::string::npos) << out;
}

// The access commands of the CLI against a real server (the owner's context, then a new key).
TEST_F(TeamsTest, CliCreatesOrgsKeysAndInvitations) {
  cluster.startServer();
  auto run = [&](std::vector<std::string> args) {
    auto [code, out] = cluster.cli(args);
    EXPECT_EQ(code, 0) << out;
    return out;
  };
  EXPECT_NE(run({"whoami"}).find("platform role: admin"), std::string::npos);
  run({"org", "create", "acme"});
  EXPECT_NE(run({"org", "ls"}).find("acme"), std::string::npos);
  auto created = nlohmann::json::parse(run({"key", "create", "--scope", "read", "--expires", "30d", "--json"}));
  const std::string key = created["key"];
  EXPECT_EQ(key.rfind("bk_", 0), 0u);
  EXPECT_EQ(created["scope"], "read");
  EXPECT_GT(created["expires_at"].get<std::int64_t>(), 0);
  EXPECT_NE(run({"whoami", "--api-key", key}).find("scope:         read"), std::string::npos);
  // A read key changes nothing; the CLI says so with exit code 4.
  auto [refused, refusal] = cluster.cli({"app", "create", "web", "--api-key", key});
  EXPECT_EQ(refused, 4) << refusal;
  EXPECT_NE(run({"key", "ls"}).find(created["id"].get<std::string>()), std::string::npos);
  auto rotated = nlohmann::json::parse(run({"key", "rotate", created["id"], "--overlap", "1h", "--json"}));
  EXPECT_EQ(rotated["replaces"]["state"], "overlap");
  EXPECT_EQ(cluster.cli({"whoami", "--api-key", key}).first, 0);  // inside the overlap
  run({"key", "revoke", created["id"]});
  EXPECT_EQ(cluster.cli({"whoami", "--api-key", key}).first, 4);
  const std::string invite = run({"user", "invite", "bob", "--role", "viewer", "--expires", "1d"});
  EXPECT_NE(invite.find("bi_"), std::string::npos) << invite;
  EXPECT_NE(invite.find("berth user accept"), std::string::npos) << invite;
  EXPECT_NE(run({"user", "ls"}).find("owner"), std::string::npos);
  // A key of the default org refuses to act in acme.
  auto [other, otherOut] = cluster.cli({"app", "ls", "--org", "acme"});
  EXPECT_EQ(other, 4) << otherOut;
}

const std::vector<std::string> kHttpdArgs = {"--arg", "/bin/busybox", "--arg", "httpd", "--arg", "-f", "--arg",
                                             "-p",    "--arg",        "8080",  "--arg", "-h", "--arg", "/www"};

// Two orgs and the default org each deploy "web" on one node and one dockerd:
// three containers, three names, each serving its own page.
TEST_F(TeamsTest, TwoOrgsDeployWebOnOneDockerdWithoutColliding) {
  auto daemon = std::make_unique<DockerDaemon>();
  ASSERT_TRUE(daemon->ready());
  daemon->importBusybox("berth-test/web", "a", {{"/www/index.html", "acme\n"}});
  daemon->importBusybox("berth-test/web", "b", {{"/www/index.html", "beta\n"}});
  daemon->importBusybox("berth-test/web", "d", {{"/www/index.html", "default\n"}});
  cluster.startServer({"--base-domain", "apps.test"});
  const std::string node = cluster.startOnlineAgent(
      "a", {"--docker-socket", daemon->socket, "--docker-network", "berth-test", "--reconcile-interval-s", "1"});
  ASSERT_FALSE(node.empty());
  ownerLogsIn();
  const std::map<std::string, std::string> keys = {
      {"acme", orgWithAdminKey("acme")}, {"beta", orgWithAdminKey("beta")}, {"default", cluster.apiKey()}};
  const std::map<std::string, std::string> tags = {{"acme", "a"}, {"beta", "b"}, {"default", "d"}};
  for (const auto& [org, key] : keys) {
    std::vector<std::string> args = {"app", "deploy", "web", "--image", "berth-test/web:" + tags.at(org), "--port",
                                     "8080", "--health", "http:/", "--health-interval", "300ms", "--health-timeout", "300ms", "--api-key", key};
    args.insert(args.end(), kHttpdArgs.begin(), kHttpdArgs.end());
    auto [code, out] = cluster.cli(args);
    ASSERT_EQ(code, 0) << org << ": " << out << cluster.agent("a").log();
  }
  const std::map<std::string, std::string> expected = {
      {"acme", "berth-web.acme-d1-0"}, {"beta", "berth-web.beta-d1-0"}, {"default", "berth-web-d1-0"}};
  for (const auto& [org, key] : keys) {
    const std::string appKey = org == "default" ? "web" : "web." + org;
    auto ids = daemon->docker->list({{"berth.app", appKey}});
    ASSERT_TRUE(ids.ok());
    ASSERT_EQ(ids->size(), 1u) << org;
    auto info = daemon->docker->inspect(ids->front());
    ASSERT_TRUE(info.ok() && info->has_value());
    EXPECT_EQ((*info)->name, expected.at(org));
    auto page = runProcess({"curl", "-s", "-m", "3", "http://" + (*info)->ip_address + ":8080/"}, 5000);
    ASSERT_TRUE(page.ok());
    EXPECT_EQ(page->output, org + "\n");
    // The generated hostname carries the org outside the default org.
    auto app = call(key, "GET", "/api/v1/apps/web");
    ASSERT_TRUE(app.ok) << app.message;
    EXPECT_EQ(app.body["org"], org);
    EXPECT_NE(app.body["domains"].dump().find(org == "default" ? "\"web.apps.test\"" : "\"web." + org + ".apps.test\""),
              std::string::npos)
        << app.body["domains"].dump();
  }
  // Deleting acme's web leaves the others running.
  auto removed = cluster.cli({"app", "delete", "web", "--api-key", keys.at("acme")});
  ASSERT_EQ(removed.first, 0) << removed.second;
  EXPECT_TRUE(eventually([&] { return daemon->docker->list({{"berth.app", "web.acme"}})->empty(); }));
  EXPECT_EQ(daemon->docker->list({{"berth.app", "web.beta"}})->size(), 1u);
  EXPECT_EQ(daemon->docker->list({{"berth.app", "web"}})->size(), 1u);
  cluster.agent("a").signal(SIGTERM);
  cluster.agent("a").wait(std::chrono::seconds(20));
}

}  // namespace
}  // namespace berth::itest
