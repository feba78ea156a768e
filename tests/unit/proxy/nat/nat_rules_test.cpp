#include "proxy/nat/nat_rules.hpp"

#include <gtest/gtest.h>

namespace berth::proxy::nat {
namespace {

NatTable shopAndApi() {
  NatTable t;
  t.chain = chainNameFor("/var/lib/berth/proxy/nginx");
  t.gateway = "172.18.0.1";
  t.services.push_back({"shop", 20001, {{"172.18.0.5", 3000}, {"172.18.0.6", 3000}, {"172.18.0.7", 3000}}});
  t.services.push_back({"api.acme", 20002, {}});
  return t;
}

TEST(NatRules, EachTargetGetsItsShareAndAServiceWithoutTargetsIsRefused) {
  auto text = renderRestore(shopAndApi());
  ASSERT_TRUE(text.ok()) << text.error().message;
  const std::string chain = shopAndApi().chain;
  const std::string match = "-A " + chain + " -d 172.18.0.1/32 -p tcp -m tcp --dport 20001 -m comment --comment \"berth app shop\"";
  // 1/3 of all, then 1/2 of the rest, then the rest: a third each.
  EXPECT_NE(text->find(match + " -m statistic --mode random --probability 0.3333333333 -j DNAT --to-destination 172.18.0.5:3000\n"),
            std::string::npos) << *text;
  EXPECT_NE(text->find(match + " -m statistic --mode random --probability 0.5000000000 -j DNAT --to-destination 172.18.0.6:3000\n"),
            std::string::npos) << *text;
  EXPECT_NE(text->find(match + " -j DNAT --to-destination 172.18.0.7:3000\n"), std::string::npos) << *text;
  EXPECT_NE(text->find("-A " + chain + " -d 172.18.0.1/32 -p tcp -m tcp --dport 20002 -m comment --comment \"berth app api.acme\" -j REJECT --reject-with tcp-reset\n"),
            std::string::npos) << *text;
  // The chain is declared in both tables (which flushes it), each table committed once.
  EXPECT_EQ(text->find("*nat\n:" + chain + " - [0:0]\n"), 0u) << *text;
  EXPECT_NE(text->find("COMMIT\n*filter\n:" + chain + " - [0:0]\n"), std::string::npos);
  EXPECT_EQ(text->substr(text->size() - 7), "COMMIT\n");
}

TEST(NatRules, NoServicesLeaveBothChainsEmpty) {
  NatTable t = shopAndApi();
  t.services.clear();
  auto text = renderRestore(t);
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(*text, "*nat\n:" + t.chain + " - [0:0]\nCOMMIT\n*filter\n:" + t.chain + " - [0:0]\nCOMMIT\n");
}

TEST(NatRules, ChainsAndPortBlocksDifferPerAgentAndStayTheSame) {
  EXPECT_EQ(chainNameFor("/a"), chainNameFor("/a"));
  EXPECT_NE(chainNameFor("/a"), chainNameFor("/b"));
  EXPECT_EQ(chainNameFor("/a").size(), 16u);  // iptables allows 28
  EXPECT_EQ(portBlockStart("/a"), portBlockStart("/a"));
  for (const char* key : {"/a", "/b", "/c", "/var/lib/berth/proxy/nginx"}) {
    EXPECT_GE(portBlockStart(key), 20000);
    EXPECT_LE(portBlockStart(key), 59000);
    EXPECT_EQ(portBlockStart(key) % 1000, 0);
  }
}

TEST(NatRules, WhatCouldChangeAnotherRuleIsRefusedNamingTheField) {
  struct Case {
    const char* name;
    void (*spoil)(NatTable&);
    const char* field;
  };
  const Case cases[] = {
      {"chain of another program", [](NatTable& t) { t.chain = "DOCKER"; }, "chain"},
      {"chain with an option", [](NatTable& t) { t.chain = "BERTH-0 -j ACCEPT"; }, "chain"},
      {"IPv6 gateway", [](NatTable& t) { t.gateway = "fd00::1"; }, "gateway"},
      {"gateway with a mask", [](NatTable& t) { t.gateway = "0.0.0.0/0"; }, "gateway"},
      {"app with an option", [](NatTable& t) { t.services[0].app = "shop\" -j ACCEPT"; }, "services[0].app"},
      {"app with a newline", [](NatTable& t) { t.services[0].app = "shop\n-F"; }, "services[0].app"},
      {"port 0", [](NatTable& t) { t.services[1].port = 0; }, "services[1].port"},
      {"two apps on one port", [](NatTable& t) { t.services[1].port = 20001; }, "services[1].port"},
      {"IPv6 target", [](NatTable& t) { t.services[0].targets[1].address = "fd00::5"; }, "services[0].targets[1].address"},
      {"target with a range", [](NatTable& t) { t.services[0].targets[0].address = "172.18.0.5-172.18.0.9"; },
       "services[0].targets[0].address"},
      {"target port 0", [](NatTable& t) { t.services[0].targets[2].port = 0; }, "services[0].targets[2].port"},
  };
  for (const auto& c : cases) {
    NatTable t = shopAndApi();
    c.spoil(t);
    auto text = renderRestore(t);
    ASSERT_FALSE(text.ok()) << c.name;
    EXPECT_EQ(text.error().code, "invalid_argument") << c.name;
    EXPECT_NE(text.error().message.find(c.field), std::string::npos) << c.name << ": " << text.error().message;
  }
}

}  // namespace
}  // namespace berth::proxy::nat
