#include "proxy/proxy_state.hpp"

#include <gtest/gtest.h>

#include "apps/spec.hpp"

namespace berth::proxy {
namespace {

ProxyState oneApp() {
  ProxyState s;
  s.apps.push_back({"shop", {{{"shop.example.com"}, "/", false}}, {{"172.18.0.5", 8080}}, false});
  return s;
}

std::string refusal(const ProxyState& s) {
  auto r = validate(s);
  return r ? std::string() : r.error().message;
}

TEST(ProxyState, AValidStatePasses) { EXPECT_EQ(refusal(oneApp()), ""); }

TEST(ProxyState, NothingThatCouldEndADirectiveReachesAnAdapter) {
  for (const std::string host : {"shop.example.com;", "shop.example.com\r\nX: y", "shop example.com", "Shop.example.com",
                                 "shop.example.com}", "$host", ""}) {
    auto s = oneApp();
    s.apps[0].routes[0].hosts = {host};
    EXPECT_NE(refusal(s).find("apps[0].routes[0].hosts"), std::string::npos) << host;
  }
  for (const std::string prefix : {"/x;return 200", "/x{", "/../etc", "/a//b", "/a/./b", "x", "/a/", "/a b", "/a\"",
                                   "/$uri", "/a#b", "/a?b"}) {
    auto s = oneApp();
    s.apps[0].routes[0].path_prefix = prefix;
    EXPECT_NE(refusal(s).find("apps[0].routes[0].path_prefix"), std::string::npos) << prefix;
  }
  auto s = oneApp();
  s.apps[0].app = "shop;";
  EXPECT_NE(refusal(s).find("apps[0].app"), std::string::npos);
}

TEST(ProxyState, UpstreamsAreIpAddressesWithAPort) {
  auto s = oneApp();
  s.apps[0].upstreams = {{"backend.internal", 8080}};
  EXPECT_NE(refusal(s).find("apps[0].upstreams[0].address"), std::string::npos);
  s.apps[0].upstreams = {{"fd00::5", 0}};
  EXPECT_NE(refusal(s).find("apps[0].upstreams[0].port"), std::string::npos);
  s.apps[0].upstreams = {{"fd00::5", 80}, {"10.0.0.1", 80}};
  EXPECT_EQ(refusal(s), "");
}

TEST(ProxyState, AHostAndPrefixServedByTwoAppsIsRefusedNamingTheFirst) {
  auto s = oneApp();
  s.apps.push_back({"api", {{{"shop.example.com"}, "/", false}}, {}, false});
  EXPECT_NE(refusal(s).find("already served by app 'shop'"), std::string::npos) << refusal(s);
  s.apps[1].routes[0].path_prefix = "/api";  // another prefix of the same host is fine
  EXPECT_EQ(refusal(s), "");
  s.apps[1].app = "shop";
  EXPECT_NE(refusal(s).find("listed twice"), std::string::npos);
}

TEST(ProxyState, CertificateAndChallengePathsAreAbsoluteAndPlain) {
  auto s = oneApp();
  s.certificates["shop.example.com"] = {"/var/lib/berth/certs/shop.pem", "/var/lib/berth/certs/shop.key"};
  s.acme_challenge_dir = "/var/lib/berth/acme";
  EXPECT_EQ(refusal(s), "");
  s.certificates["shop.example.com"].key_path = "/var/lib/berth/../../etc/shadow";
  EXPECT_NE(refusal(s).find("key_path"), std::string::npos);
  s.certificates["shop.example.com"].key_path = "relative.key";
  EXPECT_NE(refusal(s).find("key_path"), std::string::npos);
  s.certificates["shop.example.com"].key_path = "/k";
  s.acme_challenge_dir = "/tmp/x;";
  EXPECT_NE(refusal(s).find("acme_challenge_dir"), std::string::npos);
}

}  // namespace
}  // namespace berth::proxy

namespace berth::proxy {
namespace {

TEST(ProxyState, HoldTimesAreBoundedAndTheHoldServerIsOnLoopback) {
  auto s = oneApp();
  s.apps[0].hold_ms = apps::kMaxHoldMs + 1;
  EXPECT_NE(refusal(s).find("hold_ms"), std::string::npos);
  s.apps[0].hold_ms = 10'000;
  s.hold = {"10.0.0.5", 4000};
  EXPECT_NE(refusal(s).find("hold.address"), std::string::npos);
  s.hold = {"127.0.0.1", 4000};
  EXPECT_EQ(refusal(s), "");
}

}  // namespace
}  // namespace berth::proxy
