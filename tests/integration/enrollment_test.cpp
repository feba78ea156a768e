// Servers started: one `berth server` on 127.0.0.1 (real TLS, SQLite), and
// `berth agent` processes that dial it.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>
#include "agent/enrollment.hpp"
#include "common/clock.hpp"
#include "common/version.hpp"
#include "harness.hpp"
#include "net/http_client.hpp"
#include "pki/authority.hpp"
#include "pki/keys.hpp"
#include "pki/sealed_file.hpp"
#include "agent/agent_state.hpp"

namespace berth::itest {
namespace {

constexpr std::int64_t kDayMs = 86'400'000;

TEST(Enrollment, AgentJoinsAndComesOnlineWithItsFacts) {
  Cluster c;
  c.startServer();
  const std::string id = c.startOnlineAgent("a1", {"--site", "lab", "--labels", "zone=a,tier=web"});
  auto node = c.node(id);
  EXPECT_EQ(node["site"], "lab");
  EXPECT_EQ(node["labels"]["zone"], "a");
  EXPECT_EQ(node["version"], kVersion);
  EXPECT_TRUE(node["capacity"].contains("cpus"));
  EXPECT_EQ(node["connected"], true);
  // The client certificate is short-lived (30 days by default) and names the node.
  auto state = c.agentState("a1");
  auto info = pki::inspectCertificate(state.cert_pem);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->common_name, id);
  EXPECT_NEAR(static_cast<double>(info->not_after_ms - systemNowMs()), 30.0 * kDayMs, 60'000.0);
  // The private key is not stored in the clear.
  auto onDisk = *pki::readFile(c.agentDir("a1") + "/agent.json");
  EXPECT_EQ(onDisk.find("PRIVATE KEY"), std::string::npos);
  // The enrolment was audited.
  auto audit = c.api("GET", "/api/v1/audit").body["records"];
  bool found = false;
  for (const auto& r : audit) found |= r["action"] == "POST /api/v1/enroll" && r["outcome"] == "ok" && r["detail"] == "201";
  EXPECT_TRUE(found) << audit.dump();
}

TEST(Enrollment, ReusedExpiredAndUnknownTokensGetOneAnswerThatNamesNoNode) {
  Cluster c;
  c.startServer();
  auto consumed = c.createToken();
  auto& ok = c.startAgent("first", consumed);
  ASSERT_TRUE(eventually([&] { return pki::fileExists(c.agentDir("first") + "/agent.json"); })) << ok.log();
  const std::string firstNode = c.agentState("first").node_id;
  const std::string generic = "join token is not valid (unknown, already used or expired)";
  auto& again = c.startAgent("second", consumed);
  EXPECT_EQ(again.wait(std::chrono::seconds(15)), 4);
  EXPECT_NE(again.log().find("token_invalid: " + generic), std::string::npos) << again.log();
  EXPECT_EQ(again.log().find(firstNode), std::string::npos) << again.log();  // who used it is not told

  auto shortLived = c.api("POST", "/api/v1/tokens", {{"ttl_s", 1}}).body["token"].get<std::string>();
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  auto& expired = c.startAgent("fifth", shortLived);
  EXPECT_EQ(expired.wait(std::chrono::seconds(15)), 4);
  EXPECT_NE(expired.log().find("token_invalid: " + generic), std::string::npos) << expired.log();

  auto& unknown = c.startAgent("sixth", "bjt_000000000000000000000000000000000000000000000000");
  EXPECT_EQ(unknown.wait(std::chrono::seconds(15)), 4);
  EXPECT_NE(unknown.log().find("token_invalid: " + generic), std::string::npos) << unknown.log();
  EXPECT_FALSE(pki::fileExists(c.agentDir("sixth") + "/agent.json"));
  // The server's log says more.
  EXPECT_NE(c.server().log().find("token_expired"), std::string::npos);
}

net::HttpResponse postEnroll(const Cluster& c, const std::string& token, const std::string& csr) {
  auto tls = net::makeClientContext({*pki::readFile(c.caFile()), "", ""});
  auto r = net::httpsRequest(*net::parseUrl(c.url()), **tls,
                             {"POST", "/api/v1/enroll", nlohmann::json{{"token", token}, {"csr", csr}}.dump(), {}});
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
  return r.ok() ? *r : net::HttpResponse{};
}

TEST(Enrollment, WrongTokensAreRateLimitedPerAddress) {
  Cluster c;
  c.startServer();
  const std::string csr = *pki::makeCsr(pki::generatePrivateKeyPem(), pki::kEnrolmentCommonName);
  int refused = 0, limited = 0;
  net::HttpResponse last;  // the last 429: a token may refill just before the 40th request
  const auto started = std::chrono::steady_clock::now();
  for (int i = 0; i < 40; ++i) {
    auto answer = postEnroll(c, "bjt_wrong" + std::to_string(i), csr);
    refused += answer.status == 401;
    limited += answer.status == 429;
    if (answer.status == 429) last = answer;
  }
  // A burst of 10, plus what refilled meanwhile at 5/s: however slow the machine, never more.
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  EXPECT_LE(refused, 10 + static_cast<int>(5 * elapsed) + 1) << "in " << elapsed << " s";
  EXPECT_EQ(refused + limited, 40);
  EXPECT_GE(limited, 1);
  EXPECT_EQ(last.status, 429) << last.body;
  EXPECT_NE(last.body.find("rate_limited"), std::string::npos) << last.body;
  EXPECT_FALSE(last.headers["retry-after"].empty());
  EXPECT_TRUE(eventually([&] {
    auto tls = net::makeClientContext({*pki::readFile(c.caFile()), "", ""});
    auto m = net::httpsRequest(*net::parseUrl(c.url()), **tls,
                               {"GET", "/metrics", "", {{"Authorization", "Bearer " + c.apiKey()}}});
    return m && m->body.find("berth_enrollments_rate_limited_total 0") == std::string::npos;
  }));
}

TEST(Enrollment, CsrAskingForMoreThanAnAgentCertIsRefusedWithoutBurningTheToken) {
  Cluster c;
  c.startServer();
  const std::string token = c.createToken();
  const std::string key = pki::generatePrivateKeyPem();
  auto otherName = postEnroll(c, token, *pki::makeCsr(key, "n_someone_else"));
  EXPECT_EQ(otherName.status, 400) << otherName.body;
  EXPECT_NE(otherName.body.find("bad_csr"), std::string::npos) << otherName.body;
  EXPECT_NE(otherName.body.find("subject CN 'n_someone_else' must be 'berth-agent'"), std::string::npos)
      << otherName.body;
  auto garbage = postEnroll(c, token, "not a csr");
  EXPECT_EQ(garbage.status, 400) << garbage.body;
  // Neither burnt the token.
  auto good = postEnroll(c, token, *pki::makeCsr(key, pki::kEnrolmentCommonName));
  EXPECT_EQ(good.status, 201) << good.body;
}

// A client certificate for `state`'s key signed now by the server's own CA
// (read from its data directory) with the given validity.
std::string forgeWithServerCa(const Cluster& c, const agent::AgentState& state, std::int64_t not_before_ms,
                              std::int64_t validity_ms) {
  auto ca = pki::CertificateAuthority::fromPem(*pki::readFile(c.serverDir() + "/pki/ca.crt"),
                                               *pki::readFile(c.serverDir() + "/pki/ca.key"));
  return ca->signAgentCsr(*pki::makeCsr(state.key_pem, state.node_id), state.node_id, not_before_ms, validity_ms)
      ->cert_pem;
}

Result<net::HttpResponse> getWith(const Cluster& c, const agent::AgentState& state) {
  auto tls = net::makeClientContext({state.ca_pem, state.cert_pem, state.key_pem});
  return net::httpsRequest(*net::parseUrl(c.url()), **tls, {"GET", "/healthz", "", {}});
}

TEST(Enrollment, ThePreviousCertificateIsRetiredOnceTheRenewedOneIsUsed) {
  Cluster c;
  c.startServer();
  const std::string id = c.startOnlineAgent("a1");
  c.agent("a1").signal(SIGTERM);
  ASSERT_NE(c.agent("a1").wait(), -1);
  const auto a = c.agentState("a1");
  auto b = a;
  ASSERT_TRUE(agent::renewCertificate(b).ok());
  EXPECT_TRUE(getWith(c, a).ok());  // the new one is unused: the old one still works
  EXPECT_TRUE(getWith(c, b).ok());  // the new one is used...
  EXPECT_FALSE(getWith(c, a).ok());  // ...so the old one is refused for sessions
  auto stale = a;
  EXPECT_FALSE(agent::renewCertificate(stale).ok());  // and for renewal
  EXPECT_NE(c.server().log().find("was replaced by a renewal"), std::string::npos);

  auto cc = b;
  ASSERT_TRUE(agent::renewCertificate(cc).ok());
  EXPECT_TRUE(getWith(c, cc).ok());
  EXPECT_FALSE(getWith(c, b).ok());
  auto staleB = b;
  EXPECT_FALSE(agent::renewCertificate(staleB).ok());
  EXPECT_FALSE(getWith(c, a).ok());
  // Also after a restart (the serials are in the store).
  c.killServer(SIGTERM);
  c.startServer();
  EXPECT_FALSE(getWith(c, b).ok());
  EXPECT_TRUE(getWith(c, cc).ok());
  EXPECT_EQ(c.node(id)["status"], "unreachable");
}

TEST(Enrollment, ExpiredAgentSaysWhyAndRejoinsWithANodeBoundToken) {
  Cluster c;
  c.startServer();
  const std::string id = c.startOnlineAgent("a1");
  c.agent("a1").signal(SIGTERM);
  ASSERT_NE(c.agent("a1").wait(), -1);
  auto state = c.agentState("a1");
  state.cert_pem = forgeWithServerCa(c, state, systemNowMs() - 3 * kDayMs, kDayMs);
  state.cert_not_after = systemNowMs() - 2 * kDayMs;
  ASSERT_TRUE(agent::saveAgentState(c.agentDir("a1"), state).ok());

  // The server's log of the refused handshake names the node and the reason.
  EXPECT_FALSE(getWith(c, state).ok());
  EXPECT_TRUE(eventually([&] {
    const auto log = c.server().log();
    return log.find("refused a client certificate") != std::string::npos && log.find(id) != std::string::npos &&
           log.find("certificate has expired") != std::string::npos;
  })) << c.server().log();
  // The agent says why it does not connect, and how to fix it.
  auto& expired = c.startAgent("a1", "");
  EXPECT_TRUE(eventually([&] {
    return expired.log().find("certificate expired at") != std::string::npos &&
           expired.log().find("berth token create --node " + id) != std::string::npos;
  })) << expired.log();
  expired.signal(SIGTERM);
  expired.wait();

  // Rejoin with a token bound to the node: same id, new certificate, audited.
  auto [code, out] = c.cli({"token", "create", "--node", id});
  ASSERT_EQ(code, 0) << out;
  const auto at = out.find("bjt_");
  ASSERT_NE(at, std::string::npos) << out;
  const std::string token = out.substr(at, out.find_first_of(" \n", at) - at);
  auto& rejoined = c.startAgent("a1", token);
  EXPECT_TRUE(eventually([&] { return c.node(id).value("status", "") == "online"; })) << rejoined.log();
  EXPECT_EQ(c.agentState("a1").node_id, id);
  EXPECT_NE(rejoined.log().find("rejoined as the same node"), std::string::npos) << rejoined.log();
  auto audit = c.api("GET", "/api/v1/audit").body["records"];
  bool found = false;
  for (const auto& r : audit) found |= r["action"] == "node rejoin" && r["target"] == id;
  EXPECT_TRUE(found) << audit.dump();
  EXPECT_FALSE(getWith(c, state).ok());  // old certificates stay refused
  rejoined.signal(SIGTERM);
  rejoined.wait();

  // A plain token on the same state directory makes a new node, and says so.
  auto& fresh = c.startAgent("a1", c.createToken());
  EXPECT_TRUE(eventually([&] { return c.agentState("a1").node_id != id; })) << fresh.log();
  EXPECT_TRUE(eventually([&] { return fresh.log().find("joined as a NEW node") != std::string::npos; }))
      << fresh.log();
  // A revoked node cannot get a rejoin token.
  c.api("POST", "/api/v1/nodes/" + id + "/revoke", nlohmann::json::object());
  auto refused = c.apiResult("POST", "/api/v1/tokens", {{"node_id", id}});
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, "conflict");
}

TEST(Enrollment, WrongCaPinIsRefusedBeforeTheTokenIsSent) {
  Cluster c;
  c.startServer();
  const std::string token = c.createToken();
  auto r = agent::enroll({c.url(), token, "sha256:" + std::string(64, '0'), "h"});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "pin_mismatch");
  // The token was never presented, so it still works.
  EXPECT_TRUE(agent::enroll({c.url(), token, c.caPin(), "h"}).ok());
}

TEST(Enrollment, CertificateFromAnotherCaIsRefusedAtTheHandshake) {
  Cluster c;
  c.startServer();
  auto foreign = pki::CertificateAuthority::createNew("someone else", systemNowMs(), kDayMs);
  auto key = pki::generatePrivateKeyPem();
  auto cert = foreign.signAgentCsr(*pki::makeCsr(key, "x"), "n_forged", systemNowMs(), kDayMs);
  auto ca = *pki::readFile(c.caFile());
  auto tls = net::makeClientContext({ca, cert->cert_pem, key});
  auto r = net::httpsRequest(*net::parseUrl(c.url()), **tls, {"GET", "/healthz", "", {}});
  EXPECT_FALSE(r.ok()) << "a foreign client certificate got HTTP " << r->status;
  // Same request without a client certificate works: the refusal is the certificate.
  auto plain = net::makeClientContext({ca, "", ""});
  auto ok = net::httpsRequest(*net::parseUrl(c.url()), **plain, {"GET", "/healthz", "", {}});
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->status, 200);
  EXPECT_NE(c.server().log().find("TLS handshake refused"), std::string::npos);
}

TEST(Enrollment, RevokedNodeIsDisconnectedAndRefused) {
  Cluster c;
  c.startServer();
  const std::string id = c.startOnlineAgent("a1");
  auto revoked = c.api("POST", "/api/v1/nodes/" + id + "/revoke", nlohmann::json::object());
  EXPECT_EQ(revoked.body["status"], "revoked");
  EXPECT_EQ(c.api("GET", "/api/v1/status").body["sessions"], 0);  // closed at once
  // Its certificate no longer gets through the TLS handshake.
  auto state = c.agentState("a1");
  auto tls = net::makeClientContext({state.ca_pem, state.cert_pem, state.key_pem});
  auto r = net::httpsRequest(*net::parseUrl(c.url()), **tls, {"GET", "/healthz", "", {}});
  EXPECT_FALSE(r.ok());
  // The agent keeps trying and keeps being refused; the node stays revoked.
  EXPECT_TRUE(eventually([&] { return countOccurrences(c.server().log(), "refused a revoked node") >= 2; }))
      << c.server().log();
  EXPECT_EQ(c.node(id)["status"], "revoked");
  EXPECT_EQ(c.node(id)["connected"], false);
  // Commands for a revoked node are refused.
  auto cmd = c.apiResult("POST", "/api/v1/nodes/" + id + "/commands", {{"verb", "ping"}});
  ASSERT_FALSE(cmd.ok());
  EXPECT_EQ(cmd.error().code, "conflict");
}

TEST(Enrollment, AgentRenewsItsCertificateOverMutualTls) {
  Cluster c;
  c.startServer();
  const std::string id = c.startOnlineAgent("a1");
  auto state = c.agentState("a1");
  const auto before = pki::inspectCertificate(state.cert_pem)->serial_hex;
  ASSERT_TRUE(agent::renewCertificate(state).ok());
  const auto after = pki::inspectCertificate(state.cert_pem);
  EXPECT_NE(after->serial_hex, before);
  EXPECT_EQ(after->common_name, id);
  // Renewal without a client certificate is refused.
  auto ca = *pki::readFile(c.caFile());
  auto plain = net::makeClientContext({ca, "", ""});
  auto r = net::httpsRequest(*net::parseUrl(c.url()), **plain, {"POST", "/api/v1/agent/renew", "{\"csr\":\"x\"}", {}});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 401);
}

}  // namespace
}  // namespace berth::itest
