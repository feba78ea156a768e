// The audit chain through a real server, its SQLite file and the CLI: every
// mutation (and refusal) leaves one chained record; `berth audit verify` names
// the first record edited or deleted in the database and, with --head, sees
// the newest records removed; org admins read their org's records only; no
// secret reaches an audit record or the server log. Servers started: berth
// server on 127.0.0.1; for the secrets test one berth agent without Docker.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "common/clock.hpp"
#include "common/subprocess.hpp"
#include "harness.hpp"
#include "pki/authority.hpp"
#include "pki/keys.hpp"
#include "pki/sealed_file.hpp"

namespace berth::itest {
namespace {

using Answer = BearerAnswer;

class AuditTest : public ::testing::Test {
 protected:
  Cluster cluster;

  Answer call(const std::string& bearer, const std::string& method, const std::string& target,
              const nlohmann::json& body = nullptr, const std::string& org = "") {
    return cluster.callAs(bearer, method, target, body, org);
  }

  // Runs SQL on the server's database (WAL: the running server sees it at its next read).
  void sql(const std::string& statement) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open((cluster.serverDir() + "/berth.db").c_str(), &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    char* error = nullptr;
    EXPECT_EQ(sqlite3_exec(db, statement.c_str(), nullptr, nullptr, &error), SQLITE_OK) << (error ? error : "");
    sqlite3_free(error);
    sqlite3_close(db);
  }

  // Every column of every audit row, as text.
  std::string auditRows() {
    sqlite3* db = nullptr;
    EXPECT_EQ(sqlite3_open((cluster.serverDir() + "/berth.db").c_str(), &db), SQLITE_OK);
    sqlite3_stmt* stmt = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db, "SELECT * FROM audit", -1, &stmt, nullptr), SQLITE_OK);
    std::string out;
    while (sqlite3_step(stmt) == SQLITE_ROW) {
      for (int i = 0; i < sqlite3_column_count(stmt); ++i) {
        auto* text = sqlite3_column_text(stmt, i);
        out += (text ? reinterpret_cast<const char*>(text) : "") + std::string("|");
      }
      out += "\n";
    }
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return out;
  }

  std::string serverLogs() {
    std::string out;
    for (const auto& entry : std::filesystem::directory_iterator(cluster.root())) {
      const auto name = entry.path().filename().string();
      if (name.rfind("server-", 0) != 0) continue;
      auto text = pki::readFile(entry.path().string());
      EXPECT_TRUE(text.ok());
      if (text) out += *text;
    }
    return out;
  }

  nlohmann::json verify(const std::vector<std::string>& extra = {}) {
    std::vector<std::string> args = {"audit", "verify", "--json"};
    args.insert(args.end(), extra.begin(), extra.end());
    auto [code, out] = cluster.cli(args);
    auto parsed = nlohmann::json::parse(out.substr(out.find('{')), nullptr, false);
    EXPECT_FALSE(parsed.is_discarded()) << out;
    EXPECT_EQ(code == 0, parsed.value("ok", false)) << out;
    return parsed;
  }

  // A few mutations: join tokens, an org, an app.
  void someMutations(int n) {
    for (int i = 0; i < n; ++i) ASSERT_EQ(cluster.api("POST", "/api/v1/tokens", {{"ttl_s", 600}}).status, 201);
  }

  // An org and an admin key of its owner "<org>-boss" (no platform role).
  std::string orgWithAdminKey(const std::string& org, const std::string& ownerSession) {
    EXPECT_TRUE(call(cluster.apiKey(), "POST", "/api/v1/orgs", {{"name", org}}).ok);
    auto invite = call(ownerSession, "POST", "/api/v1/users/invite", {{"name", org + "-boss"}, {"role", "owner"}}, org);
    EXPECT_TRUE(invite.ok) << invite.message;
    const std::string password = org + " boss password";
    EXPECT_TRUE(
        call("", "POST", "/api/v1/invites/accept", {{"token", invite.body["token"]}, {"password", password}}).ok);
    auto login = call("", "POST", "/api/v1/login", {{"name", org + "-boss"}, {"password", password}});
    EXPECT_TRUE(login.ok) << login.message;
    auto key = call(login.body.value("token", ""), "POST", "/api/v1/keys", {{"scope", "admin"}});
    EXPECT_TRUE(key.ok) << key.message;
    return key.body.value("key", std::string());
  }

  std::string ownerSession() {
    EXPECT_TRUE(call(cluster.apiKey(), "PUT", "/api/v1/users/me/password", {{"password", "owner password!"}}).ok);
    auto login = call("", "POST", "/api/v1/login", {{"name", "owner"}, {"password", "owner password!"}});
    EXPECT_TRUE(login.ok) << login.message;
    return login.body.value("token", std::string());
  }
};

TEST_F(AuditTest, TheChainVerifiesAndItsHeadIsLoggedAtStart) {
  cluster.startServer();
  someMutations(4);
  auto report = verify();
  EXPECT_TRUE(report["ok"].get<bool>()) << report.dump();
  EXPECT_GE(report["checked"].get<int>(), 4);
  const std::string head = report["head"]["hash"];
  ASSERT_EQ(head.size(), 64u);

  // Each record names actor, org, action, target, request id, source and outcome.
  auto records = cluster.api("GET", "/api/v1/audit?limit=1").body["records"];
  ASSERT_EQ(records.size(), 1u);
  const auto& r = records[0];
  EXPECT_EQ(r["action"], "POST /api/v1/tokens");
  EXPECT_EQ(r["outcome"], "ok");
  EXPECT_EQ(r["detail"], "201");
  EXPECT_EQ(r["org"], "default");
  EXPECT_EQ(r["source"], "127.0.0.1");
  EXPECT_EQ(r["actor"].get<std::string>().rfind("key:", 0), 0u) << r.dump();
  EXPECT_FALSE(r["request_id"].get<std::string>().empty());
  EXPECT_EQ(r["hash"], head);

  // A restart logs the head the CLI saw.
  cluster.killServer(SIGTERM);
  cluster.startServer();
  EXPECT_TRUE(eventually([&] { return cluster.server().log().find(head) != std::string::npos; }))
      << cluster.server().log();
  EXPECT_NE(cluster.server().log().find("audit chain head"), std::string::npos);
  // The CLI's own view agrees.
  auto [code, out] = cluster.cli({"audit", "verify", "--head", head});
  EXPECT_EQ(code, 0) << out;
  EXPECT_NE(out.find("audit chain intact"), std::string::npos) << out;
}

TEST_F(AuditTest, ARecordEditedInTheDatabaseIsNamed) {
  cluster.startServer();
  someMutations(5);
  ASSERT_TRUE(verify()["ok"].get<bool>());
  sql("UPDATE audit SET outcome = 'ok', detail = '201' WHERE id = 3");  // looks harmless, changes the hash
  sql("UPDATE audit SET actor = 'key:someone-else' WHERE id = 3");
  auto report = verify();
  EXPECT_FALSE(report["ok"].get<bool>());
  EXPECT_EQ(report["broken_id"], 3) << report.dump();
  auto [code, out] = cluster.cli({"audit", "verify"});
  EXPECT_NE(code, 0);
  EXPECT_NE(out.find("BROKEN at record 3"), std::string::npos) << out;

  // Recomputing the edited record's hash moves the break to the next record.
  sql("UPDATE audit SET hash = 'ab' || substr(hash, 3) WHERE id = 3");
  EXPECT_EQ(verify()["broken_id"], 3);
}

TEST_F(AuditTest, ARecordDeletedFromTheDatabaseIsNamed) {
  cluster.startServer();
  someMutations(5);
  sql("DELETE FROM audit WHERE id = 2");
  auto report = verify();
  EXPECT_FALSE(report["ok"].get<bool>());
  EXPECT_EQ(report["broken_id"], 3) << report.dump();
  EXPECT_NE(report["reason"].get<std::string>().find("does not follow record 1"), std::string::npos) << report.dump();

  // The oldest record gone: the first left no longer starts the chain.
  sql("DELETE FROM audit WHERE id = 1");
  EXPECT_EQ(verify()["broken_id"], 3);
}

// A row slipped in below the first id (the server never gives one) is read and named, not skipped.
TEST_F(AuditTest, ARecordInsertedBelowTheFirstIdIsNamed) {
  cluster.startServer();
  someMutations(3);
  ASSERT_TRUE(verify()["ok"].get<bool>());
  sql("INSERT INTO audit (id, at, actor, org, action, target, request_id, source, outcome, detail, prev_hash, hash) "
      "VALUES (0, 1, 'key:fake', 'default', 'POST /api/v1/apps', 'evil', '', '1.2.3.4', 'ok', '201', '', '')");
  auto report = verify();
  EXPECT_FALSE(report["ok"].get<bool>()) << report.dump();
  EXPECT_EQ(report["broken_id"], 0) << report.dump();
  EXPECT_NE(report["reason"].get<std::string>().find("below 1"), std::string::npos) << report.dump();
}

TEST_F(AuditTest, RemovingTheNewestRecordsIsSeenAgainstASavedHead) {
  cluster.startServer();
  someMutations(5);
  const std::string saved = verify()["head"]["hash"];
  const int newest = cluster.api("GET", "/api/v1/audit?limit=1").body["records"][0]["id"];
  sql("DELETE FROM audit WHERE id > " + std::to_string(newest - 2));
  // What is left is a valid, shorter chain; new records chain onto it.
  someMutations(1);
  EXPECT_TRUE(verify()["ok"].get<bool>());
  auto report = verify({"--head", saved});
  EXPECT_FALSE(report["ok"].get<bool>()) << report.dump();
  EXPECT_TRUE(report["chain_ok"].get<bool>());
  EXPECT_FALSE(report["saved_head_found"].get<bool>());
  auto [code, out] = cluster.cli({"audit", "verify", "--head", saved});
  EXPECT_NE(code, 0);
  EXPECT_NE(out.find("NOT VERIFIED"), std::string::npos) << out;
}

TEST_F(AuditTest, RefusedRequestsAreAuditedAndChangeNothing) {
  cluster.startServer();
  const std::string session = ownerSession();
  const std::string acme = orgWithAdminKey("acme", session);
  // A read key of acme's owner.
  auto readKey = call(acme, "POST", "/api/v1/keys", {{"scope", "read"}});
  ASSERT_TRUE(readKey.ok) << readKey.message;
  const std::string viewer = readKey.body["key"];
  const std::string viewerId = readKey.body["id"];

  auto refused = call(viewer, "POST", "/api/v1/apps", {{"name", "web"}});
  EXPECT_EQ(refused.code, "forbidden");
  EXPECT_EQ(call(acme, "GET", "/api/v1/apps/web").code, "not_found");  // nothing was made
  auto anonymous = call("bk_nope_notakey", "POST", "/api/v1/apps", {{"name", "web"}});
  EXPECT_EQ(anonymous.code, "unauthorized");
  auto badName = call(acme, "POST", "/api/v1/apps/Bad_Name/deployments", {{"image", "x"}});
  EXPECT_EQ(badName.code, "invalid_argument");
  auto noOrg = call(acme, "POST", "/api/v1/orgs", {{"name", "sneaky"}});
  EXPECT_EQ(noOrg.code, "forbidden");
  EXPECT_EQ(call(cluster.apiKey(), "GET", "/api/v1/orgs").body.dump().find("sneaky"), std::string::npos);

  auto records = call(cluster.apiKey(), "GET", "/api/v1/audit?limit=50").body["records"];
  auto find = [&](const std::string& actor, const std::string& action) -> nlohmann::json {
    for (const auto& r : records)
      if (r["actor"] == actor && r["action"] == action) return r;
    return nullptr;
  };
  auto byViewer = find("key:" + viewerId, "POST /api/v1/apps");
  ASSERT_FALSE(byViewer.is_null()) << records.dump(1);
  EXPECT_EQ(byViewer["outcome"], "refused");
  EXPECT_EQ(byViewer["detail"], "403 forbidden");
  EXPECT_EQ(byViewer["org"], "acme");
  EXPECT_EQ(byViewer["target"], "/apps");  // a refused caller's body is never parsed
  auto byNobody = find("anonymous", "POST /api/v1/apps");
  ASSERT_FALSE(byNobody.is_null()) << records.dump(1);
  EXPECT_EQ(byNobody["outcome"], "refused");
  EXPECT_EQ(byNobody["detail"], "401 unauthorized");
  EXPECT_EQ(byNobody["source"], "127.0.0.1");
  bool sawBadName = false, sawOrg = false;
  for (const auto& r : records) {
    sawBadName |= r["detail"] == "400 invalid_argument" && r["action"] == "POST /api/v1/apps/Bad_Name/deployments";
    sawOrg |= r["action"] == "POST /api/v1/orgs" && r["outcome"] == "refused";
  }
  EXPECT_TRUE(sawBadName) << records.dump(1);
  EXPECT_TRUE(sawOrg) << records.dump(1);
  EXPECT_TRUE(verify()["ok"].get<bool>());
}

// Requests without a valid credential cost an attacker nothing: past a
// server-wide budget their refusals are counted, not written one by one, and
// the next record that fits says how many were left out.
TEST_F(AuditTest, AFloodOfAnonymousRefusalsIsCountedNotWrittenRowByRow) {
  const int metricsPort = freePort();
  cluster.startServer({"--audit-anonymous-per-s", "1", "--audit-anonymous-burst", "3", "--metrics-listen",
                       "127.0.0.1:" + std::to_string(metricsPort)});
  // Rows written one by one, and the refusals the summary records account for.
  struct Counted {
    int rows = 0;
    long summed = 0;
  };
  auto counted = [&] {
    Counted out;
    auto page = call(cluster.apiKey(), "GET", "/api/v1/audit?limit=1000");
    EXPECT_TRUE(page.ok) << page.message;
    for (const auto& r : page.body["records"]) {
      out.rows += r["actor"] == "anonymous";
      if (r["action"] == "audit unrecorded") {
        EXPECT_EQ(r["actor"], "server");
        out.summed += std::stol(r["detail"].get<std::string>());  // "<n> refused requests ..."
      }
    }
    return out;
  };
  auto unrecorded = [&] {
    auto m = runProcess({"curl", "-s", "-m", "5", "http://127.0.0.1:" + std::to_string(metricsPort) + "/metrics"},
                        10000);
    EXPECT_TRUE(m.ok());
    const std::string name = "\nberth_audit_anonymous_unrecorded_total ";
    const auto at = m.ok() ? m->output.find(name) : std::string::npos;
    return at == std::string::npos ? -1L : std::stol(m->output.substr(at + name.size()));
  };
  constexpr int kFlood = 30;
  for (int i = 0; i < kFlood; ++i)
    EXPECT_EQ(call("bk_nope_" + std::to_string(i), "POST", "/api/v1/apps", {{"name", "x"}}).code, "unauthorized");
  const Counted during = counted();
  const long left = unrecorded();
  EXPECT_GE(during.rows, 3);
  EXPECT_LT(during.rows, kFlood) << "every anonymous refusal was written";
  EXPECT_EQ(during.rows + left, kFlood) << "each refusal is either a row or counted";
  // Once the bucket has a token again, a record sums up what was left out.
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  EXPECT_EQ(call("bk_nope_last", "POST", "/api/v1/apps", {{"name", "x"}}).code, "unauthorized");
  const Counted after = counted();
  EXPECT_EQ(after.rows, during.rows + 1);
  EXPECT_EQ(after.summed, left) << "the summaries account for every refusal left out";
  EXPECT_TRUE(verify()["ok"].get<bool>());
}

TEST_F(AuditTest, OrgAdminsReadTheirOrgsRecordsOnly) {
  cluster.startServer();
  const std::string session = ownerSession();
  const std::string acme = orgWithAdminKey("acme", session);
  const std::string beta = orgWithAdminKey("beta", session);
  ASSERT_TRUE(call(acme, "POST", "/api/v1/apps", {{"name", "shop"}}).ok);
  ASSERT_TRUE(call(beta, "POST", "/api/v1/apps", {{"name", "blog"}}).ok);

  auto orgsOf = [](const nlohmann::json& records) {
    std::set<std::string> orgs;
    for (const auto& r : records) orgs.insert(r["org"].get<std::string>());
    return orgs;
  };
  auto acmeView = call(acme, "GET", "/api/v1/audit?limit=1000");
  ASSERT_TRUE(acmeView.ok) << acmeView.message;
  EXPECT_EQ(orgsOf(acmeView.body["records"]), std::set<std::string>{"acme"});
  EXPECT_NE(acmeView.body.dump().find("shop"), std::string::npos);
  EXPECT_EQ(acmeView.body.dump().find("blog"), std::string::npos);
  // Naming another org reads like a missing one; an org filter cannot widen the view.
  EXPECT_EQ(call(acme, "GET", "/api/v1/audit?org=beta").code, "not_found");
  EXPECT_EQ(orgsOf(call(acme, "GET", "/api/v1/audit?org=acme").body["records"]), std::set<std::string>{"acme"});
  // A deploy-scope key of acme (not an admin) reads nothing.
  auto deployKey = call(acme, "POST", "/api/v1/keys", {{"scope", "deploy"}});
  EXPECT_EQ(call(deployKey.body.value("key", ""), "GET", "/api/v1/audit").code, "forbidden");

  // The platform admin reads all, and filters.
  auto all = call(cluster.apiKey(), "GET", "/api/v1/audit?limit=1000").body["records"];
  EXPECT_TRUE(orgsOf(all).count("acme") && orgsOf(all).count("beta") && orgsOf(all).count("default"));
  EXPECT_EQ(orgsOf(call(cluster.apiKey(), "GET", "/api/v1/audit?org=beta").body["records"]),
            std::set<std::string>{"beta"});
  auto [code, out] = cluster.cli({"audit", "ls", "--org", "acme", "--target", "shop"});
  EXPECT_EQ(code, 0) << out;
  EXPECT_NE(out.find("POST /api/v1/apps"), std::string::npos) << out;
  EXPECT_EQ(out.find("blog"), std::string::npos) << out;
  auto [sinceCode, sinceOut] = cluster.cli({"audit", "ls", "--since", "1h", "--json", "--limit", "2"});
  EXPECT_EQ(sinceCode, 0) << sinceOut;
  EXPECT_NE(sinceOut.find("\"before\""), std::string::npos) << sinceOut;  // more pages, and the cursor
  // An org admin cannot verify the whole chain: it sees gaps, so verify is for platform admins.
  auto [acmeCode, acmeOut] = cluster.cli({"audit", "verify", "--api-key", acme});
  EXPECT_NE(acmeCode, 0) << acmeOut;
  EXPECT_NE(acmeOut.find("needs a platform admin"), std::string::npos) << acmeOut;
  EXPECT_EQ(acmeView.body["view"], "org");
  EXPECT_EQ(call(cluster.apiKey(), "GET", "/api/v1/audit?limit=1").body["view"], "all");
}

// Secret-bearing requests, accepted and refused: nothing secret reaches an
// audit record (the database's rows) or the server's log.
TEST_F(AuditTest, SecretsNeverReachAuditRecordsOrTheLog) {
  cluster.startServer({"--log-level", "debug"});
  const std::string node = cluster.startOnlineAgent("a");
  ASSERT_FALSE(node.empty());
  std::vector<std::string> secrets;
  auto secret = [&](const std::string& name) {
    secrets.push_back(name + "-s3cr3t-" + std::to_string(secrets.size()) + "-zq");
    return secrets.back();
  };

  // App secrets and registry passwords, on an accepted deploy and on a refused one.
  ASSERT_TRUE(call(cluster.apiKey(), "POST", "/api/v1/apps", {{"name", "web"}}).ok);
  nlohmann::json spec = {{"image", "registry.example.test/web:1"},
                         {"secrets", {{"DB_PASSWORD", secret("app")}}},
                         {"registry_auth", {{"username", "deployer"}, {"password", secret("registry")}}}};
  auto deployed = call(cluster.apiKey(), "POST", "/api/v1/apps/web/deployments", spec);
  EXPECT_TRUE(deployed.ok) << deployed.message;
  // The node's coming online is audited, by the node.
  bool online = false;
  const auto nodeRecords = call(cluster.apiKey(), "GET", "/api/v1/audit?limit=1000&target=" + node).body["records"];
  for (const auto& r : nodeRecords) online |= r["action"] == "node online" && r["actor"] == "node:" + node;
  EXPECT_TRUE(online) << nodeRecords.dump(1);
  // The agent's report of the deploy command's outcome is audited, by the node.
  EXPECT_TRUE(eventually(
      [&] {
        auto records = call(cluster.apiKey(), "GET", "/api/v1/audit?actor=node%3A" + node).body["records"];
        for (const auto& r : records)
          if (r["action"].get<std::string>().rfind("command app.deploy ", 0) == 0) return true;
        return false;
      },
      std::chrono::seconds(30)))
      << call(cluster.apiKey(), "GET", "/api/v1/audit").body.dump(1);
  spec["secrets"] = {{"BAD NAME", secret("app-refused")}};
  EXPECT_FALSE(call(cluster.apiKey(), "POST", "/api/v1/apps/web/deployments", spec).ok);

  // An uploaded certificate key, refused (not the certificate's) and accepted.
  ASSERT_TRUE(call(cluster.apiKey(), "POST", "/api/v1/apps/web/domains", {{"domain", "intranet.corp.test"}}).ok);
  auto ca = pki::CertificateAuthority::createNew("corp test CA", systemNowMs() - kHourMs, 30 * kDayMs);
  const std::string key = pki::generatePrivateKeyPem();
  const std::string otherKey = pki::generatePrivateKeyPem();
  auto leaf = ca.issueServerCertificate(key, {"intranet.corp.test"}, systemNowMs() - kHourMs, 10 * kDayMs);
  ASSERT_TRUE(leaf.ok());
  EXPECT_FALSE(call(cluster.apiKey(), "PUT", "/api/v1/apps/web/domains/intranet.corp.test/certificate",
                    {{"certificate", leaf->cert_pem}, {"key", otherKey}})
                   .ok);
  auto uploaded = call(cluster.apiKey(), "PUT", "/api/v1/apps/web/domains/intranet.corp.test/certificate",
                       {{"certificate", leaf->cert_pem}, {"key", key}});
  EXPECT_TRUE(uploaded.ok) << uploaded.message;
  // A PEM key's base64 body lines (the armour lines are not secret).
  for (const std::string& pem : {key, otherKey}) {
    std::istringstream lines(pem);
    std::string line;
    while (std::getline(lines, line))
      if (line.size() > 40 && line.find("-----") == std::string::npos) secrets.push_back(line);
  }

  // Passwords at accept and login (right and wrong), the owner's new password.
  const std::string ownerPassword = secret("owner-password");
  ASSERT_TRUE(call(cluster.apiKey(), "PUT", "/api/v1/users/me/password", {{"password", ownerPassword}}).ok);
  auto session = call("", "POST", "/api/v1/login", {{"name", "owner"}, {"password", ownerPassword}});
  ASSERT_TRUE(session.ok) << session.message;
  secrets.push_back(session.body["token"]);
  EXPECT_FALSE(call("", "POST", "/api/v1/login", {{"name", "owner"}, {"password", secret("wrong-password")}}).ok);
  auto invite = call(session.body["token"], "POST", "/api/v1/users/invite", {{"name", "vic"}, {"role", "member"}});
  ASSERT_TRUE(invite.ok) << invite.message;
  secrets.push_back(invite.body["token"]);
  const std::string vicPassword = secret("accept-password");
  ASSERT_TRUE(
      call("", "POST", "/api/v1/invites/accept", {{"token", invite.body["token"]}, {"password", vicPassword}}).ok);
  EXPECT_FALSE(call("", "POST", "/api/v1/invites/accept",
                    {{"token", invite.body["token"]}, {"password", secret("replayed-accept")}})
                   .ok);

  // API key secrets: made, used, rotated, used wrongly.
  auto made = call(cluster.apiKey(), "POST", "/api/v1/keys", {{"scope", "deploy"}});
  ASSERT_TRUE(made.ok) << made.message;
  const std::string madeKey = made.body["key"];
  secrets.push_back(madeKey.substr(madeKey.rfind('_') + 1));  // the secret part (the prefix is public)
  EXPECT_TRUE(call(madeKey, "POST", "/api/v1/apps", {{"name", "other"}}).ok);
  auto rotated = call(cluster.apiKey(), "POST", "/api/v1/keys/" + made.body["id"].get<std::string>() + "/rotate",
                      nlohmann::json::object());
  ASSERT_TRUE(rotated.ok) << rotated.message;
  const std::string rotatedKey = rotated.body["key"];
  secrets.push_back(rotatedKey.substr(rotatedKey.rfind('_') + 1));
  EXPECT_FALSE(call(madeKey + "x", "POST", "/api/v1/apps", {{"name", "third"}}).ok);
  const std::string bootstrapSecret = cluster.apiKey().substr(cluster.apiKey().rfind('_') + 1);
  // A join token's secret.
  auto token = cluster.api("POST", "/api/v1/tokens", {{"ttl_s", 600}}).body;
  secrets.push_back(token.value("token", std::string("missing")));

  const std::string rows = auditRows();
  std::string logs = serverLogs();
  // The one deliberate exception: the first start prints the bootstrap owner's
  // key once, on its own line, for the operator's terminal. Nowhere else.
  EXPECT_EQ(rows.find(bootstrapSecret), std::string::npos);
  const auto shown = logs.find(bootstrapSecret);
  ASSERT_NE(shown, std::string::npos);
  const auto lineStart = logs.rfind('\n', shown) + 1;
  const auto lineEnd = logs.find('\n', shown);
  EXPECT_NE(logs.substr(lineStart, lineEnd - lineStart).find("(shown once"), std::string::npos);
  logs.erase(lineStart, lineEnd - lineStart);
  EXPECT_EQ(logs.find(bootstrapSecret), std::string::npos) << "the bootstrap key beyond its one line";
  ASSERT_GT(rows.size(), 1000u) << rows;  // the mutations above were audited
  EXPECT_NE(logs.find("\"request\""), std::string::npos) << logs.substr(0, 2000);
  for (const auto& s : secrets) {
    ASSERT_GE(s.size(), 12u) << s;
    EXPECT_EQ(rows.find(s), std::string::npos) << "in the audit rows: " << s;
    EXPECT_EQ(logs.find(s), std::string::npos) << "in the server log: " << s;
  }
  EXPECT_TRUE(verify()["ok"].get<bool>());
}

}  // namespace
}  // namespace berth::itest
