// The agent with `helper_socket`: its host actions go through a real `berth
// helper`. Servers started: berth server, berth helper (temporary socket and
// key), one berth agent without CAP_NET_ADMIN and CAP_SYS_ADMIN (setpriv), and
// a private dockerd (DockerDaemon).
#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <fstream>

#include "agent/traffic_control.hpp"
#include "common/subprocess.hpp"
#include "harness.hpp"

namespace berth::itest {
namespace {

constexpr int kCapNetAdmin = 12, kCapSysAdmin = 21;

// The effective capability set of `pid` (CapEff in /proc/<pid>/status).
std::uint64_t effectiveCaps(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("CapEff:", 0) == 0) return std::stoull(line.substr(7), nullptr, 16);
  return ~0ull;
}

TEST(AgentHelperTest, BandwidthLimitsGoThroughTheHelper) {
  DockerDaemon daemon;
  ASSERT_TRUE(daemon.ready());
  daemon.importBusybox("berth-test/web", "1", {{"/www/index.html", "one\n"}});
  Cluster cluster;
  const std::string socket = cluster.root() + "/helper.sock", key = cluster.root() + "/helper.key";
  auto helper = Process::spawn({BERTH_BINARY, "helper", "--socket", socket, "--key-file", key, "--proxy-dirs",
                                cluster.root() + "/proxy", "--writable-files", cluster.root() + "/none.yml",
                                "--proxy-user", "root", "--socket-group", "root"},
                               cluster.root() + "/helper.log");
  ASSERT_TRUE(eventually([&] { return std::filesystem::exists(socket); })) << helper->log();
  cluster.startServer();
  // Root, but without the capabilities tc and nsenter need: only the helper can shape.
  cluster.agent_prefix = {"/usr/bin/setpriv", "--bounding-set=-net_admin,-sys_admin", "--inh-caps=-net_admin,-sys_admin",
                          "--"};
  const std::string node = cluster.startOnlineAgent(
      "a", {"--docker-socket", daemon.socket, "--docker-network", "berth-test", "--helper-socket", socket,
            "--helper-key-file", key});
  ASSERT_FALSE(node.empty());
  const int agentPid = cluster.agent("a").pid();
  const auto caps = effectiveCaps(agentPid);
  ASSERT_EQ(caps & (1ull << kCapNetAdmin), 0u) << std::hex << caps;
  ASSERT_EQ(caps & (1ull << kCapSysAdmin), 0u) << std::hex << caps;

  auto [created, createOut] = cluster.cli({"app", "create", "talker", "--node", node});
  ASSERT_EQ(created, 0) << createOut;
  auto [deployed, out] = cluster.cli({"app", "deploy", "talker", "--image", "berth-test/web:1", "--net-in", "10mbit",
                                      "--net-out", "5mbit", "--arg", "/bin/busybox", "--arg", "sleep", "--arg", "600"});
  ASSERT_EQ(deployed, 0) << out << cluster.agent("a").log() << helper->log();
  auto containers = daemon.docker->list({{"berth.app", "talker"}});
  ASSERT_TRUE(containers.ok());
  int pid = 0;
  for (const auto& id : *containers) {
    auto info = daemon.docker->inspect(id);
    if (info.ok() && *info && (*info)->pid > 0) pid = (*info)->pid;
  }
  ASSERT_GT(pid, 0);
  auto veth = agent::hostInterfaceOf(pid);
  ASSERT_TRUE(veth.ok()) << veth.error().message;
  EXPECT_NE(runProcess({"tc", "qdisc", "show", "dev", *veth}, 5000)->output.find("rate 10Mbit"), std::string::npos);
  EXPECT_NE(runProcess({"nsenter", "-t", std::to_string(pid), "-n", "tc", "qdisc", "show", "dev", "eth0"}, 5000)
                ->output.find("rate 5Mbit"),
            std::string::npos);
  // The helper did it, for the agent's process.
  const std::string log = helper->log();
  EXPECT_NE(log.find("\"verb\":\"traffic.shape\""), std::string::npos) << log;
  EXPECT_NE(log.find("\"outcome\":\"ok\""), std::string::npos) << log;
  EXPECT_NE(log.find("\"peer_pid\":" + std::to_string(agentPid)), std::string::npos) << log;
  EXPECT_NE(log.find("\"pid\":" + std::to_string(pid)), std::string::npos) << log;

  cluster.agent("a").signal(SIGTERM);
  cluster.agent("a").wait(std::chrono::seconds(20));
}

}  // namespace
}  // namespace berth::itest
