// Servers started: a real nginx (berth's own master, on free loopback ports),
// python3 upstreams on loopback, and rules in this host's iptables (a chain of
// the test's own, removed afterwards); no dockerd. Kernel switching (proxy/nat):
// nginx names one stable address per app and an update only rewrites the DNAT
// rules, so nginx is never reloaded for it. Needs root, as the agent does.
#include <sstream>

#include "nginx_kernel_fixture.hpp"

namespace berth::itest {
namespace {

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

// A node turned to proxy_switch=reload (or no longer root): its next start names the containers
// again and, once nginx has loaded those files, removes the rules the earlier runs left.
TEST_F(NginxKernelSwitch, ANodeLeavingKernelSwitchingRemovesItsRulesOnceTheFilesNoLongerNameThem) {
  ASSERT_TRUE(nginx_->apply(on(1)).ok());
  ASSERT_NE(rules("nat").find("DNAT"), std::string::npos);
  nginx_ = std::make_unique<proxy::nginx::NginxProxy>(options_);  // the same nginx, a new agent run
  nginx_->retireKernelRules(std::make_shared<proxy::nat::IptablesNat>(options_.config_dir, options_.config_dir));
  ASSERT_TRUE(nginx_->apply(on(2)).ok());
  EXPECT_EQ(rules("nat"), "(no chain)");
  EXPECT_EQ(rules("filter"), "(no chain)");
  EXPECT_FALSE(std::filesystem::exists(options_.config_dir + "/nat_ports"));
  EXPECT_EQ(request(options_.http_port, "web.test", "/").body, "v2\n") << "served by the containers' own address";
}

TEST_F(NginxKernelSwitch, AnotherAgentsRulesAreLeftAlone) {
  proxy::nat::IptablesNat other(root_, root_ + "/another-agent");
  ASSERT_NE(other.chain(), nat_->chain());
  ASSERT_TRUE(other.useGateway("127.0.0.1").ok());
  ASSERT_TRUE(other.apply("127.0.0.1", {{"web", 20999, {{"127.0.0.1", static_cast<std::uint16_t>(ports_[2])}}}}).ok());
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
