#include "pki/authority.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <openssl/x509v3.h>

#include "pki/keys.hpp"
#include "pki/ossl.hpp"
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

TEST(Authority, ServerCertificateHoldsEveryNameAndAddressAndInspectionListsThem) {
  auto ca = CertificateAuthority::createNew("test CA", kNow, 10 * kDay);
  const std::vector<std::string> names = {"localhost", "127.0.0.1", "cp1", "10.0.0.1", "fd00::2"};
  auto cert = ca.issueServerCertificate(generatePrivateKeyPem(), names, kNow, 30 * kDay);
  ASSERT_TRUE(cert.ok()) << cert.error().message;
  auto info = inspectCertificate(cert->cert_pem);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->names, names);
}

// A CSR for `cn` asking for `extensions` (name -> value, as in openssl.cnf).
std::string csrWith(const std::string& key_pem, const std::string& cn,
                    const std::vector<std::pair<int, std::string>>& extensions) {
  auto key = loadPrivateKey(key_pem);
  X509ReqPtr req(X509_REQ_new());
  X509_NAME* name = X509_REQ_get_subject_name(req.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  STACK_OF(X509_EXTENSION)* exts = sk_X509_EXTENSION_new_null();
  for (const auto& [nid, value] : extensions) {
    sk_X509_EXTENSION_push(exts, X509V3_EXT_conf_nid(nullptr, nullptr, nid, value.c_str()));
  }
  if (!extensions.empty()) X509_REQ_add_extensions(req.get(), exts);
  sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
  X509_REQ_set_pubkey(req.get(), key->get());
  X509_REQ_sign(req.get(), key->get(), EVP_sha256());
  BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509_REQ(bio.get(), req.get());
  return bioToString(bio.get());
}

TEST(Authority, CsrCheckRefusesOtherNamesSansAndCaRequestsNamingTheRule) {
  auto key = generatePrivateKeyPem();
  EXPECT_TRUE(checkAgentCsr(*makeCsr(key, kEnrolmentCommonName), {kEnrolmentCommonName}).ok());
  EXPECT_TRUE(checkAgentCsr(*makeCsr(key, "n_42"), {"n_42"}).ok());
  const std::vector<std::pair<std::string, std::string>> cases = {
      {*makeCsr(key, "n_other"), "subject CN 'n_other' must be 'n_42'"},
      {csrWith(key, "n_42", {{NID_subject_alt_name, "DNS:evil.example"}}), "subjectAltName"},
      {csrWith(key, "n_42", {{NID_basic_constraints, "critical,CA:TRUE"}}), "CA:TRUE"},
      {csrWith(key, "n_42", {{NID_key_usage, "critical,digitalSignature,keyCertSign"}}), "keyCertSign"},
      {"not pem", "not a PEM certificate request"},
  };
  for (const auto& [csr, rule] : cases) {
    auto r = checkAgentCsr(csr, {"n_42"});
    ASSERT_FALSE(r.ok()) << rule;
    EXPECT_EQ(r.error().code, "bad_csr");
    EXPECT_NE(r.error().message.find(rule), std::string::npos) << r.error().message;
    EXPECT_NE(r.error().message.find("field 'csr'"), std::string::npos) << r.error().message;
  }
  // Harmless extensions pass.
  EXPECT_TRUE(checkAgentCsr(csrWith(key, "n_42", {{NID_basic_constraints, "CA:FALSE"},
                                                  {NID_key_usage, "digitalSignature"}}),
                            {"n_42"})
                  .ok());
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

TEST(Authority, ServerCertificateVerifiesForItsHostOnlyWithinItsValidityAndUnderItsCaOnly) {
  auto ca = CertificateAuthority::createNew("test CA", kNow, 10 * kDay);
  auto other = CertificateAuthority::createNew("other CA", kNow, 10 * kDay);
  const auto key = generatePrivateKeyPem();
  auto cert = ca.issueServerCertificate(key, {"hello.localhost"}, kNow, 30 * kDay);
  ASSERT_TRUE(cert.ok());
  EXPECT_TRUE(verifyServerCertificate(cert->cert_pem, ca.certPem(), "hello.localhost", kNow + kDay).ok());
  auto wrongHost = verifyServerCertificate(cert->cert_pem, ca.certPem(), "other.localhost", kNow + kDay);
  ASSERT_FALSE(wrongHost.ok());
  EXPECT_EQ(wrongHost.error().code, "untrusted_certificate");
  EXPECT_NE(wrongHost.error().message.find("other.localhost"), std::string::npos) << wrongHost.error().message;
  EXPECT_FALSE(verifyServerCertificate(cert->cert_pem, ca.certPem(), "hello.localhost", kNow + 31 * kDay).ok());
  EXPECT_FALSE(verifyServerCertificate(cert->cert_pem, other.certPem(), "hello.localhost", kNow + kDay).ok());
  // An agent's client certificate is no server certificate (no serverAuth).
  auto client = ca.signAgentCsr(*makeCsr(key, "hello.localhost"), "hello.localhost", kNow, 30 * kDay);
  ASSERT_TRUE(client.ok());
  EXPECT_FALSE(verifyServerCertificate(client->cert_pem, ca.certPem(), "hello.localhost", kNow + kDay).ok());

  EXPECT_TRUE(keyMatchesCertificate(key, cert->cert_pem));
  EXPECT_FALSE(keyMatchesCertificate(generatePrivateKeyPem(), cert->cert_pem));
  EXPECT_FALSE(keyMatchesCertificate("junk", cert->cert_pem));
}

TEST(Authority, NameConstraintsLimitWhatTheCaCanVouchFor) {
  auto ca = CertificateAuthority::createNew("local CA", kNow, 10 * kDay, {"localhost"});
  for (const std::string host : {"localhost", "hello.localhost", "a.b.localhost"}) {
    auto cert = ca.issueServerCertificate(generatePrivateKeyPem(), {host}, kNow, 30 * kDay);
    ASSERT_TRUE(cert.ok());
    EXPECT_TRUE(verifyServerCertificate(cert->cert_pem, ca.certPem(), host, kNow + kDay).ok()) << host;
  }
  // Signed, but outside the permitted subtree: no verifier accepts it.
  for (const std::string host : {"example.com", "localhost.example.com", "evillocalhost"}) {
    auto cert = ca.issueServerCertificate(generatePrivateKeyPem(), {host}, kNow, 30 * kDay);
    ASSERT_TRUE(cert.ok());
    auto verified = verifyServerCertificate(cert->cert_pem, ca.certPem(), host, kNow + kDay);
    EXPECT_FALSE(verified.ok()) << host;
  }
}

}  // namespace
}  // namespace berth::pki
