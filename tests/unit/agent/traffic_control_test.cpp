#include "agent/traffic_control.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "../temp_dir.hpp"
#include "agent/health_probe.hpp"

namespace berth::agent {
namespace {

std::string joined(const std::vector<std::string>& argv) {
  std::string out;
  for (const auto& a : argv) out += (out.empty() ? "" : " ") + a;
  return out;
}

const HostTools kTools{"/usr/sbin/tc", "/usr/bin/nsenter", "/usr/sbin/ip"};

TEST(TrafficControl, ShapesIntoTheContainerOnTheHostAndOutOfItInsideItsNamespace) {
  auto plan = trafficControlPlan(kTools, "veth1", 4242, 10'000'000, 5'000'000);
  ASSERT_EQ(plan.apply.size(), 2u);
  EXPECT_EQ(joined(plan.apply[0]),
            "/usr/sbin/tc qdisc replace dev veth1 root tbf rate 10000000bit burst 125000 latency 50ms");
  EXPECT_EQ(joined(plan.apply[1]),
            "/usr/bin/nsenter -t 4242 -n /usr/sbin/tc qdisc replace dev eth0 root tbf rate 5000000bit burst 62500 "
            "latency 50ms");
  EXPECT_TRUE(plan.clear.empty());
}

TEST(TrafficControl, UnlimitedDirectionsAreCleared) {
  auto plan = trafficControlPlan(kTools, "veth1", 7, 0, 0);
  EXPECT_TRUE(plan.apply.empty());
  ASSERT_EQ(plan.clear.size(), 2u);
  EXPECT_EQ(joined(plan.clear[0]), "/usr/sbin/tc qdisc del dev veth1 root");
  EXPECT_EQ(joined(plan.clear[1]), "/usr/bin/nsenter -t 7 -n /usr/sbin/tc qdisc del dev eth0 root");
  EXPECT_NE(joined(trafficControlPlan(kTools, "v", 7, 8000, 0).apply[0]).find("burst 16384 "),
            std::string::npos);  // 16 KiB floor
}

TEST(TrafficControl, RootToolsComeFromFixedSystemDirectoriesNeverFromPath) {
  std::vector<std::string> asked;
  auto onlyBin = [&](const std::string& path) {
    asked.push_back(path);
    return path == "/usr/bin/nsenter";
  };
  EXPECT_EQ(resolveTool("nsenter", hostToolDirs(), onlyBin), "/usr/bin/nsenter");
  EXPECT_EQ(asked, (std::vector<std::string>{"/usr/sbin/nsenter", "/sbin/nsenter", "/usr/bin/nsenter"}));
  EXPECT_EQ(resolveTool("tc", {"relative/dir", ""}, [](const std::string&) { return true; }), "");
  EXPECT_EQ(resolveTool("tc", hostToolDirs(), [](const std::string&) { return false; }), "");
  // Whatever PATH says, the tools found here are absolute.
  for (const auto* tool : {&hostTools().tc, &hostTools().nsenter, &hostTools().ip}) {
    if (!tool->empty()) EXPECT_EQ(tool->front(), '/') << *tool;
  }
  // A plan with a tool that was not found refuses to run rather than falling back to PATH.
  auto missing = applyTrafficControl(trafficControlPlan(HostTools{"", "", ""}, "veth1", 7, 8000, 0));
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, "tc_failed");
}

TEST(TrafficControl, FindsTheHostPeerFromTheKernelsAnswerNotFromTheContainersFiles) {
  EXPECT_EQ(peerIndexOf("20: eth0@if21: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue state UP\n"), 21);
  EXPECT_EQ(peerIndexOf("2: eth0: <BROADCAST> mtu 1500"), 0);  // not a veth
  EXPECT_EQ(peerIndexOf("2: eth0@ifx: <BROADCAST>"), 0);
  EXPECT_EQ(peerIndexOf(""), 0);
  berth::testing::TempDir dir;
  const std::string sys = dir.path() + "/sys";
  for (auto [name, index] : {std::pair{"lo", "1"}, std::pair{"vethabc", "12"}, std::pair{"eth0", "2"}}) {
    std::filesystem::create_directories(sys + "/class/net/" + name);
    std::ofstream(sys + "/class/net/" + name + "/ifindex") << index << "\n";
  }
  EXPECT_EQ(*interfaceWithIndex(12, sys), "vethabc");
  EXPECT_EQ(interfaceWithIndex(13, sys).error().code, "no_interface");
  EXPECT_EQ(interfaceWithIndex(0, sys).error().code, "no_interface");
  EXPECT_EQ(hostInterfaceOf(0).error().code, "not_running");
}

TEST(HealthProbe, ReadsTheStatusLine) {
  EXPECT_EQ(httpStatusOf("HTTP/1.1 204 No Content\r\n"), 204);
  EXPECT_EQ(httpStatusOf("HTTP/1.0 404 Not Found\r\n"), 404);
  EXPECT_EQ(httpStatusOf("SSH-2.0-OpenSSH\r\n"), 0);
  EXPECT_EQ(httpStatusOf("HTTP/1.1 2x4"), 0);
}

TEST(HealthProbe, RefusedPortFailsWithTheReason) {
  auto r = probeTcp("127.0.0.1", 1, 500);  // nothing listens on port 1 here
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "probe_failed");
  EXPECT_NE(r.error().message.find("127.0.0.1:1"), std::string::npos);
}

}  // namespace
}  // namespace berth::agent
