#include "acme/certificate_manager.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "acme/certificates.hpp"
#include "pki/authority.hpp"
#include "pki/keys.hpp"
#include "pki/sealed_file.hpp"
#include "../file_size_limit.hpp"
#include "../temp_dir.hpp"

namespace berth::acme {
namespace {

// Certificate file maps compared path by path (CertificateFiles has no operator==).
std::map<std::string, std::string> managerPaths(const std::map<std::string, proxy::CertificateFiles>& files) {
  std::map<std::string, std::string> out;
  for (const auto& [host, f] : files) out[host] = f.certificate_path + "|" + f.key_path;
  return out;
}

constexpr UnixMs kManagerStart = 1'700'000'000'000;
constexpr std::int64_t kManagerLifetime = 90 * kDayMs;

// A CA in the test's hands: issues for the time the test's clock says, or fails when told to.
class ScriptedIssuer : public CertificateIssuer {
 public:
  explicit ScriptedIssuer(const UnixMs& now)
      : now_(now), ca_(pki::CertificateAuthority::createNew("Scripted CA", now - kDayMs, 3650 * kDayMs)) {}
  Result<IssuedCertificate> issue(const std::vector<std::string>& hosts) override {
    ++orders_;
    if (!fail_with.empty()) return makeError("acme_failed", fail_with);
    const std::string key = pki::generatePrivateKeyPem();
    auto cert = ca_.issueServerCertificate(key, hosts, now_, kManagerLifetime);
    if (!cert) return cert.error();
    return IssuedCertificate{cert->cert_pem + ca_.certPem(), key};
  }
  std::uint64_t ordersPlaced() const override { return orders_; }
  const pki::CertificateAuthority& ca() const { return ca_; }
  std::string fail_with;

 private:
  const UnixMs& now_;
  pki::CertificateAuthority ca_;
  std::uint64_t orders_ = 0;
};

class ManagerTest : public ::testing::Test {
 protected:
  std::unique_ptr<CertificateManager> manager() {
    return std::make_unique<CertificateManager>(dir_.path(), issuer_, [this] { return now_; });
  }
  berth::testing::TempDir dir_;
  UnixMs now_ = kManagerStart;
  ScriptedIssuer issuer_{now_};
};

TEST_F(ManagerTest, IssuesOnceStoresPrivatelyAndReusesAcrossARestart) {
  auto files = manager()->ensure({"web.example.com"});
  ASSERT_EQ(files.size(), 1u);
  EXPECT_EQ(files["web.example.com"].certificate_path, dir_.path() + "/acme/certs/web.example.com/cert.pem");
  EXPECT_EQ(files["web.example.com"].key_path, dir_.path() + "/acme/certs/web.example.com/key.pem");
  struct stat st {};
  ASSERT_EQ(::stat(files["web.example.com"].key_path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(issuer_.ordersPlaced(), 1u);

  now_ += 50 * kDayMs;  // 40 of 90 days left: not due
  auto restarted = manager();
  auto again = restarted->ensure({"web.example.com"});
  EXPECT_EQ(managerPaths(again), managerPaths(files));
  EXPECT_EQ(issuer_.ordersPlaced(), 1u);  // a restart never re-issues
  const auto status = restarted->status("web.example.com");
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(status->state, "valid");
  EXPECT_EQ(status->source, "acme");
  EXPECT_EQ(status->issuer, "Scripted CA");
  EXPECT_EQ(status->not_after, kManagerStart + kManagerLifetime);
}

TEST_F(ManagerTest, RenewsWhenLessThanAThirdIsLeft) {
  auto m = manager();
  ASSERT_EQ(m->ensure({"web.example.com"}).size(), 1u);
  now_ += 59 * kDayMs;
  m->renewDue();
  EXPECT_EQ(issuer_.ordersPlaced(), 1u);
  now_ += 2 * kDayMs;  // 29 days of 90 left
  m->renewDue();
  EXPECT_EQ(issuer_.ordersPlaced(), 2u);
  EXPECT_EQ(m->status("web.example.com")->not_after, now_ + kManagerLifetime);
}

TEST_F(ManagerTest, AFailureBacksOffPerDomainAndShowsWhy) {
  auto m = manager();
  issuer_.fail_with = "ACME http-01 validation: web.example.com is invalid: connection: refused";
  EXPECT_TRUE(m->ensure({"web.example.com"}).empty());
  auto s = m->status("web.example.com");
  EXPECT_EQ(s->state, "failed");
  EXPECT_EQ(s->last_error, issuer_.fail_with);
  EXPECT_EQ(s->next_try, now_ + 60'000);
  EXPECT_EQ(s->failures, 1);
  m->ensure({"web.example.com"});
  EXPECT_EQ(issuer_.ordersPlaced(), 1u);  // still waiting
  now_ += 60'000;
  m->ensure({"web.example.com"});
  EXPECT_EQ(issuer_.ordersPlaced(), 2u);
  EXPECT_EQ(m->status("web.example.com")->next_try, now_ + 120'000);  // doubled

  auto restarted = manager();  // the backoff survives a restart
  restarted->ensure({"web.example.com"});
  EXPECT_EQ(issuer_.ordersPlaced(), 2u);
  EXPECT_EQ(restarted->status("web.example.com")->failures, 2);

  issuer_.fail_with.clear();
  now_ += 120'000;
  EXPECT_EQ(restarted->ensure({"web.example.com"}).size(), 1u);
  s = restarted->status("web.example.com");
  EXPECT_EQ(s->state, "valid");
  EXPECT_EQ(s->failures, 0);  // reset on success
  EXPECT_EQ(s->last_error, "");
  EXPECT_EQ(s->next_try, 0);
}

TEST_F(ManagerTest, AClockThatWentBackWaitsAtMostTheLongestBackoff) {
  auto m = manager();
  issuer_.fail_with = "refused";
  m->ensure({"web.example.com"});
  now_ -= 365 * kDayMs;
  m->ensure({"web.example.com"});
  EXPECT_EQ(m->status("web.example.com")->next_try, now_ + kDayMs);
  now_ += kDayMs;
  m->ensure({"web.example.com"});
  EXPECT_EQ(issuer_.ordersPlaced(), 2u);
}

TEST_F(ManagerTest, AFailedRenewalKeepsServingTheCertificateItHas) {
  auto m = manager();
  ASSERT_EQ(m->ensure({"web.example.com"}).size(), 1u);
  now_ += 70 * kDayMs;
  issuer_.fail_with = "rate limited";
  EXPECT_EQ(m->ensure({"web.example.com"}).size(), 1u);
  const auto s = m->status("web.example.com");
  EXPECT_EQ(s->state, "valid");
  EXPECT_EQ(s->last_error, "rate limited");
  EXPECT_GT(s->next_try, now_);
}

TEST_F(ManagerTest, ARenewalThatCannotWriteItsCertificateLeavesTheServedPairMatching) {
  auto m = manager();
  auto files = m->ensure({"web.example.com"});
  ASSERT_EQ(files.size(), 1u);
  const auto served = files["web.example.com"];
  const auto key_before = pki::readFile(served.key_path);
  ASSERT_TRUE(key_before.ok());
  now_ += 70 * kDayMs;  // renewal due
  {
    // The new key (a P-256 PEM, about 240 bytes) fits, the chain (two certificates) does not.
    berth::testing::FileSizeLimit full(600);
    files = m->ensure({"web.example.com"});
  }
  EXPECT_EQ(issuer_.ordersPlaced(), 2u);
  ASSERT_EQ(files.size(), 1u);  // the old certificate is still served...
  const auto cert = pki::readFile(served.certificate_path);
  const auto key = pki::readFile(served.key_path);
  ASSERT_TRUE(cert.ok() && key.ok());
  EXPECT_EQ(*key, *key_before);  // ...with its own key, which nginx accepts at its next reload
  EXPECT_TRUE(checkCertificatePair(*cert, *key, "web.example.com").ok());
  EXPECT_EQ(m->status("web.example.com")->failures, 1);
  EXPECT_NE(m->status("web.example.com")->last_error.find("cannot write"), std::string::npos);
}

TEST_F(ManagerTest, ARestartFinishesASwitchACrashInterrupted) {
  auto files = manager()->ensure({"web.example.com"});
  ASSERT_EQ(files.size(), 1u);
  const auto served = files["web.example.com"];
  // What a kill between the key's and the certificate's rename leaves: the new key
  // served beside the old certificate, the new certificate staged.
  const std::string key = pki::generatePrivateKeyPem();
  auto cert = issuer_.ca().issueServerCertificate(key, {"web.example.com"}, now_ + kDayMs, kManagerLifetime);
  ASSERT_TRUE(cert.ok());
  ASSERT_TRUE(pki::writePrivateFile(served.key_path, key).ok());
  ASSERT_TRUE(pki::writePrivateFile(served.certificate_path + ".next", cert->cert_pem).ok());

  auto restarted = manager();
  EXPECT_EQ(restarted->ensure({"web.example.com"}).size(), 1u);
  EXPECT_EQ(issuer_.ordersPlaced(), 1u);  // finished, not ordered again
  EXPECT_EQ(restarted->status("web.example.com")->not_after, now_ + kDayMs + kManagerLifetime);
  EXPECT_TRUE(checkCertificatePair(*pki::readFile(served.certificate_path), key, "web.example.com").ok());
}

TEST_F(ManagerTest, UploadedCertificatesAreServedAndNeverRenewedByAcme) {
  auto m = manager();
  const std::string key = pki::generatePrivateKeyPem();
  auto cert = issuer_.ca().issueServerCertificate(key, {"shop.example.com"}, now_, 10 * kDayMs);
  auto other_key = pki::generatePrivateKeyPem();
  auto refused = m->upload("shop.example.com", cert->cert_pem, other_key);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().message, "key: must match the certificate's public key");
  ASSERT_TRUE(m->upload("shop.example.com", cert->cert_pem, key).ok());
  now_ += 9 * kDayMs;  // renewal due by the rule, but uploaded
  auto files = manager()->ensure({"shop.example.com"});
  EXPECT_EQ(files.size(), 1u);
  EXPECT_EQ(issuer_.ordersPlaced(), 0u);
  now_ += 2 * kDayMs;
  auto later = manager();
  EXPECT_TRUE(later->ensure({"shop.example.com"}).empty());
  EXPECT_EQ(later->status("shop.example.com")->state, "expired");
  EXPECT_EQ(issuer_.ordersPlaced(), 0u);
}

TEST_F(ManagerTest, WildcardsAndInvalidHostsAreNotOrdered) {
  auto m = manager();
  EXPECT_TRUE(m->ensure({"*.example.com", "../etc", "UPPER.example.com"}).empty());
  EXPECT_EQ(issuer_.ordersPlaced(), 0u);
  EXPECT_NE(m->status("*.example.com")->last_error.find("upload a certificate"), std::string::npos);
  EXPECT_FALSE(m->status("../etc").has_value());
}

TEST_F(ManagerTest, StatusJsonCarriesEveryField) {
  CertificateStatus s;
  s.host = "web.example.com";
  s.state = "failed";
  s.last_error = "x";
  s.next_try = 5;
  s.failures = 1;
  EXPECT_EQ(statusJson(s).dump(),
            R"({"failures":1,"host":"web.example.com","issuer":"","last_error":"x","next_try":5,"not_after":0,)"
            R"("not_before":0,"source":"","state":"failed"})");
}

}  // namespace
}  // namespace berth::acme
