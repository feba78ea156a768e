// ProxyRouter over a recording fake adapter: the whole state on every change,
// nothing applied twice, a refused change leaves the previous state, a proxy
// that cannot run fails routed apps saying why, a dead proxy is restarted with
// what it served, certificates are served once issued. The real adapters are
// covered by tests/integration/proxy_conformance_test.cpp.
#include "agent/app_router.hpp"

#include <gtest/gtest.h>

#include "agent/acme_certificates.hpp"

namespace berth::agent {
namespace {

struct FakeProxy final : proxy::ReverseProxy {
  std::vector<proxy::ProxyState> applied;
  int starts = 0;
  bool up = false;
  std::string missing;  // detect() fails with this
  bool refuse = false;
  std::string name() const override { return "fake"; }
  Result<void> detect() override {
    if (!missing.empty()) return makeError("proxy_missing", missing);
    return Ok{};
  }
  Result<void> start() override {
    ++starts;
    up = true;
    return Ok{};
  }
  Result<void> apply(const proxy::ProxyState& state) override {
    if (refuse) return makeError("proxy_config_refused", "nginx -t: unexpected end of file");
    applied.push_back(state);
    return Ok{};
  }
  void stop() override { up = false; }
  bool running() override { return up; }
};

struct FakeCertificates final : CertificateProvider {
  std::map<std::string, proxy::CertificateFiles> held;
  std::vector<std::string> asked;
  std::map<std::string, proxy::CertificateFiles> certificatesFor(const std::vector<std::string>& hosts) override {
    std::map<std::string, proxy::CertificateFiles> out;
    for (const auto& h : hosts)
      if (held.count(h)) out[h] = held[h];
    return out;
  }
  bool refresh(const std::vector<std::string>& hosts) override {
    asked = hosts;
    if (held.count("shop.example.com")) return false;
    held["shop.example.com"] = {"/c/shop.pem", "/c/shop.key"};
    return true;
  }
  std::string challengeDirectory() const override { return "/var/lib/berth-acme/challenge"; }
  nlohmann::json status(const std::vector<std::string>&) override { return nlohmann::json::object(); }
};

const std::vector<apps::AppRoute> kShop = {{{"shop.example.com"}, "/", false}};
const std::vector<proxy::Upstream> kOne = {{"10.0.0.2", 8080}};

TEST(ProxyRouter, EveryChangeAppliesTheWholeStateAndAnUnchangedOneIsNotAppliedAgain) {
  auto fake = std::make_unique<FakeProxy>();
  auto* proxy = fake.get();
  ProxyRouter router(std::move(fake), 10);
  ASSERT_TRUE(router.route("shop", kShop, kOne).ok());
  ASSERT_TRUE(router.route("blog", {{{"blog.example.com"}, "/", false}}, {{"10.0.0.3", 80}}).ok());
  ASSERT_EQ(proxy->applied.size(), 2u);
  EXPECT_EQ(proxy->applied.back().apps.size(), 2u) << "the other app stays in the state";
  EXPECT_EQ(proxy->applied.back().retry_after_s, 10);
  EXPECT_EQ(proxy->starts, 1);
  ASSERT_TRUE(router.route("shop", kShop, kOne).ok());
  EXPECT_EQ(proxy->applied.size(), 2u) << "the same routes and upstreams: no reload";
  ASSERT_TRUE(router.route("shop", kShop, kOne, true).ok());
  EXPECT_EQ(proxy->applied.size(), 3u) << "HSTS is part of the state";
  ASSERT_TRUE(router.unroute("blog").ok());
  ASSERT_EQ(proxy->applied.back().apps.size(), 1u);
  EXPECT_EQ(proxy->applied.back().apps[0].app, "shop");
  ASSERT_TRUE(router.unroute("blog").ok());
  EXPECT_EQ(proxy->applied.size(), 4u) << "unrouting an app not routed changes nothing";
}

TEST(ProxyRouter, ARefusedChangeKeepsThePreviousStateAndSaysWhy) {
  auto fake = std::make_unique<FakeProxy>();
  auto* proxy = fake.get();
  ProxyRouter router(std::move(fake), 10);
  ASSERT_TRUE(router.route("shop", kShop, kOne).ok());
  proxy->refuse = true;
  auto refused = router.route("shop", kShop, {{"10.0.0.9", 8080}});
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message.find("nginx -t"), std::string::npos) << refused.error().message;
  EXPECT_EQ(router.applied().apps[0].upstreams[0].address, "10.0.0.2") << "what is served is what was applied";
  proxy->refuse = false;
  ASSERT_TRUE(router.route("shop", kShop, {{"10.0.0.9", 8080}}).ok()) << "the same change again is tried again";
}

TEST(ProxyRouter, AProxyThatCannotRunFailsRoutedAppsSayingWhatTheNodeNeedsAndIsTriedAgain) {
  auto fake = std::make_unique<FakeProxy>();
  auto* proxy = fake.get();
  proxy->missing = "the nginx adapter needs /usr/sbin/nginx (Debian package: nginx)";
  ProxyRouter router(std::move(fake), 10);
  auto failed = router.route("shop", kShop, kOne);
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.error().code, "proxy_unavailable");
  EXPECT_NE(failed.error().message.find("Debian package: nginx"), std::string::npos) << failed.error().message;
  EXPECT_TRUE(router.route("plain", {}, {}).ok()) << "an app without routes does not need the proxy";
  EXPECT_FALSE(router.describe()["ready"].get<bool>());
  proxy->missing.clear();  // installed meanwhile
  EXPECT_TRUE(router.route("shop", kShop, kOne).ok());
  EXPECT_TRUE(router.describe()["ready"].get<bool>());
}

TEST(ProxyRouter, AnAppUnroutedWhileTheProxyCannotRunIsNotServedWhenItComesBack) {
  auto fake = std::make_unique<FakeProxy>();
  auto* proxy = fake.get();
  ProxyRouter router(std::move(fake), 10);
  ASSERT_TRUE(router.route("shop", kShop, kOne).ok());
  ASSERT_TRUE(router.route("blog", {{{"blog.example.com"}, "/", false}}, {{"10.0.0.3", 80}}).ok());
  proxy->up = false;
  proxy->missing = "nginx was uninstalled";
  router.keepAlive();  // sees it gone, cannot start it
  EXPECT_FALSE(router.unroute("shop").ok()) << "the proxy could not take it: said";
  proxy->missing.clear();
  router.keepAlive();
  ASSERT_FALSE(proxy->applied.empty());
  ASSERT_EQ(proxy->applied.back().apps.size(), 1u) << "the deleted app is not served again";
  EXPECT_EQ(proxy->applied.back().apps[0].app, "blog");
}

TEST(ProxyRouter, ADeadProxyIsStartedAgainWithWhatItServed) {
  auto fake = std::make_unique<FakeProxy>();
  auto* proxy = fake.get();
  ProxyRouter router(std::move(fake), 10);
  ASSERT_TRUE(router.route("shop", kShop, kOne).ok());
  router.keepAlive();
  EXPECT_EQ(proxy->starts, 1) << "running: left alone";
  proxy->up = false;  // killed
  router.keepAlive();
  EXPECT_EQ(proxy->starts, 2);
  ASSERT_EQ(proxy->applied.size(), 2u);
  EXPECT_EQ(proxy->applied.back().apps.size(), 1u) << "the restarted proxy serves the same apps";
}

TEST(ProxyRouter, CertificatesAreAskedForTheRoutedHostsAndServedOnceIssued) {
  auto fake = std::make_unique<FakeProxy>();
  auto* proxy = fake.get();
  auto certificates = std::make_shared<FakeCertificates>();
  ProxyRouter router(std::move(fake), 10, certificates);
  ASSERT_TRUE(router.route("shop", kShop, kOne).ok());
  EXPECT_TRUE(proxy->applied.back().certificates.empty());
  EXPECT_EQ(proxy->applied.back().acme_challenge_dir, "/var/lib/berth-acme/challenge");
  router.refreshCertificates();
  EXPECT_EQ(certificates->asked, std::vector<std::string>{"shop.example.com"});
  ASSERT_EQ(proxy->applied.size(), 2u) << "a new certificate is served at once";
  EXPECT_EQ(proxy->applied.back().certificates.at("shop.example.com").certificate_path, "/c/shop.pem");
  router.refreshCertificates();
  EXPECT_EQ(proxy->applied.size(), 2u) << "nothing new: no reload";
}

TEST(AcmeCertificates, OnlyNamesAPublicCaCanIssueForAreAskedFor) {
  EXPECT_TRUE(publiclyIssuable("shop.example.com"));
  EXPECT_TRUE(publiclyIssuable("a.b.example.org"));
  for (const char* host : {"hello.localhost", "localhost", "web.apps.test", "x.internal", "printer.local",
                           "*.example.com", "router.lan", "nas.home.arpa", "example", "intranet"})
    EXPECT_FALSE(publiclyIssuable(host)) << host;
  EXPECT_TRUE(publiclyIssuable("mytest.com")) << "a suffix match is by whole labels";
}

}  // namespace
}  // namespace berth::agent
