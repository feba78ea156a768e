#include "agent/local_ca_certificates.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "../file_size_limit.hpp"
#include "../temp_dir.hpp"
#include "pki/keys.hpp"
#include "pki/sealed_file.hpp"

namespace berth::agent {
namespace {

constexpr UnixMs kStart = 1'700'000'000'000;

unsigned modeOf(const std::string& path) {
  struct stat st {};
  ::stat(path.c_str(), &st);
  return st.st_mode & 0777;
}

struct LocalCaFixture {
  testing::TempDir tmp;
  UnixMs now = kStart;
  LocalCaOptions options() {
    LocalCaOptions o;
    o.dir = tmp.path() + "/local-ca";
    o.clock = [this] { return now; };
    return o;
  }
  std::shared_ptr<LocalCaCertificates> open() {
    auto ca = LocalCaCertificates::open(options());
    EXPECT_TRUE(ca.ok()) << ca.error().message;
    return ca ? *ca : nullptr;
  }
};

TEST(LocalCaRules, ServesLocalhostAndNamesUnderItOnly) {
  for (const std::string host : {"localhost", "hello.localhost", "a-b.c.localhost"})
    EXPECT_TRUE(local_ca::servesHost(host)) << host;
  for (const std::string host : {"", "example.com", "localhost.example.com", "evillocalhost", ".localhost",
                                 "*.localhost", "../x.localhost", "a..localhost", "Hello.localhost", "a/b.localhost"})
    EXPECT_FALSE(local_ca::servesHost(host)) << host;
}

TEST(LocalCaRules, RenewalIsDueWhenLessThanTheMarginIsLeft) {
  EXPECT_FALSE(local_ca::renewalDue(kStart + 31 * kDayMs, kStart, 30 * kDayMs));
  EXPECT_TRUE(local_ca::renewalDue(kStart + 29 * kDayMs, kStart, 30 * kDayMs));
  EXPECT_TRUE(local_ca::renewalDue(kStart - 1, kStart, 30 * kDayMs));
}

TEST(LocalCaCertificates, IssuesALeafForLocalhostHostsThatVerifiesAgainstTheRootForThatHostOnly) {
  LocalCaFixture f;
  auto ca = f.open();
  ASSERT_TRUE(ca);
  const std::string dir = f.options().dir;
  EXPECT_EQ(ca->rootPath(), dir + "/root.crt");
  EXPECT_EQ(modeOf(dir), 0700u);
  EXPECT_EQ(modeOf(dir + "/root.key"), 0600u);

  auto files = ca->certificatesFor({"hello.localhost", "shop.example.com"});
  ASSERT_EQ(files.size(), 1u) << "a host outside localhost stays on HTTP";
  ASSERT_TRUE(files.count("hello.localhost"));
  const auto& leaf = files["hello.localhost"];
  EXPECT_EQ(modeOf(leaf.key_path), 0600u);
  auto root = pki::readFile(ca->rootPath());
  auto cert = pki::readFile(leaf.certificate_path);
  auto key = pki::readFile(leaf.key_path);
  ASSERT_TRUE(root && cert && key);
  EXPECT_TRUE(pki::keyMatchesCertificate(*key, *cert));
  EXPECT_TRUE(pki::verifyServerCertificate(*cert, *root, "hello.localhost", f.now).ok());
  EXPECT_FALSE(pki::verifyServerCertificate(*cert, *root, "other.localhost", f.now).ok());

  auto status = ca->status({"hello.localhost", "shop.example.com", "new.localhost"});
  // Keyed by host, as the server reads it (server::servedRoutes, Metrics::recordCertificates).
  ASSERT_TRUE(status.is_object()) << status.dump();
  ASSERT_EQ(status.size(), 3u);
  EXPECT_EQ(status["hello.localhost"]["state"], "valid");
  EXPECT_EQ(status["hello.localhost"]["source"], "local_ca");
  EXPECT_GT(status["hello.localhost"]["not_after"].get<UnixMs>(), f.now);
  EXPECT_EQ(status["shop.example.com"]["state"], "refused");
  EXPECT_EQ(status["new.localhost"]["state"], "issuing");
}

TEST(LocalCaCertificates, ReusesTheRootAndLeavesAcrossRestarts) {
  LocalCaFixture f;
  auto first = f.open();
  ASSERT_TRUE(first);
  auto files = first->certificatesFor({"hello.localhost"});
  const auto root = *pki::readFile(first->rootPath());
  const auto cert = *pki::readFile(files["hello.localhost"].certificate_path);
  first.reset();

  f.now += 10 * kDayMs;
  auto second = f.open();
  ASSERT_TRUE(second);
  EXPECT_EQ(*pki::readFile(second->rootPath()), root) << "the root a workstation trusts stays the same";
  EXPECT_FALSE(second->refresh({"hello.localhost"})) << "nothing to issue";
  EXPECT_EQ(*pki::readFile(second->certificatesFor({"hello.localhost"})["hello.localhost"].certificate_path), cert);
}

TEST(LocalCaCertificates, IssuesAgainWhenCloseToExpiry) {
  LocalCaFixture f;
  auto ca = f.open();
  ASSERT_TRUE(ca);
  auto files = ca->certificatesFor({"hello.localhost"});
  const auto before = *pki::inspectCertificate(*pki::readFile(files["hello.localhost"].certificate_path));
  EXPECT_FALSE(ca->refresh({"hello.localhost"}));

  f.now = before.not_after_ms - 10 * kDayMs;
  EXPECT_TRUE(ca->refresh({"hello.localhost"}));
  const auto cert = *pki::readFile(files["hello.localhost"].certificate_path);
  const auto after = *pki::inspectCertificate(cert);
  EXPECT_NE(after.serial_hex, before.serial_hex);
  EXPECT_GT(after.not_after_ms, before.not_after_ms);
  EXPECT_TRUE(pki::verifyServerCertificate(cert, *pki::readFile(ca->rootPath()), "hello.localhost", f.now).ok());
  EXPECT_FALSE(ca->refresh({"hello.localhost"}));
}

TEST(LocalCaCertificates, ARenewalThatCannotWriteItsCertificateKeepsServingTheMatchingPair) {
  LocalCaFixture f;
  auto ca = f.open();
  ASSERT_TRUE(ca);
  auto files = ca->certificatesFor({"hello.localhost"});
  const auto served = files["hello.localhost"];
  const auto before = *pki::inspectCertificate(*pki::readFile(served.certificate_path));
  f.now = before.not_after_ms - 10 * kDayMs;  // renewal due
  {
    testing::FileSizeLimit full(400);  // the new key (about 240 bytes) fits, its certificate does not
    EXPECT_FALSE(ca->refresh({"hello.localhost"}));
  }
  // The pair before is still served (until it expires), and nginx still accepts it at its next reload.
  EXPECT_EQ(ca->status({"hello.localhost"})["hello.localhost"]["failures"], 1);
  EXPECT_EQ(ca->status({"hello.localhost"})["hello.localhost"]["state"], "valid");
  EXPECT_TRUE(pki::keyMatchesCertificate(*pki::readFile(served.key_path), *pki::readFile(served.certificate_path)));
  EXPECT_EQ(pki::inspectCertificate(*pki::readFile(served.certificate_path))->serial_hex, before.serial_hex);
  // With room again, the next call issues.
  EXPECT_EQ(ca->certificatesFor({"hello.localhost"}).size(), 1u);
  EXPECT_TRUE(pki::keyMatchesCertificate(*pki::readFile(served.key_path), *pki::readFile(served.certificate_path)));
}

TEST(LocalCaCertificates, ALeafThatNoLongerMatchesItsKeyOrRootIsIssuedAgain) {
  LocalCaFixture f;
  auto ca = f.open();
  ASSERT_TRUE(ca);
  auto files = ca->certificatesFor({"hello.localhost"});
  const std::string certPath = files["hello.localhost"].certificate_path;
  ca.reset();
  // A crash between the key and the certificate: the pair does not match.
  ASSERT_TRUE(pki::writePrivateFile(files["hello.localhost"].key_path, pki::generatePrivateKeyPem()).ok());
  ca = f.open();
  ASSERT_TRUE(ca);
  EXPECT_TRUE(ca->refresh({"hello.localhost"}));
  EXPECT_TRUE(pki::keyMatchesCertificate(*pki::readFile(files["hello.localhost"].key_path), *pki::readFile(certPath)));
  ca.reset();

  // A new root (the user removed root.crt): the old leaf does not chain to it.
  ASSERT_EQ(::unlink((f.options().dir + "/root.crt").c_str()), 0);
  ca = f.open();
  ASSERT_TRUE(ca);
  EXPECT_TRUE(ca->refresh({"hello.localhost"}));
  EXPECT_TRUE(pki::verifyServerCertificate(*pki::readFile(certPath), *pki::readFile(ca->rootPath()), "hello.localhost",
                                           f.now)
                  .ok());
}

TEST(LocalCaCertificates, ARootWithoutItsKeyIsRefusedNamingTheFiles) {
  LocalCaFixture f;
  ASSERT_TRUE(f.open());
  ASSERT_TRUE(pki::writePrivateFile(f.options().dir + "/root.key", pki::generatePrivateKeyPem()).ok());
  auto reopened = LocalCaCertificates::open(f.options());
  ASSERT_FALSE(reopened.ok());
  EXPECT_EQ(reopened.error().code, "bad_key");
  EXPECT_NE(reopened.error().message.find("root.key"), std::string::npos) << reopened.error().message;
}

}  // namespace
}  // namespace berth::agent
