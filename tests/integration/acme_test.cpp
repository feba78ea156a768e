// Servers started: a real Pebble (the Debian package's ACME test CA, on a TLS
// certificate the test makes), pebble-challtestsrv as its DNS (every name is
// 127.0.0.1; its other listeners off), a real nginx (berth's own master through
// proxy::nginx::NginxProxy) serving the http-01 challenge directory on the port
// Pebble validates, and a python3 http.server as the app. All on 127.0.0.1,
// free ports only; no dockerd, no berth server or agent.
#include <gtest/gtest.h>
#include <openssl/x509_vfy.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <filesystem>
#include <fstream>

#include "acme/acme_client.hpp"
#include "acme/certificate_manager.hpp"
#include "acme/certificates.hpp"
#include "common/clock.hpp"
#include "harness.hpp"
#include "net/http_client.hpp"
#include "net/tls.hpp"
#include "pki/authority.hpp"
#include "pki/keys.hpp"
#include "pki/ossl.hpp"
#include "pki/sealed_file.hpp"
#include "proxy/nginx/nginx_proxy.hpp"
#include "pebble_support.hpp"
#include "proxy_support.hpp"

namespace berth::itest {
namespace {

// Certificate file maps compared path by path (CertificateFiles has no operator==).
std::map<std::string, std::string> acmePaths(const std::map<std::string, proxy::CertificateFiles>& files) {
  std::map<std::string, std::string> out;
  for (const auto& [host, f] : files) out[host] = f.certificate_path + "|" + f.key_path;
  return out;
}

constexpr const char* kAcmeHost = "web.example.com";
constexpr int kAcmeValiditySeconds = 3000;  // Pebble's certificateValidityPeriod: renewal due after 2000 s

class AcmeAgainstPebble : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = "/tmp/berth-acme-XXXXXX";
    root_ = ::mkdtemp(pattern.data());
    ::chmod(root_.c_str(), 0755);  // nginx's workers (not root) read the challenge directory under it
    std::filesystem::create_directories(root_ + "/www");
    std::ofstream(root_ + "/www/index.html") << "app\n";
    std::filesystem::create_directories(root_ + "/state");  // the agent's state directory
    served_challenges_ = root_ + "/challenges";
    std::filesystem::create_directories(served_challenges_);

    upstream_port_ = freePort();
    upstream_ = Process::spawn({"/usr/bin/python3", "-m", "http.server", std::to_string(upstream_port_), "--bind",
                                "127.0.0.1", "--directory", root_ + "/www"},
                               root_ + "/upstream.log");
    ASSERT_TRUE(eventually([&] { return request(upstream_port_, "x", "/").status == 200; }));

    nginx_options_.listen_address = "127.0.0.1";
    nginx_options_.http_port = freePort();
    nginx_options_.https_port = freePort();
    nginx_options_.config_dir = root_ + "/nginx";
    nginx_options_.runtime_dir = root_ + "/run";
    nginx_ = std::make_unique<proxy::nginx::NginxProxy>(nginx_options_);
    ASSERT_TRUE(nginx_->detect().ok()) << "nginx is not installed (scripts/setup.sh installs it)";
    auto started = nginx_->start();
    ASSERT_TRUE(started.ok()) << started.error().message;
    ASSERT_TRUE(applyState({}).ok());

    pebble_ = std::make_unique<PebbleServer>(root_ + "/pebble", nginx_options_.http_port, kAcmeValiditySeconds);
    ASSERT_TRUE(pebble_->ready()) << pebble_->lastGetError() << "\n" << pebble_->logs();
  }

  void TearDown() override {
    if (nginx_) nginx_->stop();
    eventually([&] { return !nginx_ || nginx_->masterPid() == 0; }, std::chrono::seconds(10));
    pebble_.reset();
    upstream_.reset();
    std::filesystem::remove_all(root_);
  }

  // A client and manager over the node's state directory, as the agent would build them after a start.
  void startNode(const std::string& challenge_dir, Clock clock = systemNowMs) {
    acme::AcmeSettings settings;
    settings.directory_url = pebble_->directoryUrl();
    settings.ca_file = pebble_->apiCaFile();
    settings.account_dir = root_ + "/state/acme/account";
    settings.challenge_dir = challenge_dir;
    settings.poll_interval = std::chrono::milliseconds(100);
    settings.validation_deadline = std::chrono::seconds(30);
    auto client = acme::AcmeClient::create(settings);
    ASSERT_TRUE(client.ok()) << client.error().message;
    client_ = std::move(client.value());
    manager_ = std::make_unique<acme::CertificateManager>(root_ + "/state", *client_, std::move(clock));
  }

  Result<void> applyState(const std::map<std::string, proxy::CertificateFiles>& certificates) {
    proxy::ProxyState state;
    state.apps.push_back(proxy::AppRoutes{
        "web", {{{kAcmeHost}, "/", false}}, {{"127.0.0.1", static_cast<std::uint16_t>(upstream_port_)}}, false});
    state.certificates = certificates;
    state.acme_challenge_dir = served_challenges_;
    return nginx_->apply(state);
  }

  std::string pebbleRoot() { return pebble_->root(); }

  // The leaf the files hold verifies through their chain up to `root_pem`.
  static bool chainVerifies(const std::string& chain_pem, const std::string& root_pem) {
    std::vector<pki::X509Ptr> chain;
    auto bio = pki::memBio(chain_pem);
    while (X509* c = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) chain.emplace_back(c);
    auto root = pki::loadCertificate(root_pem);
    if (chain.empty() || !root) return false;
    X509_STORE* store = X509_STORE_new();
    X509_STORE_add_cert(store, root->get());
    STACK_OF(X509)* untrusted = sk_X509_new_null();
    for (std::size_t i = 1; i < chain.size(); ++i) sk_X509_push(untrusted, chain[i].get());
    X509_STORE_CTX* ctx = X509_STORE_CTX_new();
    X509_STORE_CTX_init(ctx, store, chain[0].get(), untrusted);
    const bool ok = X509_verify_cert(ctx) == 1;
    X509_STORE_CTX_free(ctx);
    sk_X509_free(untrusted);
    X509_STORE_free(store);
    return ok;
  }

  std::string root_, served_challenges_;
  int upstream_port_ = 0;
  std::unique_ptr<Process> upstream_;
  std::unique_ptr<PebbleServer> pebble_;
  proxy::nginx::NginxOptions nginx_options_;
  std::unique_ptr<proxy::nginx::NginxProxy> nginx_;
  std::unique_ptr<acme::AcmeClient> client_;
  std::unique_ptr<acme::CertificateManager> manager_;
};

TEST_F(AcmeAgainstPebble, IssuesACertificateThatNginxServesAndHttpRedirectsThere) {
  startNode(served_challenges_);
  auto files = manager_->ensure({kAcmeHost});
  ASSERT_EQ(files.size(), 1u) << manager_->status(kAcmeHost)->last_error << "\n" << pebble_->logs();
  EXPECT_EQ(client_->ordersPlaced(), 1u);
  EXPECT_TRUE(std::filesystem::is_empty(served_challenges_));  // token files removed afterwards
  const auto status = manager_->status(kAcmeHost);
  EXPECT_EQ(status->state, "valid");
  EXPECT_EQ(status->source, "acme");
  EXPECT_NE(status->issuer.find("Pebble"), std::string::npos) << status->issuer;
  EXPECT_EQ(status->not_after - status->not_before, (kAcmeValiditySeconds - 1) * 1000);

  ASSERT_TRUE(applyState(files).ok());
  const std::string root = pebbleRoot();
  ASSERT_NE(root.find("BEGIN CERTIFICATE"), std::string::npos);
  auto chain = pki::readFile(files[kAcmeHost].certificate_path);
  ASSERT_TRUE(chain.ok());
  EXPECT_TRUE(chainVerifies(*chain, root));
  EXPECT_FALSE(chainVerifies(*chain, *pki::readFile(pebble_->apiCaFile())));
  EXPECT_EQ(verifiedHttpsGet(nginx_options_.https_port, kAcmeHost, root), 200);
  EXPECT_EQ(verifiedHttpsGet(nginx_options_.https_port, kAcmeHost, *pki::readFile(pebble_->apiCaFile())), 0);  // really verified

  const auto plain = request(nginx_options_.http_port, kAcmeHost, "/page?q=1");
  EXPECT_EQ(plain.status, 308);
  EXPECT_EQ(plain.location,
            std::string("https://") + kAcmeHost + ":" + std::to_string(nginx_options_.https_port) + "/page?q=1");
}

TEST_F(AcmeAgainstPebble, ARestartServesTheStoredCertificateWithoutANewOrder) {
  startNode(served_challenges_);
  auto files = manager_->ensure({kAcmeHost});
  ASSERT_EQ(files.size(), 1u) << manager_->status(kAcmeHost)->last_error;
  const auto first = pki::readFile(files[kAcmeHost].certificate_path).value();
  const std::string account = pki::readFile(root_ + "/state/acme/account/account.key").value();

  startNode(served_challenges_);  // a new process over the same state directory
  auto again = manager_->ensure({kAcmeHost});
  EXPECT_EQ(acmePaths(again), acmePaths(files));
  EXPECT_EQ(client_->ordersPlaced(), 0u);
  EXPECT_EQ(pki::readFile(files[kAcmeHost].certificate_path).value(), first);
  EXPECT_EQ(pki::readFile(root_ + "/state/acme/account/account.key").value(), account);  // account key kept
  struct stat st {};
  ASSERT_EQ(::stat((root_ + "/state/acme/account/account.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_TRUE(applyState(again).ok());
  EXPECT_EQ(verifiedHttpsGet(nginx_options_.https_port, kAcmeHost, pebbleRoot()), 200);
}

TEST_F(AcmeAgainstPebble, AShortLivedCertificateIsRenewedWhenAThirdOfItsLifeIsLeft) {
  std::int64_t skew_ms = 0;
  startNode(served_challenges_, [&skew_ms] { return systemNowMs() + skew_ms; });
  ASSERT_EQ(manager_->ensure({kAcmeHost}).size(), 1u) << manager_->status(kAcmeHost)->last_error;
  const auto first = *manager_->status(kAcmeHost);
  manager_->renewDue();
  EXPECT_EQ(client_->ordersPlaced(), 1u);  // most of its life left
  // Pebble's clock is real: skew ours to where less than a third of the 3000 s is left.
  skew_ms = (first.not_after - systemNowMs()) - (kAcmeValiditySeconds * 1000 / 3) + 60'000;
  auto renewed = manager_->renewDue();
  ASSERT_EQ(renewed.size(), 1u);
  EXPECT_EQ(client_->ordersPlaced(), 2u);
  const auto second = *manager_->status(kAcmeHost);
  EXPECT_EQ(second.state, "valid");
  EXPECT_GE(second.not_after, first.not_after);
  EXPECT_TRUE(chainVerifies(pki::readFile(renewed[kAcmeHost].certificate_path).value(), pebbleRoot()));
}

TEST_F(AcmeAgainstPebble, AFailingValidationBacksOffAndShowsWhy) {
  startNode(root_ + "/not-served");  // tokens written where nginx does not look: Pebble gets 404
  EXPECT_TRUE(manager_->ensure({kAcmeHost}).empty());
  const auto status = manager_->status(kAcmeHost);
  EXPECT_EQ(status->state, "failed");
  EXPECT_EQ(status->failures, 1);
  EXPECT_NE(status->last_error.find("http-01 validation"), std::string::npos) << status->last_error;
  EXPECT_NE(status->last_error.find("unauthorized"), std::string::npos) << status->last_error;
  EXPECT_GT(status->next_try, systemNowMs());
  EXPECT_LE(status->next_try, systemNowMs() + acme::kBackoffFirstMs);
  EXPECT_TRUE(manager_->ensure({kAcmeHost}).empty());
  EXPECT_EQ(client_->ordersPlaced(), 1u);  // backing off: no second order
  EXPECT_EQ(request(nginx_options_.http_port, kAcmeHost, "/").status, 200);  // still served on HTTP
}

TEST_F(AcmeAgainstPebble, AnUploadedCertificateIsServedAndAMismatchingKeyRefused) {
  startNode(served_challenges_);
  auto ca = pki::CertificateAuthority::createNew("Uploaded CA", systemNowMs() - kHourMs, 30 * kDayMs);
  const std::string key = pki::generatePrivateKeyPem();
  auto cert = ca.issueServerCertificate(key, {kAcmeHost}, systemNowMs() - kHourMs, 10 * kDayMs);
  ASSERT_TRUE(cert.ok());
  auto refused = manager_->upload(kAcmeHost, cert->cert_pem + ca.certPem(), pki::generatePrivateKeyPem());
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().message, "key: must match the certificate's public key");
  auto stored = manager_->upload(kAcmeHost, cert->cert_pem + ca.certPem(), key);
  ASSERT_TRUE(stored.ok()) << stored.error().message;
  auto files = manager_->ensure({kAcmeHost});
  EXPECT_EQ(client_->ordersPlaced(), 0u);
  EXPECT_EQ(manager_->status(kAcmeHost)->state, "uploaded");
  ASSERT_TRUE(applyState(files).ok());
  EXPECT_EQ(verifiedHttpsGet(nginx_options_.https_port, kAcmeHost, ca.certPem()), 200);
}

}  // namespace
}  // namespace berth::itest
