// Traefik is not packaged for these machines: its adapter is checked on the
// generated dynamic configuration only (structure and values).
#include "proxy/traefik/traefik_render.hpp"

#include <gtest/gtest.h>

namespace berth::proxy::traefik {
namespace {

ProxyState state() {
  ProxyState s;
  s.apps.push_back({"shop", {{{"shop.example.com"}, "/", false}}, {{"172.18.0.5", 3000}}, true});
  s.apps.push_back({"api", {{{"shop.example.com"}, "/api", true}}, {}, false});
  s.certificates["shop.example.com"] = {"/certs/shop.pem", "/certs/shop.key"};
  return s;
}

TEST(TraefikRender, ServicesListTheUpstreamsAndAnEmptyOneAnswersWithRetryAfter) {
  const auto out = renderDynamic(state(), {});
  EXPECT_EQ(out["http"]["services"]["berth-shop"]["loadBalancer"]["servers"][0]["url"], "http://172.18.0.5:3000");
  EXPECT_TRUE(out["http"]["services"]["berth-api"]["loadBalancer"]["servers"].empty());
  EXPECT_EQ(out["http"]["middlewares"]["berth-api-retry-after"]["headers"]["customResponseHeaders"]["Retry-After"], "10");
}

TEST(TraefikRender, PrefixRulesDoNotMatchALongerSegmentAndStripWhenAsked) {
  const auto out = renderDynamic(state(), {});
  const auto& secure = out["http"]["routers"]["berth-api-0-0-https"];
  EXPECT_EQ(secure["rule"], "Host(`shop.example.com`) && (Path(`/api`) || PathPrefix(`/api/`))");
  EXPECT_EQ(out["http"]["middlewares"]["berth-api-0-strip"]["stripPrefix"]["prefixes"][0], "/api");
  EXPECT_NE(std::find(secure["middlewares"].begin(), secure["middlewares"].end(), "berth-api-0-strip"),
            secure["middlewares"].end());
  // The longer prefix outranks "/" on the same host.
  EXPECT_GT(secure["priority"].get<int>(), out["http"]["routers"]["berth-shop-0-0-https"]["priority"].get<int>());
}

TEST(TraefikRender, HostsWithCertificatesRedirectAndServeTls) {
  const auto out = renderDynamic(state(), {});
  const auto& plain = out["http"]["routers"]["berth-shop-0-0"];
  EXPECT_EQ(plain["entryPoints"][0], "web");
  EXPECT_EQ(plain["middlewares"][0], "berth-redirect-https");
  const auto& secure = out["http"]["routers"]["berth-shop-0-0-https"];
  EXPECT_EQ(secure["entryPoints"][0], "websecure");
  EXPECT_TRUE(secure.contains("tls"));
  EXPECT_EQ(out["http"]["middlewares"]["berth-shop-hsts"]["headers"]["stsSeconds"], 31536000);
  EXPECT_EQ(out["tls"]["certificates"][0]["certFile"], "/certs/shop.pem");
}

TEST(TraefikRender, WithoutACertificateTheRouteIsServedOnPlainHttp) {
  auto s = state();
  s.certificates.clear();
  const auto out = renderDynamic(s, {});
  EXPECT_FALSE(out["http"]["routers"].contains("berth-shop-0-0-https"));
  EXPECT_EQ(out["http"]["routers"]["berth-shop-0-0"]["service"], "berth-shop");
  EXPECT_FALSE(out.contains("tls"));
}

}  // namespace
}  // namespace berth::proxy::traefik
