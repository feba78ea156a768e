// Servers started: a real nginx (berth's own master, on free loopback ports),
// python3 upstreams on loopback, and rules in this host's iptables (a chain of
// the test's own, removed afterwards); no dockerd. Kernel switching (proxy/nat):
// nginx names one stable address per app and an update only rewrites the DNAT
// rules, so nginx is never reloaded for it. Needs root, as the agent does.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/subprocess.hpp"
#include "harness.hpp"
#include "pki/sealed_file.hpp"
#include "proxy/nat/upstream_nat.hpp"
#include "proxy/nginx/nginx_proxy.hpp"
#include "proxy_support.hpp"

namespace berth::itest {
namespace {
using proxy::AppRoutes;
using proxy::ProxyState;

class NginxKernelSwitch : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "kernel switching needs root (the agent's own condition)";
    std::string pattern = "/tmp/berth-nginx-nat-XXXXXX";
    root_ = ::mkdtemp(pattern.data());
    for (int v = 1; v <= 2; ++v) {
      std::filesystem::create_directories(root_ + "/www" + std::to_string(v));
      std::ofstream(root_ + "/www" + std::to_string(v) + "/index.html") << "v" << v << "\n";
      ports_[v] = freePort();
      upstreams_.push_back(Process::spawn({"/usr/bin/python3", "-m", "http.server", std::to_string(ports_[v]), "--bind",
                                           "127.0.0.1", "--directory", root_ + "/www" + std::to_string(v)},
                                          root_ + "/upstream" + std::to_string(v) + ".log"));
      ASSERT_TRUE(eventually([&] { return request(ports_[v], "x", "/").status == 200; }));
    }
    options_.listen_address = "127.0.0.1";
    options_.http_port = freePort();
    options_.https_port = freePort();
    options_.config_dir = root_ + "/nginx";
    options_.runtime_dir = root_ + "/run";
    std::filesystem::create_directories(options_.config_dir);
    nat_ = std::make_shared<proxy::nat::IptablesNat>(options_.config_dir, options_.config_dir);
    // Loopback stands in for the app network's gateway: DNAT from it to another loopback port works alike.
    auto used = nat_->useGateway("127.0.0.1");
    ASSERT_TRUE(used.ok()) << used.error().message;
    nginx_ = std::make_unique<proxy::nginx::NginxProxy>(options_, "/usr/sbin/nginx", nullptr, nat_);
    ASSERT_TRUE(nginx_->detect().ok()) << "nginx is not installed (scripts/setup.sh installs it)";
    auto started = nginx_->start();
    ASSERT_TRUE(started.ok()) << started.error().message;
  }
  void TearDown() override {
    if (nginx_) nginx_->stop();
    if (nat_) {
      auto removed = nat_->removeRules();
      EXPECT_TRUE(removed.ok()) << removed.error().message;
    }
    eventually([&] { return !nginx_ || nginx_->masterPid() == 0; }, std::chrono::seconds(10));
    upstreams_.clear();
    if (!root_.empty()) std::filesystem::remove_all(root_);
  }
  ProxyState on(int version) {
    ProxyState s;
    s.apps.push_back(AppRoutes{"web", {{{"web.test"}, "/", false}}, {{"127.0.0.1", static_cast<std::uint16_t>(ports_[version])}}, false});
    return s;
  }
  std::string rules(const char* table) {
    auto listed = runProcess({"/usr/sbin/iptables", "-w", "-t", table, "-S", nat_->chain()}, 10'000);
    return listed && listed->exit_code == 0 ? listed->output : "(no chain)";
  }
  // What nginx has loaded: the set `current` names and the master's workers.
  std::string loaded() {
    return std::filesystem::read_symlink(options_.config_dir + "/current").string() + " " + workers();
  }
  std::string workers() {
    auto ps = runProcess({"/usr/bin/pgrep", "-P", std::to_string(nginx_->masterPid())}, 10'000);
    return ps ? ps->output : "";
  }

  std::string root_;
  int ports_[3] = {};
  std::vector<std::unique_ptr<Process>> upstreams_;
  proxy::nginx::NginxOptions options_;
  std::shared_ptr<proxy::nat::IptablesNat> nat_;
  std::unique_ptr<proxy::nginx::NginxProxy> nginx_;
};

TEST_F(NginxKernelSwitch, AnUpdateMovesTrafficWithoutReloadingNginx) {
  ASSERT_TRUE(nginx_->apply(on(1)).ok());
  EXPECT_EQ(request(options_.http_port, "web.test", "/").body, "v1\n");
  const std::string before = loaded();
  const std::string upstream = *pki::readFile(options_.config_dir + "/current/apps/web.conf");
  EXPECT_EQ(upstream.find(std::to_string(ports_[1])), std::string::npos) << "nginx must not name the container: " << upstream;

  auto switched = nginx_->apply(on(2));
  ASSERT_TRUE(switched.ok()) << switched.error().message;
  // python's http.server closes every connection, so nothing is pooled: the next request moves.
  EXPECT_EQ(request(options_.http_port, "web.test", "/").body, "v2\n");
  EXPECT_EQ(loaded(), before) << "same files, same workers: no reload";
  EXPECT_NE(rules("nat").find("--to-destination 127.0.0.1:" + std::to_string(ports_[2])), std::string::npos) << rules("nat");
  EXPECT_EQ(rules("nat").find(":" + std::to_string(ports_[1])), std::string::npos) << rules("nat");

  // Back and forth ten times: still never a reload.
  for (int i = 0; i < 10; ++i) {
    const int v = i % 2 == 0 ? 1 : 2;
    ASSERT_TRUE(nginx_->apply(on(v)).ok());
    EXPECT_EQ(request(options_.http_port, "web.test", "/").body, "v" + std::to_string(v) + "\n");
  }
  EXPECT_EQ(loaded(), before);
}

TEST_F(NginxKernelSwitch, AnUpgradedConnectionStaysOnItsUpstreamAcrossASwitchAndNewOnesMove) {
  int echo[3] = {};
  std::vector<std::unique_ptr<Process>> echoes;
  std::ofstream(root_ + "/echo.py") << kUpgradeEchoServer;
  for (int v = 1; v <= 2; ++v) {
    echo[v] = freePort();
    echoes.push_back(Process::spawn({"/usr/bin/python3", root_ + "/echo.py", std::to_string(echo[v]), "e" + std::to_string(v)},
                                    root_ + "/echo" + std::to_string(v) + ".log"));
    ASSERT_TRUE(eventually([&] { return request(echo[v], "x", "/").status == 200; }));
  }
  auto chat = [&](int v) {
    ProxyState s = on(1);
    s.apps.push_back(AppRoutes{"chat", {{{"chat.test"}, "/", false}}, {{"127.0.0.1", static_cast<std::uint16_t>(echo[v])}}, false});
    return s;
  };
  ASSERT_TRUE(nginx_->apply(chat(1)).ok());
  UpgradedTunnel old;
  ASSERT_TRUE(old.open(options_.http_port, "chat.test"));
  EXPECT_TRUE(old.echoes("before"));
  ASSERT_TRUE(nginx_->apply(chat(2)).ok());
  EXPECT_TRUE(old.echoes("after the switch")) << "an open connection keeps its upstream";
  EXPECT_EQ(request(options_.http_port, "chat.test", "/").body, "e2\n");
  echoes[0].reset();  // the old version stops (its drain is over): only then does its connection end
  EXPECT_TRUE(eventually([&] { return !old.echoes("x"); }, std::chrono::seconds(10)));
  EXPECT_EQ(request(options_.http_port, "web.test", "/").body, "v1\n") << "the other app never moved";
}

TEST_F(NginxKernelSwitch, ARefusedConfigurationPutsBackTheRulesThePreviousFilesServeWith) {
  ASSERT_TRUE(nginx_->apply(on(1)).ok());
  const std::string natBefore = rules("nat");
  auto broken = on(2);  // a new upstream and a certificate nginx -t cannot load, in one change
  broken.certificates["web.test"] = {root_ + "/missing.pem", root_ + "/missing.key"};
  auto applied = nginx_->apply(broken);
  ASSERT_FALSE(applied.ok());
  EXPECT_EQ(applied.error().code, "proxy_config_refused");
  EXPECT_EQ(rules("nat"), natBefore);
  EXPECT_EQ(request(options_.http_port, "web.test", "/").body, "v1\n");
}

TEST_F(NginxKernelSwitch, AnAppWithoutContainersIsRefusedInTheKernelAndItsRulesGoWithIt) {
  ASSERT_TRUE(nginx_->apply(on(1)).ok());
  const std::string before = loaded();
  // No container and held: the stable address refuses at once, so nginx goes on to the hold
  // server behind it (a closed port here: nginx answers 502 at once rather than waiting).
  auto none = on(1);
  none.apps[0].upstreams.clear();
  none.apps[0].hold_ms = 10'000;
  none.hold = {"127.0.0.1", static_cast<std::uint16_t>(freePort())};
  ASSERT_TRUE(nginx_->apply(none).ok());
  EXPECT_NE(rules("filter").find("REJECT --reject-with tcp-reset"), std::string::npos) << rules("filter");
  EXPECT_EQ(rules("nat").find("DNAT"), std::string::npos) << rules("nat");
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(request(options_.http_port, "web.test", "/").status, 502);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5)) << "a refused connect, not a timeout";
  EXPECT_NE(loaded(), before) << "the hold server joined the upstream block: that change is a reload";

  ASSERT_TRUE(nginx_->apply(ProxyState{}).ok());  // the app is deleted
  EXPECT_EQ(rules("nat").find("berth app web"), std::string::npos) << rules("nat");
  EXPECT_EQ(rules("filter").find("berth app web"), std::string::npos) << rules("filter");
  EXPECT_EQ(request(options_.http_port, "web.test", "/").status, 404);
}

// Every packet the host sends passes OUTPUT: the hook matches the gateway's TCP only, and moves
// with the gateway (the app network recreated on another subnet).
TEST_F(NginxKernelSwitch, TheHookMatchesOnlyTheGatewayAndFollowsIt) {
  ASSERT_TRUE(nginx_->apply(on(1)).ok());
  const auto hooks = [&](const char* table) {
    auto listed = runProcess({"/usr/sbin/iptables", "-w", "-t", table, "-S", "OUTPUT"}, 10'000);
    std::string out;
    std::istringstream lines(listed ? listed->output : "");
    for (std::string line; std::getline(lines, line);)
      if (line.find("-j " + nat_->chain()) != std::string::npos) out += line + "\n";
    return out;
  };
  for (const char* table : {"nat", "filter"})
    EXPECT_EQ(hooks(table), "-A OUTPUT -d 127.0.0.1/32 -p tcp -j " + nat_->chain() + "\n") << table;
  ASSERT_TRUE(nat_->useGateway("127.0.0.2").ok());
  ASSERT_TRUE(nginx_->apply(on(2)).ok());
  for (const char* table : {"nat", "filter"})
    EXPECT_EQ(hooks(table), "-A OUTPUT -d 127.0.0.2/32 -p tcp -j " + nat_->chain() + "\n") << table;
  EXPECT_EQ(request(options_.http_port, "web.test", "/").body, "v2\n") << "served through the new gateway address";
}

TEST_F(NginxKernelSwitch, AnotherAgentsRulesAreLeftAlone) {
  proxy::nat::IptablesNat other(root_, root_ + "/another-agent");
  ASSERT_NE(other.chain(), nat_->chain());
  ASSERT_TRUE(other.useGateway("127.0.0.1").ok());
  ASSERT_TRUE(other.apply({{"web", 20999, {{"127.0.0.1", static_cast<std::uint16_t>(ports_[2])}}}}).ok());
  ASSERT_TRUE(nginx_->apply(on(1)).ok());
  ASSERT_TRUE(nginx_->apply(on(2)).ok());
  auto listed = runProcess({"/usr/sbin/iptables", "-w", "-t", "nat", "-S", other.chain()}, 10'000);
  ASSERT_TRUE(listed.ok());
  EXPECT_NE(listed->output.find("--dport 20999"), std::string::npos) << listed->output;
  EXPECT_TRUE(other.removeRules().ok());
  EXPECT_EQ(request(options_.http_port, "web.test", "/").body, "v2\n");
}

}  // namespace
}  // namespace berth::itest
