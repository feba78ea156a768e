#include "server/advertise.hpp"

#include <gtest/gtest.h>

namespace berth::server {
namespace {

// The route table of a host with eth0 (default route) and docker0.
constexpr const char* kRoutes =
    "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
    "docker0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n"
    "wlan0\t00000000\t0101A8C0\t0003\t0\t0\t600\t00000000\t0\t0\t0\n"
    "eth0\t00000000\t010200C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\n"
    "eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n"
    "eth1\t00000000\t010300C0\t0002\t0\t0\t0\t00000000\t0\t0\t0\n";  // not up

HostFacts hostWithDocker() {
  HostFacts facts;
  facts.host_name = "cp1";
  facts.default_route_interfaces = {"eth0"};
  facts.addresses = {{"lo", "127.0.0.1", true},  {"docker0", "172.17.0.1", true}, {"eth0", "192.0.2.2", false},
                     {"eth0", "fd00::2", false}, {"eth0", "fe80::1", false},      {"veth1a2b", "10.9.0.1", true},
                     {"lo", "::1", true}};
  return facts;
}

TEST(Advertise, DefaultRouteInterfacesComeLowestMetricFirstAndOnlyWhenUp) {
  EXPECT_EQ(parseDefaultRouteInterfaces(kRoutes), (std::vector<std::string>{"eth0", "wlan0"}));
  EXPECT_TRUE(parseDefaultRouteInterfaces("").empty());
  EXPECT_TRUE(parseDefaultRouteInterfaces("Iface\tDestination\nbroken line\n").empty());
}

TEST(Advertise, WildcardListenerAdvertisesTheDefaultRouteAddressAndCertifiesEveryHostAddress) {
  auto plan = planAdvertising("0.0.0.0:7443", "", {}, hostWithDocker());
  ASSERT_TRUE(plan.ok()) << plan.error().message;
  EXPECT_EQ(plan->host, "192.0.2.2");
  EXPECT_EQ(plan->port, 0);
  // IPv4 only on 0.0.0.0; link-local and loopback left out; docker0 and the veth kept.
  EXPECT_EQ(plan->certificate_names,
            (std::vector<std::string>{"localhost", "127.0.0.1", "192.0.2.2", "cp1", "172.17.0.1", "10.9.0.1"}));
  EXPECT_EQ(advertisedUrl(*plan, 7443), "https://192.0.2.2:7443");
}

TEST(Advertise, Ipv6WildcardAlsoCertifiesIpv6AddressesAndServerNamesComeFirst) {
  auto plan = planAdvertising("[::]:7443", "", {"cp.example"}, hostWithDocker());
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->host, "192.0.2.2");
  EXPECT_EQ(plan->certificate_names, (std::vector<std::string>{"cp.example", "localhost", "127.0.0.1", "192.0.2.2",
                                                               "cp1", "172.17.0.1", "fd00::2", "10.9.0.1"}));
}

TEST(Advertise, NeverAdvertisesAContainerBridgeEvenWhenItCarriesTheDefaultRoute) {
  HostFacts facts = hostWithDocker();
  facts.default_route_interfaces = {"docker0"};
  EXPECT_EQ(planAdvertising("0.0.0.0:1", "", {}, facts)->host, "192.0.2.2");
  // No default route at all: the first address that is neither loopback nor virtual.
  facts.default_route_interfaces.clear();
  EXPECT_EQ(planAdvertising("0.0.0.0:1", "", {}, facts)->host, "192.0.2.2");
  // Only virtual links: one of them beats nothing.
  facts.addresses = {{"lo", "127.0.0.1", true}, {"veth1", "10.9.0.1", true}};
  EXPECT_EQ(planAdvertising("0.0.0.0:1", "", {}, facts)->host, "10.9.0.1");
  // Nothing at all: the host name.
  facts.addresses.clear();
  EXPECT_EQ(planAdvertising("0.0.0.0:1", "", {}, facts)->host, "cp1");
}

TEST(Advertise, AHostBridgeCarryingTheDefaultRouteIsAdvertised) {
  HostFacts facts;
  facts.default_route_interfaces = {"br0"};
  facts.addresses = {{"docker0", "172.17.0.1", true}, {"br0", "10.1.1.4", true}};
  EXPECT_EQ(planAdvertising("0.0.0.0:1", "", {}, facts)->host, "10.1.1.4");
}

TEST(Advertise, SpecificAddressIsAdvertisedAndCertifiedWithTheHostName) {
  auto plan = planAdvertising("10.0.0.5:7443", "", {}, hostWithDocker());
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->host, "10.0.0.5");
  EXPECT_EQ(plan->certificate_names, (std::vector<std::string>{"localhost", "127.0.0.1", "10.0.0.5", "cp1"}));
  auto v6 = planAdvertising("[fd00::2]:7443", "", {}, hostWithDocker());
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(advertisedUrl(*v6, 7443), "https://[fd00::2]:7443");
}

TEST(Advertise, LoopbackKeepsTodaysNamesAndUrl) {
  auto plan = planAdvertising("127.0.0.1:0", "", {}, hostWithDocker());
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->host, "localhost");
  EXPECT_EQ(plan->certificate_names, (std::vector<std::string>{"localhost", "127.0.0.1"}));
  EXPECT_EQ(planAdvertising("127.0.0.1:0", "", {"cp.example"}, hostWithDocker())->host, "cp.example");
}

TEST(Advertise, AdvertiseUrlWinsAndIsCertified) {
  auto plan = planAdvertising("0.0.0.0:7443", "https://cp.example.com:443", {}, hostWithDocker());
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->host, "cp.example.com");
  EXPECT_EQ(advertisedUrl(*plan, 7443), "https://cp.example.com:443");
  EXPECT_EQ(plan->certificate_names[2], "cp.example.com");
  auto noPort = planAdvertising("127.0.0.1:7443", "https://cp.example.com/", {}, hostWithDocker());
  ASSERT_TRUE(noPort.ok());
  EXPECT_EQ(advertisedUrl(*noPort, 7443), "https://cp.example.com:7443");
  EXPECT_EQ(noPort->certificate_names, (std::vector<std::string>{"localhost", "127.0.0.1", "cp.example.com"}));
  EXPECT_EQ(advertisedUrl(*planAdvertising("0.0.0.0:1", "https://[fd00::9]:8443", {}, hostWithDocker()), 1),
            "https://[fd00::9]:8443");
}

TEST(Advertise, MalformedAdvertiseUrlNamesTheField) {
  for (const char* bad : {"http://cp", "https://", "https://cp:", "https://cp:99999", "https://cp/path",
                          "https://[cp]:1", "https://user@cp", "cp.example"}) {
    auto plan = planAdvertising("0.0.0.0:7443", bad, {}, hostWithDocker());
    ASSERT_FALSE(plan.ok()) << bad;
    EXPECT_NE(plan.error().message.find("config field 'advertise_url'"), std::string::npos) << bad;
  }
}

TEST(Advertise, LoopbackAndVirtualNames) {
  EXPECT_TRUE(isLoopbackHost("127.0.0.1"));
  EXPECT_TRUE(isLoopbackHost("127.1.2.3"));
  EXPECT_TRUE(isLoopbackHost("::1"));
  EXPECT_TRUE(isLoopbackHost("localhost"));
  EXPECT_FALSE(isLoopbackHost("10.0.0.1"));
  EXPECT_FALSE(isLoopbackHost("127.example"));
  EXPECT_TRUE(isVirtualInterfaceName("docker0"));
  EXPECT_TRUE(isVirtualInterfaceName("br-1234abcd"));
  EXPECT_TRUE(isVirtualInterfaceName("veth9f8e"));
  EXPECT_FALSE(isVirtualInterfaceName("eth0"));
  EXPECT_FALSE(isVirtualInterfaceName("br0"));
}

}  // namespace
}  // namespace berth::server
