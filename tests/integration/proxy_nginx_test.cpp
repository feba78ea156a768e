// Servers started: a real nginx (berth's own master, on free loopback ports)
// and a python3 http.server as the app's upstream; no dockerd. What every
// adapter must do is in proxy_conformance_test.cpp; here what is nginx's own.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>

#include "common/subprocess.hpp"
#include "harness.hpp"
#include "helper/host_actions.hpp"
#include "proxy_support.hpp"
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
  auto state = webState();
  state.certificates["web.test"] = writeTestCertificate(root_, "web.test");
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

// Host actions that run nginx as the agent would, except that a reload fails while armed (what an
// nginx that cannot apply a checked set does: a certificate gone between the check and the reload,
// a port taken meanwhile, the helper gone).
class ReloadFailsWhenArmed final : public helper::HostActions {
 public:
  std::atomic<bool> armed{false};
  Result<void> shapeTraffic(int, std::int64_t, std::int64_t) override { return makeError("unsupported", "not here"); }
  Result<void> nginx(helper::NginxSignal signal, const std::string& config) override {
    if (signal == helper::NginxSignal::Reload && armed.exchange(false))
      return makeError("helper_failed", "nginx: [emerg] simulated: the reload could not be applied");
    std::vector<std::string> argv = {"/usr/sbin/nginx"};
    if (signal == helper::NginxSignal::Reload) argv.insert(argv.end(), {"-s", "reload"});
    if (signal == helper::NginxSignal::Quit) argv.insert(argv.end(), {"-s", "quit"});
    argv.insert(argv.end(), {"-c", config});
    auto r = runProcess(argv, 10'000);
    if (!r) return r.error();
    if (r->exit_code != 0) return makeError("helper_failed", r->output);
    return Ok{};
  }
  Result<void> caddyStart(const std::string&, const std::string&, const std::string&) override {
    return makeError("unsupported", "not here");
  }
  Result<void> writeFile(const std::string&, const std::string&) override { return makeError("unsupported", "not here"); }
};

TEST_F(NginxAdapter, AReloadThatFailsPutsThePreviousSetBackAndItKeepsServing) {
  nginx_->stop();
  ASSERT_TRUE(eventually([&] { return nginx_->masterPid() == 0; }, std::chrono::seconds(10)));
  auto host = std::make_shared<ReloadFailsWhenArmed>();
  nginx_ = std::make_unique<proxy::nginx::NginxProxy>(options_, "/usr/sbin/nginx", host);
  auto started = nginx_->start();
  ASSERT_TRUE(started.ok()) << started.error().message;
  ASSERT_TRUE(nginx_->apply(webState()).ok());
  ASSERT_EQ(request(options_.http_port, "web.test", "/").body, "v1\n");
  const auto before = std::filesystem::read_symlink(options_.config_dir + "/current");

  auto moved = webState();
  moved.apps[0].routes[0].hosts = {"shop.test"};
  host->armed = true;
  auto applied = nginx_->apply(moved);
  ASSERT_FALSE(applied.ok());
  EXPECT_EQ(applied.error().code, "proxy_reload_failed");
  EXPECT_NE(applied.error().message.find("simulated"), std::string::npos) << applied.error().message;
  EXPECT_EQ(std::filesystem::read_symlink(options_.config_dir + "/current"), before) << "the previous set is not current";
  EXPECT_EQ(request(options_.http_port, "web.test", "/").body, "v1\n") << "the previous set stopped serving";
  EXPECT_EQ(request(options_.http_port, "shop.test", "/").status, 404);

  // Tried again, it is applied: the failed attempt was not remembered as done.
  auto again = nginx_->apply(moved);
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_EQ(request(options_.http_port, "shop.test", "/").body, "v1\n");
  EXPECT_EQ(request(options_.http_port, "web.test", "/").status, 404);
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
