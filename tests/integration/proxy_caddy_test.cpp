// Servers started: a real Caddy 2.6 (berth's own, admin API on a loopback
// port, HTTP on free loopback ports, no certificates asked for), the adapter's
// DNS responder for upstreams, and python3 upgrade-echo upstreams; no dockerd.
// What every adapter must do is in proxy_conformance_test.cpp; here what is
// Caddy's own: refusals from Caddy, open WebSockets across changes, HTTPS with berth's own
// certificates and HSTS.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "harness.hpp"
#include "proxy/caddy/caddy_proxy.hpp"
#include "proxy_support.hpp"

namespace berth::itest {
namespace {
using proxy::AppRoutes;
using proxy::ProxyState;

class CaddyAdapter : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = "/tmp/berth-caddy-XXXXXX";
    root_ = ::mkdtemp(pattern.data());
    echo_port_ = freePort();
    std::ofstream(root_ + "/echo.py") << kUpgradeEchoServer;
    echo_ = Process::spawn({"/usr/bin/python3", root_ + "/echo.py", std::to_string(echo_port_)}, root_ + "/echo.log");
    ASSERT_TRUE(eventually([&] { return request(echo_port_, "x", "/").status == 200; }));
    options_ = loopbackCaddyOptions(root_);
    caddy_ = std::make_unique<proxy::caddy::CaddyProxy>(options_, root_ + "/caddy");
    ASSERT_TRUE(caddy_->detect().ok()) << "caddy is not installed (scripts/setup.sh installs it)";
    auto started = caddy_->start();
    ASSERT_TRUE(started.ok()) << started.error().message;
  }
  void TearDown() override {
    if (caddy_) caddy_->stop();
    eventually([&] { return !caddy_ || !caddy_->running(); }, std::chrono::seconds(10));
    echo_.reset();
    std::filesystem::remove_all(root_);
  }
  // Plain HTTP only: a host without a certificate from berth would otherwise make
  // Caddy ask an ACME server for one (the Pebble tests do that on purpose).
  ProxyState chatState() {
    ProxyState s;
    s.apps.push_back(AppRoutes{"chat", {{{"chat.test"}, "/", false}}, {{"127.0.0.1", static_cast<std::uint16_t>(echo_port_)}}, false});
    return s;
  }

  std::string root_;
  int echo_port_ = 0;
  std::unique_ptr<Process> echo_;
  proxy::caddy::CaddyOptions options_;
  std::unique_ptr<proxy::caddy::CaddyProxy> caddy_;
};

TEST_F(CaddyAdapter, AConfigurationCaddyRefusesKeepsThePreviousOneServing) {
  ASSERT_TRUE(caddy_->apply(chatState()).ok());
  auto broken = chatState();
  broken.certificates["chat.test"] = {root_ + "/missing.pem", root_ + "/missing.key"};  // Caddy cannot load it
  auto applied = caddy_->apply(broken);
  ASSERT_FALSE(applied.ok());
  EXPECT_EQ(applied.error().code, "proxy_config_refused");
  EXPECT_NE(applied.error().message.find("missing.pem"), std::string::npos) << applied.error().message;
  EXPECT_EQ(request(options_.http_port, "chat.test", "/").body, "ok\n");
}

TEST_F(CaddyAdapter, AHostWithBerthsCertificateIsServedOnHttpsWithHstsWhenTheAppAsks) {
  auto state = chatState();
  state.certificates["chat.test"] = writeTestCertificate(root_, "chat.test");
  state.apps[0].hsts = true;
  auto applied = caddy_->apply(state);
  ASSERT_TRUE(applied.ok()) << applied.error().message;
  const auto secure = request(options_.https_port, "chat.test", "/", true);
  EXPECT_EQ(secure.status, 200);
  EXPECT_EQ(secure.body, "ok\n");
  EXPECT_EQ(secure.strict_transport_security, "max-age=31536000") << "the app asked for HSTS";

  state.apps[0].hsts = false;
  ASSERT_TRUE(caddy_->apply(state).ok());
  EXPECT_EQ(request(options_.https_port, "chat.test", "/", true).strict_transport_security, "")
      << "HSTS stayed after the app stopped asking for it";
}

// What the Decisions of issue 9 say of Caddy 2.6.2, measured here: a load that
// adds another app's route closes an open upgraded connection. If this starts
// failing, Caddy keeps them now and the docs (docs/routes.md) must say so.
TEST_F(CaddyAdapter, OnCaddy26ARouteChangeClosesAnotherAppsOpenWebSocket) {
  ASSERT_TRUE(caddy_->apply(chatState()).ok());
  UpgradedTunnel tunnel;
  ASSERT_TRUE(tunnel.open(options_.http_port, "chat.test"));
  EXPECT_TRUE(tunnel.echoes("before"));
  auto more = chatState();
  more.apps.push_back(AppRoutes{"web", {{{"web.test"}, "/", false}}, {{"127.0.0.1", static_cast<std::uint16_t>(echo_port_)}}, false});
  ASSERT_TRUE(caddy_->apply(more).ok());
  EXPECT_FALSE(tunnel.echoes("after the load"));
}

// Upstreams live in the adapter's DNS responder, not in Caddy's configuration:
// moving them (a deploy, a replaced container) loads nothing, so an open tunnel
// through chat survives a change of web's upstreams and of chat's own, while
// new requests reach the new upstreams as soon as apply returns.
TEST_F(CaddyAdapter, AnOpenWebSocketSurvivesUpstreamChangesOfItsOwnAppAndAnotherWithoutALoad) {
  // A second container of the same image: same port, another address.
  auto other = Process::spawn({"/usr/bin/python3", root_ + "/echo.py", std::to_string(echo_port_), "moved", "127.0.0.2"},
                              root_ + "/other.log");
  ASSERT_TRUE(eventually([&] { return request(echo_port_, "x", "/", false, "127.0.0.2").status == 200; })) << other->log();
  const proxy::Upstream moved{"127.0.0.2", static_cast<std::uint16_t>(echo_port_)};
  auto state = chatState();
  state.apps.push_back(AppRoutes{"web", {{{"web.test"}, "/", false}}, state.apps[0].upstreams, false});
  ASSERT_TRUE(caddy_->apply(state).ok());
  ASSERT_EQ(request(options_.http_port, "web.test", "/").body, "ok\n");
  UpgradedTunnel tunnel;
  ASSERT_TRUE(tunnel.open(options_.http_port, "chat.test"));
  EXPECT_TRUE(tunnel.echoes("before"));
  const auto loads = caddy_->loadsPosted();

  state.apps[1].upstreams = {moved};
  auto applied = caddy_->apply(state);
  ASSERT_TRUE(applied.ok()) << applied.error().message;
  EXPECT_EQ(request(options_.http_port, "web.test", "/").body, "moved\n");
  EXPECT_TRUE(tunnel.echoes("after web's upstreams moved"));

  state.apps[0].upstreams = {moved};
  ASSERT_TRUE(caddy_->apply(state).ok());
  EXPECT_EQ(request(options_.http_port, "chat.test", "/").body, "moved\n");
  EXPECT_TRUE(tunnel.echoes("after chat's own upstreams moved"));  // its connection stays on the old upstream
  EXPECT_EQ(caddy_->loadsPosted(), loads);
}

}  // namespace
}  // namespace berth::itest
