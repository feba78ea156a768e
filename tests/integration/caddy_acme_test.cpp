// Caddy's own ACME issuer against a real Pebble (servers started: Pebble and
// pebble-challtestsrv on loopback, berth's Caddy 2.6 on free loopback ports, a
// python3 upstream; no dockerd). Pebble validates http-01 on a port nobody
// listens on and tls-alpn-01 on Caddy's HTTPS port, so a certificate served
// means Caddy answered tls-alpn-01: the challenge "where the proxy offers it"
// (nginx does not; berth's own client does http-01 for it).
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "harness.hpp"
#include "pebble_support.hpp"
#include "proxy/caddy/caddy_proxy.hpp"
#include "proxy_support.hpp"

namespace berth::itest {
namespace {

TEST(CaddyAcme, CaddysIssuerGetsACertificateThroughTlsAlpn01AndServesIt) {
  std::string pattern = "/tmp/berth-caddy-acme-XXXXXX";
  const std::string root = ::mkdtemp(pattern.data());
  const int upstreamPort = freePort();
  std::filesystem::create_directories(root + "/www");
  std::ofstream(root + "/www/index.html") << "shop\n";
  auto upstream = Process::spawn({"/usr/bin/python3", "-m", "http.server", std::to_string(upstreamPort), "--bind",
                                  "127.0.0.1", "--directory", root + "/www"},
                                 root + "/www.log");
  ASSERT_TRUE(eventually([&] { return request(upstreamPort, "x", "/").status == 200; }));

  auto o = loopbackCaddyOptions(root);
  PebbleServer pebble(root + "/pebble", /*http_port=*/freePort(), 0, /*tls_port=*/o.https_port);
  ASSERT_TRUE(pebble.ready()) << pebble.logs();
  o.acme_directory_url = pebble.directoryUrl();
  o.acme_trusted_root = pebble.apiCaFile();
  proxy::caddy::CaddyProxy caddy(o, root + "/caddy");
  ASSERT_TRUE(caddy.detect().ok());
  ASSERT_TRUE(caddy.start().ok());

  proxy::ProxyState s;
  s.apps.push_back({"shop", {{{"shop.example.com"}, "/", false}}, {{"127.0.0.1", static_cast<std::uint16_t>(upstreamPort)}}, false});
  auto applied = caddy.apply(s);
  ASSERT_TRUE(applied.ok()) << applied.error().message;
  const std::string pebbleRoot = pebble.root();
  ASSERT_FALSE(pebbleRoot.empty());
  std::string body;
  EXPECT_TRUE(eventually([&] { return verifiedHttpsGet(o.https_port, "shop.example.com", pebbleRoot, &body) == 200; },
                         std::chrono::seconds(90)))
      << pebble.logs();
  EXPECT_EQ(body, "shop\n");
  // Pebble logs no line per tls-alpn-01 attempt; nobody listens on its http-01 port and Caddy has no
  // DNS provider for dns-01, so a valid authorization was a tls-alpn-01 one.
  EXPECT_NE(pebble.logs().find("set VALID by completed challenge"), std::string::npos) << pebble.logs();
  caddy.stop();
  eventually([&] { return !caddy.running(); }, std::chrono::seconds(10));
  upstream.reset();
  std::filesystem::remove_all(root);
}

}  // namespace
}  // namespace berth::itest
