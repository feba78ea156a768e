#include "proxy/nginx/nginx_render.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "../temp_dir.hpp"
#include "common/subprocess.hpp"

namespace berth::proxy::nginx {
namespace {

NginxOptions options() {
  NginxOptions o;
  o.listen_address = "127.0.0.1";
  o.http_port = 8080;
  o.https_port = 8443;
  o.config_dir = "/etc/berth/nginx";
  o.runtime_dir = "/run/berth/nginx";
  return o;
}

ProxyState twoAppsOnOneHost() {
  ProxyState s;
  s.apps.push_back({"shop", {{{"shop.example.com"}, "/", false}}, {{"172.18.0.5", 3000}, {"172.18.0.6", 3000}}, true});
  s.apps.push_back({"api", {{{"shop.example.com"}, "/api", true}}, {}, false});
  s.acme_challenge_dir = "/var/lib/berth/acme";
  return s;
}

TEST(NginxRender, OneUpstreamFilePerAppWithUpstreamsAndOneServerFilePerHost) {
  auto files = renderSites(twoAppsOnOneHost(), options());
  ASSERT_EQ(files.size(), 2u);  // api has no upstream yet: no upstream block to refer to
  const auto& upstream = files.at("apps/shop.conf");
  EXPECT_NE(upstream.find("upstream berth_app_shop {"), std::string::npos);
  EXPECT_NE(upstream.find("server 172.18.0.5:3000;"), std::string::npos);
  EXPECT_NE(upstream.find("server 172.18.0.6:3000;"), std::string::npos);
  const auto& host = files.at("hosts/shop.example.com.conf");
  EXPECT_NE(host.find("listen 127.0.0.1:8080;"), std::string::npos) << host;
  EXPECT_NE(host.find("server_name shop.example.com;"), std::string::npos);
  EXPECT_NE(host.find("location ^~ /.well-known/acme-challenge/ {\n        alias /var/lib/berth/acme/;"),
            std::string::npos);
}

TEST(NginxRender, APrefixMatchesItselfAndBelowButNotALongerSegment) {
  const auto host = renderSites(twoAppsOnOneHost(), options()).at("hosts/shop.example.com.conf");
  EXPECT_NE(host.find("location = /api {"), std::string::npos) << host;
  EXPECT_NE(host.find("location ^~ /api/ {"), std::string::npos);
  EXPECT_EQ(host.find("location /api {"), std::string::npos);  // would also take /apix
  // The longer prefix is written first, the order nginx matches in.
  EXPECT_LT(host.find("location = /api"), host.find("location / {"));
}

TEST(NginxRender, AnAppWithoutUpstreamsAnswers503WithRetryAfter) {
  const auto host = renderSites(twoAppsOnOneHost(), options()).at("hosts/shop.example.com.conf");
  const auto api = host.find("location ^~ /api/ {");
  const auto end = host.find('}', api);
  const std::string block = host.substr(api, end - api);
  EXPECT_NE(block.find("add_header Retry-After 10 always;"), std::string::npos) << block;
  EXPECT_NE(block.find("return 503;"), std::string::npos);
  EXPECT_EQ(block.find("proxy_pass"), std::string::npos);
}

TEST(NginxRender, AHeldAppWaitsAtTheHoldServerWithoutUpstreamsAndFallsBackToItWithThem) {
  auto s = twoAppsOnOneHost();
  s.hold = {"127.0.0.1", 40123};
  s.apps[0].hold_ms = 10'000;
  s.apps[1].hold_ms = 10'000;
  const auto files = renderSites(s, options());
  const auto& api = files.at("apps/api.conf");  // no container yet: the hold server alone
  EXPECT_NE(api.find("server 127.0.0.1:40123 max_fails=0;"), std::string::npos) << api;
  EXPECT_NE(api.find("server 127.0.0.1:40123 max_fails=0 backup;"), std::string::npos) << api;
  const auto& shop = files.at("apps/shop.conf");  // containers first, the hold server behind them
  EXPECT_NE(shop.find("server 172.18.0.5:3000;"), std::string::npos);
  EXPECT_NE(shop.find("server 127.0.0.1:40123 max_fails=0 backup;"), std::string::npos) << shop;
  const auto& host = files.at("hosts/shop.example.com.conf");
  EXPECT_EQ(host.find("return 503;"), std::string::npos) << host;
  EXPECT_NE(host.find("proxy_set_header X-Berth-App api;"), std::string::npos);
  EXPECT_NE(host.find("proxy_set_header X-Berth-App shop;"), std::string::npos);
}

TEST(NginxRender, AnAppSwitchedInTheKernelNamesItsStableAddressSoAnUpdateChangesNoFile) {
  auto s = twoAppsOnOneHost();
  s.hold = {"127.0.0.1", 40123};
  s.apps[0].hold_ms = 10'000;
  s.apps[1].hold_ms = 10'000;
  const std::map<std::string, Upstream> switched = {{"shop", {"172.18.0.1", 20001}}, {"api", {"172.18.0.1", 20002}}};
  const auto before = renderSites(s, options(), switched);
  const auto& shop = before.at("apps/shop.conf");
  EXPECT_NE(shop.find("server 172.18.0.1:20001 max_fails=0;\n"), std::string::npos) << shop;
  EXPECT_EQ(shop.find("172.18.0.5"), std::string::npos) << "the containers are the kernel's business";
  EXPECT_NE(shop.find("server 127.0.0.1:40123 max_fails=0 backup;"), std::string::npos) << shop;
  EXPECT_NE(shop.find("keepalive_time 1s;"), std::string::npos) << "pooled connections must not outlive a switch";
  // api has no container yet: its stable address (refused in the kernel) with the hold server behind.
  EXPECT_NE(before.at("apps/api.conf").find("server 172.18.0.1:20002 max_fails=0;\n"), std::string::npos);

  auto updated = s;  // new containers, one more replica, then none at all: the same files each time
  updated.apps[0].upstreams = {{"172.18.0.9", 3000}, {"172.18.0.10", 3000}, {"172.18.0.11", 3000}};
  EXPECT_EQ(renderSites(updated, options(), switched), before);
  updated.apps[0].upstreams.clear();
  EXPECT_EQ(renderSites(updated, options(), switched), before);
  // Without the kernel, the same update is a new file (and a reload).
  EXPECT_NE(renderSites(updated, options()).at("apps/shop.conf"), renderSites(s, options()).at("apps/shop.conf"));
}

TEST(NginxRender, AStoppedAppIsNotHeldEvenWithAHoldServer) {
  auto s = twoAppsOnOneHost();
  s.hold = {"127.0.0.1", 40123};  // api's hold_ms is 0: stopped
  const auto files = renderSites(s, options());
  EXPECT_EQ(files.count("apps/api.conf"), 0u);
  EXPECT_EQ(files.at("apps/shop.conf").find("40123"), std::string::npos);
  EXPECT_NE(files.at("hosts/shop.example.com.conf").find("return 503;"), std::string::npos);
}

TEST(NginxRender, StripPrefixIsAProxyPassWithAUriAndWebSocketsAreUpgraded) {
  auto s = twoAppsOnOneHost();
  s.apps[1].upstreams = {{"172.18.0.9", 8000}};
  const auto host = renderSites(s, options()).at("hosts/shop.example.com.conf");
  EXPECT_NE(host.find("proxy_pass http://berth_app_api/;"), std::string::npos) << host;  // stripped
  EXPECT_NE(host.find("proxy_pass http://berth_app_shop;"), std::string::npos);          // not stripped
  EXPECT_NE(host.find("proxy_set_header Upgrade $http_upgrade;"), std::string::npos);
  EXPECT_NE(host.find("proxy_set_header Connection $berth_connection_upgrade;"), std::string::npos);
}

TEST(NginxRender, AHostWithACertificateRedirectsPlainHttpAndServesTls) {
  auto s = twoAppsOnOneHost();
  s.certificates["shop.example.com"] = {"/var/lib/berth/certs/shop.pem", "/var/lib/berth/certs/shop.key"};
  const auto host = renderSites(s, options()).at("hosts/shop.example.com.conf");
  const auto tls = host.find("listen 127.0.0.1:8443 ssl http2;");
  ASSERT_NE(tls, std::string::npos) << host;
  const std::string plain = host.substr(0, tls), secure = host.substr(tls);
  EXPECT_NE(plain.find("return 308 https://$host:8443$request_uri;"), std::string::npos);  // not 443: said
  EXPECT_NE(plain.find("acme-challenge"), std::string::npos);  // challenges stay on port 80
  EXPECT_EQ(plain.find("proxy_pass"), std::string::npos);
  EXPECT_NE(secure.find("ssl_certificate /var/lib/berth/certs/shop.pem;"), std::string::npos);
  EXPECT_NE(secure.find("proxy_pass http://berth_app_shop;"), std::string::npos);
  // HSTS only for the app that asked, and only on HTTPS.
  EXPECT_NE(secure.find("Strict-Transport-Security"), std::string::npos);
  EXPECT_EQ(plain.find("Strict-Transport-Security"), std::string::npos);
}

TEST(NginxRender, WildcardHostsGetAFileNameWithoutAGlob) {
  ProxyState s;
  s.apps.push_back({"tenant", {{{"*.apps.example.com"}, "/", false}}, {{"10.0.0.2", 80}}, false});
  auto files = renderSites(s, options());
  EXPECT_EQ(files.count("hosts/_wildcard.apps.example.com.conf"), 1u);
  EXPECT_NE(files.at("hosts/_wildcard.apps.example.com.conf").find("server_name *.apps.example.com;"),
            std::string::npos);
}

TEST(NginxRender, TheMainFileIncludesBerthsDirectoriesAndBoundsOldWorkers) {
  auto o = options();
  o.worker_shutdown_timeout_s = 120;
  const auto main = renderMain(o, "/etc/berth/nginx");
  EXPECT_NE(main.find("include /etc/berth/nginx/apps/*.conf;"), std::string::npos) << main;
  EXPECT_NE(main.find("include /etc/berth/nginx/hosts/*.conf;"), std::string::npos);
  EXPECT_NE(main.find("worker_shutdown_timeout 120s;"), std::string::npos);
  EXPECT_NE(main.find("pid /run/berth/nginx/nginx.pid;"), std::string::npos);
  EXPECT_NE(main.find("listen 127.0.0.1:8080 default_server;"), std::string::npos);
}

// The longest host name a domain may have (253 characters) and a node with thousands of hosts:
// nginx itself (when installed) must accept the files, or every change on the node is refused.
TEST(NginxRender, NginxAcceptsTheLongestHostNamesAndThousandsOfHosts) {
  if (::access("/usr/sbin/nginx", X_OK) != 0) GTEST_SKIP() << "nginx is not installed";
  berth::testing::TempDir dir;
  auto o = options();
  o.config_dir = dir.path() + "/conf";
  o.runtime_dir = dir.path() + "/run";
  std::filesystem::create_directories(o.runtime_dir);
  const std::string label(63, 'a');
  ProxyState state;
  AppRoutes app{"shop", {{{label + "." + label + "." + label + "." + std::string(61, 'b')}, "/", false}},
                {{"172.18.0.5", 3000}}, false};
  for (int i = 0; i < 3000; ++i) app.routes[0].hosts.push_back("host" + std::to_string(i) + "." + label + ".example.com");
  state.apps.push_back(app);
  ASSERT_EQ(app.routes[0].hosts[0].size(), 253u);
  const std::string sites = o.config_dir + "/sites";
  for (const auto& sub : {"/apps", "/hosts"}) std::filesystem::create_directories(sites + sub);
  for (const auto& [name, text] : renderSites(state, o)) std::ofstream(sites + "/" + name) << text;
  std::ofstream(sites + "/generation.conf") << renderGeneration("sites");
  std::ofstream(o.config_dir + "/nginx.conf") << renderMain(o, sites);
  auto checked = runProcess({"/usr/sbin/nginx", "-t", "-q", "-c", o.config_dir + "/nginx.conf"}, 60'000);
  ASSERT_TRUE(checked.ok()) << checked.error().message;
  EXPECT_EQ(checked->exit_code, 0) << checked->output;
  EXPECT_EQ(checked->output.find("[warn]"), std::string::npos) << checked->output;
}

}  // namespace
}  // namespace berth::proxy::nginx
