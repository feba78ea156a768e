// Servers started: one `berth server` on 127.0.0.1 (real TLS, SQLite), and
// `berth agent` processes that dial it.
#include <gtest/gtest.h>

#include <thread>
#include "agent/enrollment.hpp"
#include "common/clock.hpp"
#include "harness.hpp"
#include "net/http_client.hpp"
#include "pki/authority.hpp"
#include "pki/keys.hpp"
#include "pki/sealed_file.hpp"

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
  EXPECT_EQ(node["version"], "0.1.0");
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
  for (const auto& r : audit) found |= r["action"] == "POST /api/v1/enroll" && r["outcome"] == "201";
  EXPECT_TRUE(found) << audit.dump();
}

TEST(Enrollment, ReusedExpiredAndUnknownTokensAreRefused) {
  Cluster c;
  c.startServer();
  auto consumed = c.createToken();
  auto& ok = c.startAgent("first", consumed);
  ASSERT_TRUE(eventually([&] { return pki::fileExists(c.agentDir("first") + "/agent.json"); })) << ok.log();
  auto& again = c.startAgent("second", consumed);
  EXPECT_EQ(again.wait(std::chrono::seconds(15)), 4);
  EXPECT_NE(again.log().find("token_used"), std::string::npos) << again.log();

  auto shortLived = c.api("POST", "/api/v1/tokens", {{"ttl_s", 1}}).body["token"].get<std::string>();
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  auto& expired = c.startAgent("fifth", shortLived);
  EXPECT_EQ(expired.wait(std::chrono::seconds(15)), 4);
  EXPECT_NE(expired.log().find("token_expired"), std::string::npos) << expired.log();

  auto& unknown = c.startAgent("sixth", "bjt_000000000000000000000000000000000000000000000000");
  EXPECT_EQ(unknown.wait(std::chrono::seconds(15)), 4);
  EXPECT_NE(unknown.log().find("token_unknown"), std::string::npos) << unknown.log();
  EXPECT_FALSE(pki::fileExists(c.agentDir("sixth") + "/agent.json"));
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
