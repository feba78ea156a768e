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

}  // namespace
}  // namespace berth::proxy::caddy
