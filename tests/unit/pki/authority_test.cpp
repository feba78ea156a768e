#include "pki/authority.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "pki/keys.hpp"
#include "pki/sealed_file.hpp"

namespace berth::pki {
namespace {

constexpr std::int64_t kNow = 1'700'000'000'000;
constexpr std::int64_t kDay = 86'400'000;

TEST(Authority, SignsAgentCsrWithTheNodeIdAsSubject) {
  auto ca = CertificateAuthority::createNew("test CA", kNow, 10 * kDay);
  auto key = generatePrivateKeyPem();
  auto csr = makeCsr(key, "whatever-the-agent-asked");
  ASSERT_TRUE(csr.ok());
  auto cert = ca.signAgentCsr(*csr, "n_42", kNow, 30 * kDay);
  ASSERT_TRUE(cert.ok()) << cert.error().message;
  auto info = inspectCertificate(cert->cert_pem);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->common_name, "n_42");
  EXPECT_EQ(info->not_after_ms, kNow + 30 * kDay);
  EXPECT_EQ(info->serial_hex, cert->serial_hex);
}

TEST(Authority, RefusesAGarbageCsr) {
  auto ca = CertificateAuthority::createNew("test CA", kNow, kDay);
  auto r = ca.signAgentCsr("-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n", "n", kNow,
                           kDay);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "bad_csr");
}

TEST(Authority, PinsDifferPerCaAndAreStable) {
  auto a = CertificateAuthority::createNew("a", kNow, kDay);
  auto b = CertificateAuthority::createNew("b", kNow, kDay);
  auto pinA = publicKeyPin(a.certPem());
  ASSERT_TRUE(pinA.ok());
  EXPECT_EQ(pinA->rfind("sha256:", 0), 0u);
  EXPECT_EQ(pinA->size(), 7u + 64u);
  EXPECT_EQ(*pinA, *publicKeyPin(a.certPem()));
  EXPECT_NE(*pinA, *publicKeyPin(b.certPem()));
  auto reloaded = CertificateAuthority::fromPem(a.certPem(), a.keyPem());
  ASSERT_TRUE(reloaded.ok());
  EXPECT_EQ(*publicKeyPin(reloaded->certPem()), *pinA);
}

TEST(SealedFile, RoundTripsAndRefusesAnotherKey) {
  const std::string key(32, 'k'), other(32, 'o');
  auto sealed = seal("secret key material", key);
  EXPECT_EQ(sealed.find("secret"), std::string::npos);
  auto opened = unseal(sealed, key);
  ASSERT_TRUE(opened.ok());
  EXPECT_EQ(*opened, "secret key material");
  EXPECT_FALSE(unseal(sealed, other).ok());
}

TEST(SealedFile, PrivateFilesAreMode0600) {
  std::string path = ::testing::TempDir() + "/berth_private_test";
  ASSERT_TRUE(writePrivateFile(path, "x").ok());
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

}  // namespace
}  // namespace berth::pki
