#include "server/identity.hpp"

#include <gtest/gtest.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sys/stat.h>

#include "../file_size_limit.hpp"
#include "../temp_dir.hpp"
#include "pki/keys.hpp"
#include "pki/sealed_file.hpp"

namespace berth::server {
namespace {

constexpr std::int64_t kNow = 1'800'000'000'000;
constexpr std::int64_t kDay = 86'400'000;

std::string leafOf(const ServerIdentity& id) { return id.server_cert_pem.substr(0, id.server_cert_pem.find("-----END") + 25); }

// notBefore of the first certificate in `pem`, in unix seconds.
std::int64_t notBefore(const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  std::tm tm{};
  ASN1_TIME_to_tm(X509_get0_notBefore(cert), &tm);
  X509_free(cert);
  return static_cast<std::int64_t>(timegm(&tm));
}

TEST(ServerIdentity, CertificateIsKeptAcrossRestartsAndReissuedOnlyWhenNamesChange) {
  berth::testing::TempDir dir;
  const std::vector<std::string> names = {"localhost", "127.0.0.1"};
  auto first = loadOrCreateIdentity(dir.path() + "/pki", names, kNow);
  ASSERT_TRUE(first.ok()) << first.error().message;
  // Back-dated an hour, so an agent slightly behind accepts it.
  EXPECT_LE(notBefore(first->server_cert_pem), (kNow - 3600 * 1000) / 1000);
  auto again = loadOrCreateIdentity(dir.path() + "/pki", names, kNow + kDay);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(leafOf(*again), leafOf(*first));
  EXPECT_EQ(again->server_key_pem, first->server_key_pem);
  auto renamed = loadOrCreateIdentity(dir.path() + "/pki", {"cp.example", "127.0.0.1"}, kNow + 2 * kDay);
  ASSERT_TRUE(renamed.ok());
  EXPECT_NE(leafOf(*renamed), leafOf(*first));
  // With a third of its life left it is renewed.
  auto late = loadOrCreateIdentity(dir.path() + "/pki", {"cp.example", "127.0.0.1"}, kNow + 300 * kDay);
  ASSERT_TRUE(late.ok());
  EXPECT_NE(leafOf(*late), leafOf(*renamed));
  struct stat st {};
  ASSERT_EQ(::stat((dir.path() + "/pki/server.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST(ServerIdentity, SameNamesInAnotherOrderKeepTheCertificateANewAddressReissuesItUnderTheSameCa) {
  berth::testing::TempDir dir;
  auto first = loadOrCreateIdentity(dir.path() + "/pki", {"localhost", "127.0.0.1", "10.0.0.1"}, kNow);
  ASSERT_TRUE(first.ok()) << first.error().message;
  auto reordered = loadOrCreateIdentity(dir.path() + "/pki", {"10.0.0.1", "localhost", "127.0.0.1"}, kNow + kDay);
  ASSERT_TRUE(reordered.ok());
  EXPECT_EQ(leafOf(*reordered), leafOf(*first));
  auto moved = loadOrCreateIdentity(dir.path() + "/pki", {"localhost", "127.0.0.1", "10.0.0.2"}, kNow + kDay);
  ASSERT_TRUE(moved.ok());
  EXPECT_NE(leafOf(*moved), leafOf(*first));
  EXPECT_EQ(moved->ca.certPem(), first->ca.certPem());
  EXPECT_EQ(moved->ca_pin, first->ca_pin);
}

TEST(ServerIdentity, ARenewalOnAFullDiskLeavesTheServedPairMatching) {
  berth::testing::TempDir dir;
  const std::string pki = dir.path() + "/pki";
  ASSERT_TRUE(loadOrCreateIdentity(pki, {"localhost"}, kNow).ok());
  {
    berth::testing::FileSizeLimit full(400);  // a new key fits (~240 bytes), its certificate does not
    EXPECT_FALSE(loadOrCreateIdentity(pki, {"cp.example"}, kNow + kDay).ok());
  }
  auto key = pki::readFile(pki + "/server.key");
  auto cert = pki::readFile(pki + "/server.crt");
  ASSERT_TRUE(key.ok() && cert.ok());
  EXPECT_TRUE(pki::keyMatchesCertificate(*key, *cert)) << "a new key beside the old certificate";
}

TEST(ServerIdentity, AKeyThatDoesNotMatchItsCertificateIsIssuedAgain) {
  berth::testing::TempDir dir;
  const std::string pki = dir.path() + "/pki";
  auto first = loadOrCreateIdentity(pki, {"localhost"}, kNow);
  ASSERT_TRUE(first.ok());
  // A crash between the pair's two renames: the new key beside the old certificate.
  ASSERT_TRUE(pki::writePrivateFile(pki + "/server.key", pki::generatePrivateKeyPem()).ok());
  auto again = loadOrCreateIdentity(pki, {"localhost"}, kNow + kDay);
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_TRUE(pki::keyMatchesCertificate(again->server_key_pem, again->server_cert_pem));
  EXPECT_NE(leafOf(*again), leafOf(*first));
}

}  // namespace
}  // namespace berth::server
