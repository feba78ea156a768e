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

TEST(TrafficControl, ShapesIntoTheContainerOnTheHostAndOutOfItInsideItsNamespace) {
  auto plan = trafficControlPlan("veth1", 4242, 10'000'000, 5'000'000);
  ASSERT_EQ(plan.apply.size(), 2u);
  EXPECT_EQ(joined(plan.apply[0]), "tc qdisc replace dev veth1 root tbf rate 10000000bit burst 125000 latency 50ms");
  EXPECT_EQ(joined(plan.apply[1]),
            "nsenter -t 4242 -n tc qdisc replace dev eth0 root tbf rate 5000000bit burst 62500 latency 50ms");
  EXPECT_TRUE(plan.clear.empty());
}

TEST(TrafficControl, UnlimitedDirectionsAreCleared) {
  auto plan = trafficControlPlan("veth1", 7, 0, 0);
  EXPECT_TRUE(plan.apply.empty());
  ASSERT_EQ(plan.clear.size(), 2u);
  EXPECT_EQ(joined(plan.clear[0]), "tc qdisc del dev veth1 root");
  EXPECT_EQ(joined(plan.clear[1]), "nsenter -t 7 -n tc qdisc del dev eth0 root");
  EXPECT_NE(joined(trafficControlPlan("v", 7, 8000, 0).apply[0]).find("burst 16384 "), std::string::npos);  // 16 KiB floor
}

TEST(TrafficControl, FindsTheHostPeerOfTheContainersEth0) {
  berth::testing::TempDir dir;
  const std::string proc = dir.path() + "/proc", sys = dir.path() + "/sys";
  std::filesystem::create_directories(proc + "/99/root/sys/class/net/eth0");
  std::ofstream(proc + "/99/root/sys/class/net/eth0/iflink") << "12\n";
  for (auto [name, index] : {std::pair{"lo", "1"}, std::pair{"vethabc", "12"}, std::pair{"eth0", "2"}}) {
    std::filesystem::create_directories(sys + "/class/net/" + name);
    std::ofstream(sys + "/class/net/" + name + "/ifindex") << index << "\n";
  }
  EXPECT_EQ(*hostInterfaceOf(99, sys, proc), "vethabc");
  EXPECT_EQ(hostInterfaceOf(0, sys, proc).error().code, "not_running");
  EXPECT_EQ(hostInterfaceOf(98, sys, proc).error().code, "no_interface");
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
