#include "net/tls.hpp"

#include <gtest/gtest.h>

#include "net/url.hpp"

namespace berth::net {
namespace {

TEST(ServerNameMismatch, SaysWhichNamesTheCertificateHoldsAndWhichSettingAddsOne) {
  auto error = serverNameMismatch("cp.example", {"localhost", "127.0.0.1", "10.0.0.1"});
  EXPECT_EQ(error.code, "server_name_mismatch");
  EXPECT_NE(error.message.find("holds localhost, 127.0.0.1, 10.0.0.1"), std::string::npos) << error.message;
  EXPECT_NE(error.message.find("add 'cp.example' to the server's server_names"), std::string::npos) << error.message;
  EXPECT_NE(error.message.find("advertise_url"), std::string::npos) << error.message;
  EXPECT_NE(serverNameMismatch("x", {}).message.find("holds no names"), std::string::npos);
}

TEST(ParseUrl, TakesIpv6AddressesInBrackets) {
  auto v6 = parseUrl("https://[fd00::2]:7443/api");
  ASSERT_TRUE(v6.ok()) << v6.error().message;
  EXPECT_EQ(v6->host, "fd00::2");
  EXPECT_EQ(v6->port, "7443");
  EXPECT_EQ(v6->path, "/api");
  auto noPort = parseUrl("https://[::1]");
  ASSERT_TRUE(noPort.ok());
  EXPECT_EQ(noPort->host, "::1");
  EXPECT_EQ(noPort->port, "443");
  EXPECT_FALSE(parseUrl("https://[::1").ok());
  EXPECT_FALSE(parseUrl("https://[::1]x").ok());
  auto v4 = parseUrl("https://10.0.0.1:7443");
  ASSERT_TRUE(v4.ok());
  EXPECT_EQ(v4->host, "10.0.0.1");
  EXPECT_EQ(v4->port, "7443");
}

}  // namespace
}  // namespace berth::net
