// HTTPS for routed apps end to end: berth's ACME client in the agent gets a
// certificate from a real Pebble for a custom domain, the agent's nginx
// serves it, HTTP redirects, `app show` and /metrics report it, and an agent
// restart reuses it. Servers started: berth server, one berth agent
// (proxy=nginx on free loopback ports, tls=acme against Pebble), a private
// dockerd (DockerDaemon), Pebble with pebble-challtestsrv as its DNS (every
// name is 127.0.0.1). Nothing leaves 127.0.0.1 or the test daemon's bridge.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <thread>

#include "common/clock.hpp"
#include "common/result.hpp"

#include "harness.hpp"
#include "pebble_support.hpp"
#include "pki/authority.hpp"
#include "pki/keys.hpp"
#include "pki/sealed_file.hpp"
#include "proxy_support.hpp"

namespace berth::itest {
namespace {

class HttpsRoutesTest : public ::testing::Test {
 protected:
  std::unique_ptr<DockerDaemon> daemon;
  std::unique_ptr<PebbleServer> pebble;
  Cluster cluster;
  std::string nodeId, challenges;
  int httpPort = 0, httpsPort = 0;

  void SetUp() override {
    daemon = std::make_unique<DockerDaemon>();
    ASSERT_TRUE(daemon->ready());
    ASSERT_FALSE(daemon->importBusybox("berth-test/web", "1", {{"/www/index.html", "secure one\n"}}).empty());
    httpPort = freePort();
    httpsPort = freePort();
    pebble = std::make_unique<PebbleServer>(cluster.root() + "/pebble", httpPort);
    ASSERT_TRUE(pebble->ready()) << pebble->lastGetError() << pebble->logs();
    // nginx's workers (not root) read the token files: a directory they can reach.
    challenges = cluster.root() + "/challenges";
    std::filesystem::create_directories(challenges);
    ::chmod(cluster.root().c_str(), 0755);
    // Telemetry (which carries the node's certificate status to `app show`) every second, not every 30 s.
    cluster.startServer({"--base-domain", "apps.test", "--telemetry-interval-s", "1"});
    startAgent();
  }
  void startAgent() {
    nodeId = cluster.startOnlineAgent(
        "a", {"--docker-socket", daemon->socket, "--proxy", "nginx", "--proxy-listen-address", "127.0.0.1",
              "--proxy-http-port", std::to_string(httpPort), "--proxy-https-port", std::to_string(httpsPort),
              "--tls", "acme", "--acme-directory-url", pebble->directoryUrl(), "--acme-ca-file", pebble->apiCaFile(),
              "--acme-challenge-dir", challenges, "--reconcile-interval-s", "2"});
    ASSERT_FALSE(nodeId.empty());
  }
  void stopAgent() {
    cluster.agent("a").signal(SIGTERM);
    cluster.agent("a").wait(std::chrono::seconds(20));
  }
  void TearDown() override {
    try {
      stopAgent();
    } catch (const std::logic_error&) {
    }
    std::ifstream in(cluster.agentDir("a") + "/proxy/nginx/run/nginx.pid");
    int pid = 0;
    if (in >> pid && pid > 0) ::kill(pid, SIGQUIT);
    daemon.reset();
  }
};

TEST_F(HttpsRoutesTest, ACustomDomainGetsACertificateFromTheCaThatIsServedReportedAndKeptAcrossRestarts) {
  ASSERT_EQ(cluster.cli({"app", "create", "web", "--node", nodeId}).first, 0);
  auto [code, out] = cluster.cli({"app", "deploy", "web", "--image", "berth-test/web:1", "--port", "8080",
                                  "--health", "http:/", "--health-interval", "300ms", "--health-timeout", "300ms", "--hsts", "--arg",
                                  "/bin/busybox", "--arg", "httpd", "--arg", "-f", "--arg", "-p", "--arg", "8080",
                                  "--arg", "-h", "--arg", "/www"});
  ASSERT_EQ(code, 0) << out << cluster.agent("a").log();
  ASSERT_EQ(cluster.cli({"app", "domain", "add", "web", "shop.example.com"}).first, 0);

  const std::string root = pebble->root();
  ASSERT_FALSE(root.empty());
  std::string body;
  ASSERT_TRUE(eventually([&] { return verifiedHttpsGet(httpsPort, "shop.example.com", root, &body) == 200; },
                         std::chrono::seconds(60)))
      << cluster.agent("a").log() << pebble->logs();
  EXPECT_EQ(body, "secure one\n");
  EXPECT_EQ(request(httpsPort, "shop.example.com", "/", true).strict_transport_security, "max-age=31536000")
      << "deployed with --hsts";
  // HTTP on that host redirects; the generated name under a special-use domain stays on HTTP. (The
  // HTTPS answer above may come from the new workers while the old ones still take connections: the
  // agent's reload finishes when they stop, so the redirect is awaited too.)
  ProxyAnswer redirect;
  EXPECT_TRUE(eventually([&] { return (redirect = request(httpPort, "shop.example.com", "/a?b=1")).status == 308; }))
      << redirect.status << " " << redirect.body;
  EXPECT_EQ(redirect.location, "https://shop.example.com:" + std::to_string(httpsPort) + "/a?b=1");
  EXPECT_EQ(redirect.strict_transport_security, "") << "HSTS is for HTTPS answers only";
  EXPECT_EQ(request(httpPort, "web.apps.test", "/").status, 200);

  // The status reaches `app show` (through the node's telemetry) and /metrics.
  nlohmann::json certificate;
  ASSERT_TRUE(eventually([&] {
    auto shown = cluster.api("GET", "/api/v1/apps/web").body;
    certificate = shown["routes"].is_object() ? shown["routes"]["certificates"].value("shop.example.com", nlohmann::json())
                                              : nlohmann::json();
    return certificate.is_object() && certificate.value("state", "") == "valid";
  }, std::chrono::seconds(30)));
  EXPECT_GT(certificate.value("not_after", std::int64_t{0}), systemNowMs());
  EXPECT_FALSE(certificate.value("issuer", "").empty());
  const auto metrics = cluster.api("GET", "/metrics").body.get<std::string>();
  // {host="shop.example.com",node="<node id>"} <seconds>
  const auto series = metrics.find("berth_certificate_expiry_timestamp_seconds{host=\"shop.example.com\",node=\"");
  ASSERT_NE(series, std::string::npos) << metrics;
  EXPECT_EQ(metrics.substr(series, metrics.find('\n', series) - series).substr(metrics.find("\"} ", series) - series + 3),
            std::to_string(certificate.value("not_after", std::int64_t{0}) / 1000))
      << metrics;

  // A restarted agent serves the stored certificate: same file, no new order.
  const std::string certFile = cluster.agentDir("a") + "/acme/certs/shop.example.com/cert.pem";
  const auto before = pki::readFile(certFile);
  ASSERT_TRUE(before.ok());
  stopAgent();
  startAgent();
  EXPECT_EQ(verifiedHttpsGet(httpsPort, "shop.example.com", root), 200);
  std::this_thread::sleep_for(std::chrono::seconds(3));  // a reconcile pass and a certificate refresh
  EXPECT_EQ(*pki::readFile(certFile), *before) << "a restart must not order a new certificate";
}

}  // namespace
}  // namespace berth::itest

namespace berth::itest {
namespace {

TEST_F(HttpsRoutesTest, AnUploadedCertificateIsCheckedSealedSentAndServedInsteadOfAcme) {
  ASSERT_EQ(cluster.cli({"app", "create", "web", "--node", nodeId}).first, 0);
  ASSERT_EQ(cluster.cli({"app", "deploy", "web", "--image", "berth-test/web:1", "--port", "8080", "--health", "http:/",
                         "--health-interval", "300ms", "--health-timeout", "300ms", "--arg", "/bin/busybox", "--arg",
                         "httpd", "--arg", "-f", "--arg", "-p", "--arg", "8080", "--arg", "-h", "--arg", "/www"})
                .first,
            0);
  // A name no public CA issues for: only an upload gives it HTTPS.
  ASSERT_EQ(cluster.cli({"app", "domain", "add", "web", "intranet.corp.test"}).first, 0);
  auto ca = pki::CertificateAuthority::createNew("corp test CA", systemNowMs() - kHourMs, 30 * kDayMs);
  const std::string key = pki::generatePrivateKeyPem();
  auto leaf = ca.issueServerCertificate(key, {"intranet.corp.test"}, systemNowMs() - kHourMs, 10 * kDayMs);
  ASSERT_TRUE(leaf.ok());

  // Refused, naming the rule, and nothing changes: a key that is not the certificate's.
  auto wrong = cluster.apiResult("PUT", "/api/v1/apps/web/domains/intranet.corp.test/certificate",
                                 {{"certificate", leaf->cert_pem}, {"key", pki::generatePrivateKeyPem()}});
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.error().code, "invalid_argument");
  EXPECT_NE(wrong.error().message.find("field 'certificate'"), std::string::npos) << wrong.error().message;
  auto elsewhere = cluster.apiResult("PUT", "/api/v1/apps/web/domains/other.corp.test/certificate",
                                     {{"certificate", leaf->cert_pem}, {"key", key}});
  ASSERT_FALSE(elsewhere.ok()) << "a domain the app does not hold";
  EXPECT_EQ(elsewhere.error().code, "not_found");

  auto stored = cluster.api("PUT", "/api/v1/apps/web/domains/intranet.corp.test/certificate",
                            {{"certificate", leaf->cert_pem}, {"key", key}});
  ASSERT_EQ(stored.status, 200) << stored.body.dump();
  EXPECT_TRUE(eventually([&] { return verifiedHttpsGet(httpsPort, "intranet.corp.test", ca.certPem()) == 200; },
                         std::chrono::seconds(30)))
      << cluster.agent("a").log();
  // The key is sealed at rest on the server: not in its database file in the clear.
  std::string database;
  for (const char* file : {"/berth.db", "/berth.db-wal"}) {
    if (auto bytes = pki::readFile(cluster.serverDir() + file)) database += *bytes;
  }
  ASSERT_FALSE(database.empty());
  const std::string keyBody = key.substr(key.find('\n') + 1, 40);
  EXPECT_EQ(database.find(keyBody), std::string::npos) << "the private key must not be stored in the clear";
  nlohmann::json certificate;
  EXPECT_TRUE(eventually([&] {
    auto shown = cluster.api("GET", "/api/v1/apps/web").body;
    certificate = shown["routes"].is_object()
                      ? shown["routes"]["certificates"].value("intranet.corp.test", nlohmann::json())
                      : nlohmann::json();
    return certificate.is_object() && certificate.value("source", "") == "uploaded";
  }, std::chrono::seconds(30))) << certificate.dump();
}

}  // namespace
}  // namespace berth::itest
