// Kernel switching under faults. Servers started: a real nginx (berth's own master, on free
// loopback ports), python3 upstreams on loopback, rules in this host's iptables (chains of the
// tests' own, removed afterwards) and, for a full disk, a small tmpfs mounted here; no dockerd.
// Needs root, as the agent does.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "disk_support.hpp"
#include "nginx_kernel_fixture.hpp"
#include "proxy/nat/nat_rules.hpp"

namespace berth::itest {
namespace {
using proxy::nat::IptablesNat;
using proxy::nat::NatService;

std::size_t count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

// Removes a test's own chains however the test ends.
struct RulesRemovedAtEnd {
  IptablesNat& nat;
  ~RulesRemovedAtEnd() { EXPECT_TRUE(nat.removeRules().ok()); }
};

std::map<std::string, int> portsIn(const std::string& nat_ports) {
  std::istringstream in(*pki::readFile(nat_ports));
  std::map<std::string, int> out;
  std::string app;
  int port = 0;
  while (in >> app >> port) out[app] = port;
  return out;
}

TEST_F(NginxKernelSwitch, AMovedGatewayMovesTheRulesWithTheFiles) {
  ASSERT_TRUE(nginx_->apply(on(1)).ok());
  EXPECT_FALSE(nginx_->needsReapply());
  // The app network was made again with another subnet: the agent tells the new gateway.
  ASSERT_TRUE(nat_->useGateway("127.0.0.2").ok());
  EXPECT_TRUE(nginx_->needsReapply()) << "the router's keepAlive serves the same routes anew";
  auto again = nginx_->apply(on(1));
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_FALSE(nginx_->needsReapply());
  EXPECT_NE(pki::readFile(options_.config_dir + "/current/apps/web.conf")->find("server 127.0.0.2:"), std::string::npos);
  EXPECT_NE(rules("nat").find("-d 127.0.0.2/32"), std::string::npos) << rules("nat");
  EXPECT_EQ(rules("nat").find("-d 127.0.0.1/32"), std::string::npos) << rules("nat");
  EXPECT_EQ(request(options_.http_port, "web.test", "/").body, "v1\n");
}

// A refusal is said once while it lasts, and nginx names the containers and reloads meanwhile.
TEST_F(NginxKernelSwitch, IptablesRefusingFallsBackToReloadsAndIsLoggedOnce) {
  const std::string refuser = root_ + "/iptables-restore";
  std::ofstream(refuser) << "#!/bin/sh\necho 'iptables-restore: line 2 failed' >&2\nexit 1\n";
  std::filesystem::permissions(refuser, std::filesystem::perms::owner_all);
  auto refusing = std::make_shared<IptablesNat>(options_.config_dir, options_.config_dir, refuser);
  ASSERT_TRUE(refusing->useGateway("127.0.0.1").ok());
  restartWith(refusing);
  ::testing::internal::CaptureStderr();
  for (int v : {1, 2, 1, 2}) {
    auto applied = nginx_->apply(on(v));
    EXPECT_TRUE(applied.ok()) << applied.error().message;
    EXPECT_EQ(request(options_.http_port, "web.test", "/").body, "v" + std::to_string(v) + "\n");
  }
  const std::string logs = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(count(logs, "refused the upstream rules"), 1u) << logs;
  EXPECT_NE(pki::readFile(options_.config_dir + "/current/apps/web.conf")->find(std::to_string(ports_[2])),
            std::string::npos) << "the fallback names the container";
}

// Going from stable addresses to naming containers (an IPv6 upstream joins): the rules the loaded
// files name stay until the files naming the containers serve.
class WatchedNat final : public proxy::nat::UpstreamNat {
 public:
  explicit WatchedNat(std::shared_ptr<IptablesNat> real) : real_(std::move(real)) {}
  std::string gateway() const override { return real_->gateway(); }
  Result<std::map<std::string, std::uint16_t>> portsFor(const std::string& gateway,
                                                        const std::vector<std::string>& apps) override {
    return real_->portsFor(gateway, apps);
  }
  Result<void> apply(const std::string& gateway, const std::vector<NatService>& services) override {
    if (before_apply) before_apply(services);
    return real_->apply(gateway, services);
  }
  std::function<void(const std::vector<NatService>&)> before_apply;

 private:
  std::shared_ptr<IptablesNat> real_;
};

TEST_F(NginxKernelSwitch, RulesTheLoadedFilesNameAreRemovedOnlyAfterTheFilesStopNamingThem) {
  auto watched = std::make_shared<WatchedNat>(nat_);
  restartWith(watched);
  ASSERT_TRUE(nginx_->apply(on(1)).ok());
  std::string servingWhenEmptied = "(never emptied)";
  watched->before_apply = [&](const std::vector<NatService>& services) {
    if (services.empty()) servingWhenEmptied = *pki::readFile(options_.config_dir + "/current/apps/web.conf");
  };
  auto mixed = on(1);
  mixed.apps.push_back(AppRoutes{"six", {{{"six.test"}, "/", false}}, {{"::1", static_cast<std::uint16_t>(ports_[2])}}, false});
  ASSERT_TRUE(nginx_->apply(mixed).ok());
  EXPECT_NE(servingWhenEmptied.find("server 127.0.0.1:" + std::to_string(ports_[1]) + ";"), std::string::npos)
      << "the rules went while nginx still named them:\n" << servingWhenEmptied;
  EXPECT_EQ(rules("nat").find("DNAT"), std::string::npos) << rules("nat");
  EXPECT_EQ(request(options_.http_port, "web.test", "/").body, "v1\n");
}

// Another agent's rule, or a listener, on a port of this agent's block at the gateway: a new app
// never gets that port (this agent's chain is first in OUTPUT and would take those connections).
TEST_F(NginxKernelSwitch, ANewAppNeverGetsAPortAnotherRuleOrAListenerTakesAtTheGateway) {
  const auto block = proxy::nat::portBlockStart(options_.config_dir);
  IptablesNat other(root_, root_ + "/another-agent");
  RulesRemovedAtEnd removed{other};
  ASSERT_TRUE(other.useGateway("127.0.0.1").ok());
  ASSERT_TRUE(other.apply("127.0.0.1", {{"web", block, {{"127.0.0.1", static_cast<std::uint16_t>(ports_[2])}}}}).ok());
  const int listener = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<std::uint16_t>(block + 1));
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool listening = ::bind(listener, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0 && ::listen(listener, 1) == 0;

  ASSERT_TRUE(nginx_->apply(on(1)).ok());
  const int port = portsIn(options_.config_dir + "/nat_ports")["web"];
  EXPECT_NE(port, block) << "another agent's rule is there";
  if (listening) {
    EXPECT_NE(port, block + 1) << "something listens there";
  }
  EXPECT_EQ(request(options_.http_port, "web.test", "/").body, "v1\n");
  EXPECT_EQ(request(block, "x", "/").body, "v2\n") << "the other agent's address still reaches its app";
  ::close(listener);
}

TEST_F(NginxKernelSwitch, AFullDiskLeavesTheRulesAndTheFilesAsTheyWereAndNamesTheFile) {
  const std::string dir = root_ + "/natstate", key = root_ + "/full-agent";
  TmpfsMount disk(dir, "256k");
  ASSERT_TRUE(disk.mounted()) << "mounting a tmpfs needs root";
  IptablesNat nat(dir, key);
  RulesRemovedAtEnd removed{nat};
  ASSERT_TRUE(nat.useGateway("127.0.0.1").ok());
  const auto port = proxy::nat::portBlockStart(key);
  ASSERT_TRUE(nat.apply("127.0.0.1", {{"web", port, {{"127.0.0.1", static_cast<std::uint16_t>(ports_[1])}}}}).ok());
  const std::string before = *pki::readFile(dir + "/nat.rules");
  // Rules longer than what the old file's pages free, so writing over it in place cannot succeed.
  std::vector<proxy::Upstream> many;
  for (int i = 1; i <= 120; ++i) many.push_back({"127.0.1." + std::to_string(i), static_cast<std::uint16_t>(ports_[2])});
  fillDisk(dir + "/filler");

  auto applied = nat.apply("127.0.0.1", {{"web", port, many}});
  ASSERT_FALSE(applied.ok());
  EXPECT_NE(applied.error().message.find(dir + "/nat.rules"), std::string::npos) << applied.error().message;
  EXPECT_EQ(*pki::readFile(dir + "/nat.rules"), before) << "the file still says what the kernel holds";
  auto listed = runProcess({"/usr/sbin/iptables", "-w", "-t", "nat", "-S", nat.chain()}, 10'000);
  ASSERT_TRUE(listed.ok());
  EXPECT_NE(listed->output.find("127.0.0.1:" + std::to_string(ports_[1])), std::string::npos) << listed->output;
  EXPECT_EQ(listed->output.find("127.0.1.1:"), std::string::npos) << listed->output;

  auto ports = nat.portsFor("127.0.0.1", {"web", "api"});
  ASSERT_FALSE(ports.ok());
  EXPECT_NE(ports.error().message.find(dir + "/nat_ports"), std::string::npos) << ports.error().message;
  EXPECT_FALSE(nat.portsFor("127.0.0.1", {"web", "api"}).ok()) << "ports never kept must not be handed out";

  std::filesystem::remove(dir + "/filler");
  auto kept = nat.portsFor("127.0.0.1", {"web", "api"});
  ASSERT_TRUE(kept.ok()) << kept.error().message;
  IptablesNat restarted(dir, key);
  auto reread = restarted.portsFor("127.0.0.1", {"web", "api"});
  ASSERT_TRUE(reread.ok());
  EXPECT_EQ(*reread, *kept) << "what was handed out is what a restart reads";
  for (const auto& entry : std::filesystem::directory_iterator(dir))
    EXPECT_TRUE(entry.path().filename() == "nat.rules" || entry.path().filename() == "nat_ports") << entry.path();
}

}  // namespace
}  // namespace berth::itest
