#include "proxy/caddy/caddy_render.hpp"

#include <gtest/gtest.h>

namespace berth::proxy::caddy {
namespace {

ProxyState state() {
  ProxyState s;
  s.apps.push_back({"shop", {{{"shop.example.com"}, "/", false}}, {{"172.18.0.5", 3000}}, true});
  s.apps.push_back({"api", {{{"shop.example.com"}, "/api", true}}, {}, false});
  return s;
}

CaddyOptions options() {
  CaddyOptions o;
  o.listen_address = "127.0.0.1";
  o.http_port = 8080;
  o.https_port = 8443;
  o.acme_directory_url = "https://127.0.0.1:14000/dir";
  o.acme_trusted_root = "/etc/berth/pebble-root.pem";
  return o;
}

TEST(CaddyRender, RoutesAreOrderedLongestPrefixFirstAndMatchThePrefixAndBelow) {
  const auto config = renderConfig(state(), options());
  const auto& routes = config["apps"]["http"]["servers"]["berth"]["routes"];
  ASSERT_EQ(routes.size(), 2u);
  EXPECT_EQ(routes[0]["match"][0]["path"], nlohmann::json({"/api", "/api/*"}));
  EXPECT_FALSE(routes[1]["match"][0].contains("path"));
  EXPECT_EQ(routes[1]["match"][0]["host"][0], "shop.example.com");
}

TEST(CaddyRender, StripHstsProxyAnd503AreSubrouteSteps) {
  const auto config = renderConfig(state(), options());
  const auto& routes = config["apps"]["http"]["servers"]["berth"]["routes"];
  const auto& api = routes[0]["handle"][0]["routes"];
  EXPECT_EQ(api[0]["handle"][0]["handler"], "rewrite");
  EXPECT_EQ(api[0]["handle"][0]["strip_path_prefix"], "/api");
  EXPECT_EQ(api[1]["handle"][0]["handler"], "static_response");
  EXPECT_EQ(api[1]["handle"][0]["status_code"], 503);
  EXPECT_EQ(api[1]["handle"][0]["headers"]["Retry-After"][0], "10");
  const auto& shop = routes[1]["handle"][0]["routes"];
  EXPECT_EQ(shop[0]["handle"][0]["handler"], "headers");  // HSTS asked
  EXPECT_EQ(shop[1]["handle"][0]["upstreams"][0]["dial"], "172.18.0.5:3000");
}

TEST(CaddyRender, AcmeIssuerAndBerthsOwnCertificates) {
  auto s = state();
  s.certificates["shop.example.com"] = {"/certs/shop.pem", "/certs/shop.key"};
  const auto config = renderConfig(s, options());
  const auto& issuer = config["apps"]["tls"]["automation"]["policies"][0]["issuers"][0];
  EXPECT_EQ(issuer["module"], "acme");
  EXPECT_EQ(issuer["ca"], "https://127.0.0.1:14000/dir");
  EXPECT_EQ(issuer["trusted_roots_pem_files"][0], "/etc/berth/pebble-root.pem");
  EXPECT_EQ(config["apps"]["tls"]["certificates"]["load_files"][0]["certificate"], "/certs/shop.pem");
  EXPECT_EQ(config["apps"]["http"]["servers"]["berth"]["automatic_https"]["skip_certificates"][0], "shop.example.com");
  EXPECT_EQ(config["apps"]["http"]["servers"]["berth"]["listen"][0], "127.0.0.1:8080");
}

CaddyOptions dynamicOptions() {
  auto o = options();
  o.upstream_resolver = "udp/127.0.0.1:5391";
  return o;
}

TEST(CaddyRender, WithAResolverAnAppsUpstreamsAreLookedUpByNameOnTheirPort) {
  const auto config = renderConfig(state(), dynamicOptions());
  const auto& shop = config["apps"]["http"]["servers"]["berth"]["routes"][1]["handle"][0]["routes"];
  const auto& proxy = shop[1]["handle"][0];
  EXPECT_EQ(proxy["handler"], "reverse_proxy");
  EXPECT_FALSE(proxy.contains("upstreams"));
  EXPECT_EQ(proxy["dynamic_upstreams"], nlohmann::json::parse(R"({"source": "a", "name": "shop.berth.internal",
      "port": "3000", "refresh": "250ms", "resolver": {"addresses": ["udp/127.0.0.1:5391"]}})"));
  EXPECT_EQ(upstreamRecords(state()), (dns::Records{{"shop.berth.internal", {"172.18.0.5"}}}));
}

TEST(CaddyRender, WithAResolverOnlyRoutesChangeTheConfigurationNotUpstreamAddresses) {
  auto moved = state();
  moved.apps[0].upstreams = {{"172.18.0.9", 3000}, {"172.18.0.10", 3000}};
  EXPECT_EQ(renderConfig(moved, dynamicOptions()), renderConfig(state(), dynamicOptions()));
  EXPECT_NE(upstreamRecords(moved), upstreamRecords(state()));
  EXPECT_NE(renderConfig(moved, options()), renderConfig(state(), options()));  // without: every change is a load
  auto rerouted = state();
  rerouted.apps[0].routes[0].hosts.push_back("www.example.com");
  EXPECT_NE(renderConfig(rerouted, dynamicOptions()), renderConfig(state(), dynamicOptions()));
  auto otherPort = state();
  otherPort.apps[0].upstreams[0].port = 8080;  // the port is in the configuration, not in DNS
  EXPECT_NE(renderConfig(otherPort, dynamicOptions()), renderConfig(state(), dynamicOptions()));
}

TEST(CaddyRender, UpstreamsOnSeveralPortsAreOneNamePerPortUnderOneMultiSource) {
  auto s = state();
  s.apps[0].upstreams = {{"172.18.0.5", 3000}, {"172.18.0.6", 3001}, {"fd00::7", 3000}};
  const auto config = renderConfig(s, dynamicOptions());
  const auto& proxy = config["apps"]["http"]["servers"]["berth"]["routes"][1]["handle"][0]["routes"][1]["handle"][0];
  EXPECT_EQ(proxy["dynamic_upstreams"]["source"], "multi");
  const auto& sources = proxy["dynamic_upstreams"]["sources"];
  ASSERT_EQ(sources.size(), 2u);
  EXPECT_EQ(sources[0]["name"], "p3000.shop.berth.internal");
  EXPECT_EQ(sources[0]["port"], "3000");
  EXPECT_EQ(sources[1]["name"], "p3001.shop.berth.internal");
  EXPECT_EQ(upstreamRecords(s), (dns::Records{{"p3000.shop.berth.internal", {"172.18.0.5", "fd00::7"}},
                                              {"p3001.shop.berth.internal", {"172.18.0.6"}}}));
}

TEST(CaddyRender, WithAResolverAnAppWithoutUpstreamsStillAnswers503WithRetryAfter) {
  const auto config = renderConfig(state(), dynamicOptions());
  const auto& api = config["apps"]["http"]["servers"]["berth"]["routes"][0]["handle"][0]["routes"];
  EXPECT_EQ(api[1]["handle"][0]["handler"], "static_response");
  EXPECT_EQ(api[1]["handle"][0]["status_code"], 503);
  EXPECT_EQ(upstreamRecords(state()).count("api.berth.internal"), 0u);
}

TEST(CaddyRender, AHeldAppWithoutUpstreamsGoesToTheHoldServerNamingItself) {
  auto s = state();
  s.hold = {"127.0.0.1", 40123};
  s.apps[1].hold_ms = 10'000;
  const auto config = renderConfig(s, dynamicOptions());
  const auto& api = config["apps"]["http"]["servers"]["berth"]["routes"][0]["handle"][0]["routes"];
  const auto& proxy = api[1]["handle"][0];
  EXPECT_EQ(proxy["handler"], "reverse_proxy");
  EXPECT_EQ(proxy["upstreams"][0]["dial"], "127.0.0.1:40123");
  EXPECT_EQ(proxy["headers"]["request"]["set"]["X-Berth-App"][0], "api");
}

TEST(CaddyRender, AHeldAppWithUpstreamsRetriesRefusedConnectionsForItsHold) {
  auto s = state();
  s.hold = {"127.0.0.1", 40123};
  s.apps[0].hold_ms = 2'500;
  const auto config = renderConfig(s, dynamicOptions());
  const auto& shop = config["apps"]["http"]["servers"]["berth"]["routes"][1]["handle"][0]["routes"];
  const auto& proxy = shop[1]["handle"][0];
  EXPECT_TRUE(proxy.contains("dynamic_upstreams"));
  EXPECT_EQ(proxy["load_balancing"]["try_duration"], "2500ms");
  // Without a hold server nothing is held, whatever the app asks.
  s.hold = {};
  const auto plain = renderConfig(s, dynamicOptions());
  EXPECT_FALSE(plain["apps"]["http"]["servers"]["berth"]["routes"][1]["handle"][0]["routes"][1]["handle"][0].contains(
      "load_balancing"));
}

}  // namespace
}  // namespace berth::proxy::caddy
