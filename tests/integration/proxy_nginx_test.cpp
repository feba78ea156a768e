// Servers started: a real nginx (berth's own master, on free loopback ports)
// and a python3 http.server as the app's upstream; no dockerd. What every
// adapter must do is in proxy_conformance_test.cpp; here what is nginx's own.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "common/clock.hpp"
#include "common/subprocess.hpp"
#include "harness.hpp"
#include "proxy_support.hpp"
#include "pki/authority.hpp"
#include "pki/keys.hpp"
#include "proxy/nginx/nginx_proxy.hpp"

namespace berth::itest {
namespace {
using proxy::AppRoutes;
using proxy::ProxyState;

class NginxAdapter : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = "/tmp/berth-nginx-XXXXXX";
    root_ = ::mkdtemp(pattern.data());
    std::filesystem::create_directories(root_ + "/www");
    std::ofstream(root_ + "/www/index.html") << "v1\n";
    upstream_port_ = freePort();
    upstream_ = Process::spawn({"/usr/bin/python3", "-m", "http.server", std::to_string(upstream_port_), "--bind", "127.0.0.1",
                                "--directory", root_ + "/www"},
                               root_ + "/upstream.log");
    ASSERT_TRUE(eventually([&] { return request(upstream_port_, "x", "/").status == 200; }));
    options_.listen_address = "127.0.0.1";
    options_.http_port = freePort();
    options_.https_port = freePort();
    options_.config_dir = root_ + "/nginx";
    options_.runtime_dir = root_ + "/run";
    nginx_ = std::make_unique<proxy::nginx::NginxProxy>(options_);
    ASSERT_TRUE(nginx_->detect().ok()) << "nginx is not installed (scripts/setup.sh installs it)";
    auto started = nginx_->start();
    ASSERT_TRUE(started.ok()) << started.error().message;
  }
  void TearDown() override {
    if (nginx_) nginx_->stop();
    eventually([&] { return !nginx_ || nginx_->masterPid() == 0; }, std::chrono::seconds(10));
    upstream_.reset();
    std::filesystem::remove_all(root_);
  }
  ProxyState webState() {
    ProxyState s;
    s.apps.push_back(AppRoutes{"web", {{{"web.test"}, "/", false}}, {{"127.0.0.1", static_cast<std::uint16_t>(upstream_port_)}}, false});
    return s;
  }

  std::string root_;
  int upstream_port_ = 0;
  std::unique_ptr<Process> upstream_;
  proxy::nginx::NginxOptions options_;
  std::unique_ptr<proxy::nginx::NginxProxy> nginx_;
};

TEST_F(NginxAdapter, UnknownHostsGet404) {
  ASSERT_TRUE(nginx_->apply(webState()).ok());
  EXPECT_EQ(request(options_.http_port, "web.test", "/").status, 200);
  EXPECT_EQ(request(options_.http_port, "other.test", "/").status, 404);
}

TEST_F(NginxAdapter, AConfigurationNginxRefusesIsRolledBackAndThePreviousOneKeepsServing) {
  ASSERT_TRUE(nginx_->apply(webState()).ok());
  const auto before = std::filesystem::read_symlink(options_.config_dir + "/current");
  auto broken = webState();
  broken.certificates["web.test"] = {root_ + "/missing.pem", root_ + "/missing.key"};  // nginx -t cannot load it
  auto applied = nginx_->apply(broken);
  ASSERT_FALSE(applied.ok());
  EXPECT_EQ(applied.error().code, "proxy_config_refused");
  EXPECT_NE(applied.error().message.find("missing.pem"), std::string::npos) << applied.error().message;
  EXPECT_EQ(std::filesystem::read_symlink(options_.config_dir + "/current"), before);
  EXPECT_EQ(request(options_.http_port, "web.test", "/").status, 200);
  EXPECT_EQ(request(options_.https_port, "web.test", "/", true).status, 0);  // no HTTPS was switched on
}

TEST_F(NginxAdapter, AHostWithACertificateIsServedOnHttpsAndRedirectedFromHttp) {
  auto ca = pki::CertificateAuthority::createNew("berth test CA", systemNowMs(), kDayMs);
  const std::string key = pki::generatePrivateKeyPem();
  auto cert = ca.issueServerCertificate(key, {"web.test"}, systemNowMs(), kDayMs);
  ASSERT_TRUE(cert.ok());
  std::ofstream(root_ + "/web.pem") << cert->cert_pem << ca.certPem();
  std::ofstream(root_ + "/web.key") << key;
  auto state = webState();
  state.certificates["web.test"] = {root_ + "/web.pem", root_ + "/web.key"};
  state.apps[0].hsts = true;
  auto applied = nginx_->apply(state);
  ASSERT_TRUE(applied.ok()) << applied.error().message;
  const auto secure = request(options_.https_port, "web.test", "/", true);
  EXPECT_EQ(secure.status, 200);
  EXPECT_EQ(secure.body, "v1\n");
  EXPECT_EQ(secure.strict_transport_security, "max-age=31536000") << "the app asked for HSTS";
  const auto plain = request(options_.http_port, "web.test", "/page?q=1");
  EXPECT_EQ(plain.status, 308);
  EXPECT_EQ(plain.location, "https://web.test:" + std::to_string(options_.https_port) + "/page?q=1");
  EXPECT_EQ(plain.strict_transport_security, "") << "HSTS is for HTTPS answers only (RFC 6797)";

  state.apps[0].hsts = false;
  ASSERT_TRUE(nginx_->apply(state).ok());
  EXPECT_EQ(request(options_.https_port, "web.test", "/", true).strict_transport_security, "")
      << "HSTS stayed after the app stopped asking for it";
}

// Servers started: nginx, the python3 upgrade-echo upstream. A tunnel opened
// through app A stays open and echoing across a reload that adds app B.
TEST_F(NginxAdapter, AnotherAppsOpenWebSocketSurvivesARouteChange) {
  const int echoPort = freePort();
  std::ofstream(root_ + "/echo.py") << kUpgradeEchoServer;
  auto echo = Process::spawn({"/usr/bin/python3", root_ + "/echo.py", std::to_string(echoPort)}, root_ + "/echo.log");
  ASSERT_TRUE(eventually([&] { return request(echoPort, "x", "/").status == 200; })) << echo->log();
  ProxyState state;
  state.apps.push_back(AppRoutes{"chat", {{{"chat.test"}, "/", false}}, {{"127.0.0.1", static_cast<std::uint16_t>(echoPort)}}, false});
  ASSERT_TRUE(nginx_->apply(state).ok());

  UpgradedTunnel tunnel;
  ASSERT_TRUE(tunnel.open(options_.http_port, "chat.test"));
  EXPECT_TRUE(tunnel.echoes("before"));

  state.apps.push_back(AppRoutes{"web", {{{"web.test"}, "/", false}}, {{"127.0.0.1", static_cast<std::uint16_t>(upstream_port_)}}, false});
  ASSERT_TRUE(nginx_->apply(state).ok());  // returns once the new workers answer
  EXPECT_EQ(request(options_.http_port, "web.test", "/").body, "v1\n");
  EXPECT_TRUE(tunnel.echoes("after the reload"));  // still on the old worker, still open
}

}  // namespace
}  // namespace berth::itest
