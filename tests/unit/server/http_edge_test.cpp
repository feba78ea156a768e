#include "server/http_edge.hpp"

#include <gtest/gtest.h>

namespace berth::server {
namespace {

TEST(HttpEdge, RequestIdsThatCannotBeEchoedAreReplaced) {
  EXPECT_EQ(acceptableRequestId("cli_abc-123", "req_new"), "cli_abc-123");
  EXPECT_EQ(acceptableRequestId("", "req_new"), "req_new");
  EXPECT_EQ(acceptableRequestId("a\r\nX-Injected: 1", "req_new"), "req_new");
  EXPECT_EQ(acceptableRequestId(std::string("a\0b", 3), "req_new"), "req_new");
  EXPECT_EQ(acceptableRequestId("has space", "req_new"), "req_new");
  EXPECT_EQ(acceptableRequestId("\xc3\xa9t\xc3\xa9", "req_new"), "req_new");  // non-ASCII
  EXPECT_EQ(acceptableRequestId("\xff\xfe", "req_new"), "req_new");
  EXPECT_EQ(acceptableRequestId(std::string(128, 'a'), "req_new"), std::string(128, 'a'));
  EXPECT_EQ(acceptableRequestId(std::string(129, 'a'), "req_new"), "req_new");
}

TEST(HttpEdge, SubprotocolMatchesWholeTokensOnly) {
  EXPECT_TRUE(offersToken("berth-agent-v1", "berth-agent-v1"));
  EXPECT_TRUE(offersToken("chat, berth-agent-v1", "berth-agent-v1"));
  EXPECT_TRUE(offersToken("berth-agent-v1 ,\tchat", "berth-agent-v1"));
  EXPECT_FALSE(offersToken("berth-agent-v10", "berth-agent-v1"));
  EXPECT_FALSE(offersToken("xberth-agent-v1", "berth-agent-v1"));
  EXPECT_FALSE(offersToken("berth-agent-v1x, chat", "berth-agent-v1"));
  EXPECT_FALSE(offersToken("", "berth-agent-v1"));
  EXPECT_FALSE(offersToken(",,", "berth-agent-v1"));
}

TEST(HttpEdge, Utf8Validation) {
  EXPECT_TRUE(isValidUtf8("/api/v1/apps/plain"));
  EXPECT_TRUE(isValidUtf8("/api/v1/apps/caf\xc3\xa9"));
  EXPECT_TRUE(isValidUtf8("\xf0\x9f\x9a\xa2"));  // U+1F6A2
  EXPECT_FALSE(isValidUtf8("/api/v1/apps/\xff"));
  EXPECT_FALSE(isValidUtf8("\xc3"));              // truncated
  EXPECT_FALSE(isValidUtf8("\xc0\xaf"));          // overlong '/'
  EXPECT_FALSE(isValidUtf8("\xed\xa0\x80"));      // surrogate
  EXPECT_FALSE(isValidUtf8("\xf4\x90\x80\x80"));  // past U+10FFFF
  EXPECT_FALSE(isValidUtf8("\xe2\x28\xa1"));      // bad continuation
}

TEST(HttpEdge, ConnectionCounterCapsPerAddressAtTheLimitItWasGiven) {
  int limit = 2;
  ConnectionCounter counter(limit);
  EXPECT_TRUE(counter.tryAcquire("10.0.0.1"));
  EXPECT_TRUE(counter.tryAcquire("10.0.0.1"));
  EXPECT_FALSE(counter.tryAcquire("10.0.0.1"));
  EXPECT_TRUE(counter.tryAcquire("10.0.0.2"));  // other addresses are separate
  EXPECT_EQ(counter.open("10.0.0.1"), 2);
  counter.release("10.0.0.1");
  EXPECT_TRUE(counter.tryAcquire("10.0.0.1"));
  // A reload that rewrites the configuration does not move the cap: it is a
  // restart-only setting (docs/configuration.md), as the log says on SIGHUP.
  limit = 5;
  EXPECT_FALSE(counter.tryAcquire("10.0.0.1"));
  counter.release("10.0.0.2");
  EXPECT_EQ(counter.open("10.0.0.2"), 0);
}

TEST(HttpEdge, IPv6ClientsAreCountedByTheirSlash64) {
  auto key = [](const char* text) { return clientAddressKey(boost::asio::ip::make_address(text)); };
  EXPECT_EQ(key("203.0.113.7"), "203.0.113.7");
  EXPECT_EQ(key("::ffff:203.0.113.7"), "203.0.113.7");  // IPv4 on a dual-stack listener
  // Addresses a single host picks from its /64 share one count.
  EXPECT_EQ(key("2001:db8:1:2::1"), "2001:db8:1:2::/64");
  EXPECT_EQ(key("2001:db8:1:2:dead:beef:0:7"), "2001:db8:1:2::/64");
  EXPECT_NE(key("2001:db8:1:3::1"), key("2001:db8:1:2::1"));
  EXPECT_EQ(key("::1"), "::/64");
}

}  // namespace
}  // namespace berth::server
