// Quotas, container policy, rate limits and /metrics access through a real
// server: refusals name the quota; capabilities that give the host away and
// root need a platform admin's policy; a key over its rate gets 429 with
// Retry-After while another key is served; /metrics asks for a platform read
// key or the loopback listener. Servers started: berth server on 127.0.0.1
// and one berth agent without Docker (commands are queued, never run).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/subprocess.hpp"
#include "harness.hpp"
#include "net/http_client.hpp"
#include "net/tls.hpp"
#include "net/url.hpp"
#include "pki/sealed_file.hpp"
#include "proxy_support.hpp"

namespace berth::itest {
namespace {

class LimitsTest : public ::testing::Test {
 protected:
  struct Reply {
    int status = 0;
    nlohmann::json body;
    std::string text;
    std::map<std::string, std::string> headers;
  };

  Cluster cluster;
  std::string ownerSession;

  Reply call(const std::string& bearer, const std::string& method, const std::string& target,
             const nlohmann::json& body = nullptr, const std::string& org = "") {
    auto tls = net::makeClientContext({*pki::readFile(cluster.caFile()), "", ""});
    std::map<std::string, std::string> headers;
    if (!bearer.empty()) headers["Authorization"] = "Bearer " + bearer;
    if (!org.empty()) headers["X-Berth-Org"] = org;
    auto r = net::httpsRequest(*net::parseUrl(cluster.url()), **tls,
                               {method, target, body.is_null() ? "" : body.dump(), headers});
    if (!r) return {};
    Reply out{r->status, nullptr, r->body, r->headers};
    out.body = nlohmann::json::parse(r->body, nullptr, false);
    return out;
  }

  void ownerLogsIn() {
    ASSERT_EQ(call(cluster.apiKey(), "PUT", "/api/v1/users/me/password", {{"password", "owner password!"}}).status, 204);
    auto login = call("", "POST", "/api/v1/login", {{"name", "owner"}, {"password", "owner password!"}});
    ASSERT_EQ(login.status, 200) << login.text;
    ownerSession = login.body["token"];
  }

  // A new org and an admin key of its owner "<org>-boss", who holds no platform role.
  std::string orgWithAdminKey(const std::string& org, const std::string& scope = "admin") {
    EXPECT_EQ(call(cluster.apiKey(), "POST", "/api/v1/orgs", {{"name", org}}).status, 201);
    auto invite = call(ownerSession, "POST", "/api/v1/users/invite", {{"name", org + "-boss"}, {"role", "owner"}}, org);
    EXPECT_EQ(invite.status, 201) << invite.text;
    const std::string password = org + " boss password";
    EXPECT_EQ(call("", "POST", "/api/v1/invites/accept", {{"token", invite.body["token"]}, {"password", password}}).status,
              201);
    auto login = call("", "POST", "/api/v1/login", {{"name", org + "-boss"}, {"password", password}});
    EXPECT_EQ(login.status, 200) << login.text;
    auto key = call(login.body.value("token", ""), "POST", "/api/v1/keys", {{"scope", scope}});
    EXPECT_EQ(key.status, 201) << key.text;
    return key.body.value("key", std::string());
  }

  std::string errorMessage(const Reply& r) {
    return r.body.is_object() && r.body.contains("error") ? r.body["error"].value("message", "") : r.text;
  }
};

TEST_F(LimitsTest, QuotaRefusalsNameTheQuotaItsLimitAndTheUseAndLeaveNothingBehind) {
  cluster.startServer();
  ownerLogsIn();
  const std::string acme = orgWithAdminKey("acme");
  // Only a platform admin sets quotas: acme's own owner may not raise its own.
  auto self = call(acme, "PUT", "/api/v1/orgs/acme/quota", {{"apps", 100}});
  EXPECT_EQ(self.status, 403) << self.text;
  auto [set, setOut] = cluster.cli({"org", "quota", "set", "acme", "--apps", "1", "--memory", "128m"});
  ASSERT_EQ(set, 0) << setOut;
  EXPECT_NE(setOut.find("apps"), std::string::npos) << setOut;
  auto [bad, badOut] = cluster.cli({"org", "quota", "set", "acme", "--memory", "lots"});
  EXPECT_NE(bad, 0);
  EXPECT_NE(badOut.find("memory"), std::string::npos) << badOut;

  EXPECT_EQ(call(acme, "POST", "/api/v1/apps", {{"name", "one"}}).status, 201);
  auto second = call(acme, "POST", "/api/v1/apps", {{"name", "two"}});
  EXPECT_EQ(second.status, 403) << second.text;
  EXPECT_EQ(second.body["error"]["code"], "quota_exceeded");
  EXPECT_NE(errorMessage(second).find("quota 'apps' of org acme is 1; in use: 1"), std::string::npos) << second.text;
  // A first deploy that creates its app is refused whole: no empty app is left behind.
  EXPECT_EQ(call(cluster.apiKey(), "PUT", "/api/v1/orgs/acme/quota", {{"apps", 5}}).status, 200);
  auto over = call(acme, "POST", "/api/v1/apps/big/deployments?create=1",
                   {{"image", "nginx:1"}, {"limits", {{"memory", "256m"}}}});
  EXPECT_EQ(over.status, 403) << over.text;
  EXPECT_NE(errorMessage(over).find("quota 'memory'"), std::string::npos) << over.text;
  EXPECT_EQ(call(acme, "GET", "/api/v1/apps/big").status, 404);
  auto limits = call(acme, "GET", "/api/v1/orgs/acme/limits");
  ASSERT_EQ(limits.status, 200) << limits.text;
  EXPECT_EQ(limits.body["usage"]["apps"], 1);
  EXPECT_EQ(limits.body["quotas"]["memory_bytes"], 128 * 1024 * 1024);
  // Another org's limits read like a missing org.
  EXPECT_EQ(call(acme, "GET", "/api/v1/orgs/default/limits").status, 404);
}

TEST_F(LimitsTest, HostCapabilitiesAndRootAreRefusedUnlessThePlatformAdminAllowsThem) {
  cluster.startServer({"--allowed-capabilities", "SYS_PTRACE,NET_ADMIN"});
  ownerLogsIn();
  const std::string acme = orgWithAdminKey("acme");
  cluster.startOnlineAgent("a");  // a platform node, no Docker: accepted deploys are queued there
  EXPECT_EQ(call(acme, "POST", "/api/v1/apps", {{"name", "web"}}).status, 201);
  auto refused = call(acme, "POST", "/api/v1/apps/web/deployments", {{"image", "nginx:1"}, {"capabilities", {"SYS_PTRACE"}}});
  EXPECT_EQ(refused.status, 403) << refused.text;
  EXPECT_EQ(refused.body["error"]["code"], "policy_refused");
  EXPECT_NE(errorMessage(refused).find("SYS_PTRACE"), std::string::npos);
  EXPECT_TRUE(call(acme, "GET", "/api/v1/apps/web").body["deployments"].empty());  // nothing queued
  // acme's owner cannot allow it; outside the server's ceiling the platform admin cannot either.
  EXPECT_EQ(call(acme, "PUT", "/api/v1/orgs/acme/policy", {{"allowed_capabilities", {"SYS_PTRACE"}}}).status, 403);
  auto [outside, outsideOut] = cluster.cli({"org", "policy", "set", "acme", "--allow-cap", "SYS_ADMIN"});
  EXPECT_NE(outside, 0);
  EXPECT_NE(outsideOut.find("allowed_capabilities"), std::string::npos) << outsideOut;
  auto [allow, allowOut] = cluster.cli({"org", "policy", "set", "acme", "--allow-cap", "SYS_PTRACE", "--non-root"});
  ASSERT_EQ(allow, 0) << allowOut;
  // Non-root now: the image's default user (maybe root), a name, and uid 0 are refused.
  for (const nlohmann::json& user : {nlohmann::json(nullptr), nlohmann::json("root"), nlohmann::json("0:0")}) {
    nlohmann::json spec = {{"image", "nginx:1"}, {"capabilities", {"SYS_PTRACE"}}};
    if (!user.is_null()) spec["user"] = user;
    auto root = call(acme, "POST", "/api/v1/apps/web/deployments", spec);
    EXPECT_EQ(root.status, 403) << root.text;
    EXPECT_NE(errorMessage(root).find("non-root"), std::string::npos) << root.text;
  }
  auto accepted = call(acme, "POST", "/api/v1/apps/web/deployments",
                       {{"image", "nginx:1"}, {"capabilities", {"SYS_PTRACE"}}, {"user", "1000:1000"}});
  EXPECT_EQ(accepted.status, 202) << accepted.text;
  // NET_ADMIN is in the ceiling but not acme's allowance; the default org has no allowance at all.
  EXPECT_EQ(call(acme, "POST", "/api/v1/apps/web/deployments",
                 {{"image", "nginx:1"}, {"capabilities", {"NET_ADMIN"}}, {"user", "1000"}})
                .status,
            403);
  EXPECT_EQ(call(cluster.apiKey(), "POST", "/api/v1/apps/web/deployments?create=1",
                 {{"image", "nginx:1"}, {"capabilities", {"SYS_PTRACE"}}})
                .status,
            403);
  // Rollback and scale re-check the same way (tests/unit/server/admission_test.cpp).
}

TEST_F(LimitsTest, AKeyOverItsRateGets429WithRetryAfterWhileAnotherKeyIsServed) {
  cluster.startServer({"--rate-limit-key-per-s", "1", "--rate-limit-key-burst", "10"});
  ownerLogsIn();
  const std::string acme = orgWithAdminKey("acme", "read");
  const std::string other = orgWithAdminKey("beta", "read");
  Reply last;
  int served = 0;
  for (int i = 0; i < 60 && last.status != 429; ++i) {
    last = call(acme, "GET", "/api/v1/apps");
    if (last.status == 200) ++served;
  }
  ASSERT_EQ(last.status, 429) << last.text;
  EXPECT_GE(served, 9);  // the burst was served first
  EXPECT_EQ(last.body["error"]["code"], "rate_limited");
  ASSERT_FALSE(last.headers["retry-after"].empty());
  EXPECT_GE(std::stoi(last.headers["retry-after"]), 1);
  EXPECT_EQ(call(other, "GET", "/api/v1/apps").status, 200);  // another key is unaffected
  EXPECT_TRUE(eventually([&] {
    auto m = call(cluster.apiKey(), "GET", "/metrics");
    return m.status == 200 && m.text.find("berth_http_rate_limited_total{by=\"key\"} ") != std::string::npos;
  }));
}

TEST_F(LimitsTest, OneAddressOverItsRateGets429BeforeAnyCredentialIsLookedUp) {
  const int metricsPort = freePort();
  cluster.startServer({"--rate-limit-address-per-s", "1", "--rate-limit-address-burst", "20", "--metrics-listen",
                       "127.0.0.1:" + std::to_string(metricsPort)});
  Reply last;
  for (int i = 0; i < 80 && last.status != 429; ++i) last = call("bk_wrong_key", "GET", "/api/v1/apps");
  ASSERT_EQ(last.status, 429) << last.text;  // not 401: the flood costs no key lookups
  EXPECT_EQ(last.body["error"]["code"], "rate_limited");
  EXPECT_NE(errorMessage(last).find("from this address"), std::string::npos) << last.text;
  EXPECT_FALSE(last.headers["retry-after"].empty());
  auto local = runProcess({"curl", "-s", "-m", "5", "http://127.0.0.1:" + std::to_string(metricsPort) + "/metrics"},
                          10000);
  ASSERT_TRUE(local.ok());
  EXPECT_NE(local->output.find("berth_http_rate_limited_total{by=\"address\"} "), std::string::npos) << local->output;
}

TEST_F(LimitsTest, MetricsAnswerOnlyAPlatformReadKeyOrTheLoopbackListener) {
  const int metricsPort = freePort();
  cluster.startServer({"--metrics-listen", "127.0.0.1:" + std::to_string(metricsPort)});
  ownerLogsIn();
  EXPECT_EQ(call("", "GET", "/metrics").status, 401);
  EXPECT_EQ(call("bk_nope_0000", "GET", "/metrics").status, 401);
  // An org's own read key sees no fleet internals (other orgs' hosts among them).
  const std::string tenant = orgWithAdminKey("acme", "read");
  auto tenantReply = call(tenant, "GET", "/metrics");
  EXPECT_EQ(tenantReply.status, 403) << tenantReply.text;
  EXPECT_EQ(tenantReply.text.find("berth_http_requests_total"), std::string::npos);
  auto [made, madeOut] = cluster.cli({"key", "create", "--scope", "read", "--json"});
  ASSERT_EQ(made, 0) << madeOut;
  const std::string platformRead = nlohmann::json::parse(madeOut)["key"];
  auto scraped = call(platformRead, "GET", "/metrics");
  EXPECT_EQ(scraped.status, 200);
  EXPECT_NE(scraped.text.find("berth_http_requests_total"), std::string::npos);
  // The loopback listener answers GET /metrics without a key, and nothing else.
  const std::string base = "http://127.0.0.1:" + std::to_string(metricsPort);
  auto local = runProcess({"curl", "-s", "-m", "5", base + "/metrics"}, 10000);
  ASSERT_TRUE(local.ok());
  EXPECT_NE(local->output.find("berth_http_requests_total"), std::string::npos) << local->output;
  auto other = runProcess({"curl", "-s", "-m", "5", "-o", "/dev/null", "-w", "%{http_code}", base + "/api/v1/apps"},
                          10000);
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(other->output, "404");
}

}  // namespace
// Found by the second attack pass: each silent connection held a descriptor for the 10 s read
// timeout, and descriptors are what the agents' sessions need.
TEST_F(LimitsTest, TheMetricsListenerHoldsAtMost64ConnectionsAndServesAgainOnceTheyClose) {
  const int metricsPort = freePort();
  cluster.startServer({"--metrics-listen", "127.0.0.1:" + std::to_string(metricsPort)});
  const std::string url = "http://127.0.0.1:" + std::to_string(metricsPort) + "/metrics";
  auto scrape = [&] {
    auto out = runProcess({"curl", "-s", "-m", "5", "-o", "/dev/null", "-w", "%{http_code}", url}, 10000);
    return out.ok() ? out->output : std::string();
  };
  ASSERT_EQ(scrape(), "200");
  std::vector<int> silent;
  for (int i = 0; i < 64; ++i) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(static_cast<std::uint16_t>(metricsPort));
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to), 0);
    silent.push_back(fd);
  }
  EXPECT_EQ(scrape(), "000");  // closed at once, unanswered
  for (int fd : silent) ::close(fd);
  EXPECT_TRUE(eventually([&] { return scrape() == "200"; }));
}

}  // namespace berth::itest
