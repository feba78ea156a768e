#include "acme/certificates.hpp"

#include <gtest/gtest.h>

#include "pki/authority.hpp"
#include "pki/keys.hpp"
#include "pki/ossl.hpp"

namespace berth::acme {
namespace {

constexpr UnixMs kCertsNow = 1'700'000'000'000;

struct CertsIssued {
  std::string chain_pem, key_pem;
};

CertsIssued certsIssue(const pki::CertificateAuthority& ca, const std::vector<std::string>& names, UnixMs from,
                       std::int64_t validity) {
  const std::string key = pki::generatePrivateKeyPem();
  auto cert = ca.issueServerCertificate(key, names, from, validity);
  EXPECT_TRUE(cert.ok());
  return {cert->cert_pem + ca.certPem(), key};
}

TEST(CertificateRequest, NamesEveryHostAndIsSignedByItsOwnNewKey) {
  auto a = makeCertificateRequest({"web.example.com", "www.example.com"});
  ASSERT_TRUE(a.ok()) << a.error().message;
  const auto* p = reinterpret_cast<const unsigned char*>(a->csr_der.data());
  pki::X509ReqPtr req(d2i_X509_REQ(nullptr, &p, static_cast<long>(a->csr_der.size())));
  ASSERT_TRUE(req);
  auto key = pki::loadPrivateKey(a->key_pem);
  ASSERT_TRUE(key.ok());
  EXPECT_EQ(X509_REQ_verify(req.get(), key->get()), 1);
  STACK_OF(X509_EXTENSION)* exts = X509_REQ_get_extensions(req.get());
  ASSERT_NE(exts, nullptr);
  auto* names = static_cast<GENERAL_NAMES*>(X509V3_get_d2i(exts, NID_subject_alt_name, nullptr, nullptr));
  sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
  ASSERT_NE(names, nullptr);
  std::vector<std::string> dns;
  for (int i = 0; i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* n = sk_GENERAL_NAME_value(names, i);
    ASSERT_EQ(n->type, GEN_DNS);
    dns.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(n->d.dNSName)));
  }
  GENERAL_NAMES_free(names);
  EXPECT_EQ(dns, (std::vector<std::string>{"web.example.com", "www.example.com"}));
  auto b = makeCertificateRequest({"web.example.com"});
  EXPECT_NE(a->key_pem, b->key_pem);  // a key per certificate
}

TEST(CertificateRequest, RefusesAnEmptyListAndHostsWithForeignCharacters) {
  EXPECT_EQ(makeCertificateRequest({}).error().message, "field 'hosts': must name at least one host");
  EXPECT_FALSE(makeCertificateRequest({"a,DNS:evil.com"}).ok());
  EXPECT_FALSE(makeCertificateRequest({"Web.example.com"}).ok());
}

TEST(RenewalDue, WhenLessThanAThirdOfTheLifetimeIsLeft) {
  constexpr UnixMs kStart = 1'000'000;
  constexpr UnixMs kEnd = kStart + 90 * kDayMs;
  EXPECT_FALSE(renewalDue(kStart, kEnd, kStart));
  EXPECT_FALSE(renewalDue(kStart, kEnd, kEnd - 30 * kDayMs));  // exactly a third left
  EXPECT_TRUE(renewalDue(kStart, kEnd, kEnd - 30 * kDayMs + 1));
  EXPECT_TRUE(renewalDue(kStart, kEnd, kEnd + 1));
  EXPECT_FALSE(renewalDue(kStart, kEnd, kStart - 365 * kDayMs));  // clock behind: not due
  EXPECT_TRUE(renewalDue(kEnd, kStart, kStart));                  // nonsense lifetime
  EXPECT_FALSE(renewalDue(0, 3, 1));  // 3 ms: 2 left is not less than a third
  EXPECT_TRUE(renewalDue(0, 3, 3));
}

TEST(Backoff, DoublesFromOneMinuteToADay) {
  EXPECT_EQ(backoffDelayMs(0), 0);
  EXPECT_EQ(backoffDelayMs(1), 60'000);
  EXPECT_EQ(backoffDelayMs(2), 120'000);
  EXPECT_EQ(backoffDelayMs(5), 16 * 60'000);
  EXPECT_EQ(backoffDelayMs(11), 1024 * 60'000);  // 17 h
  EXPECT_EQ(backoffDelayMs(12), kDayMs);          // 2048 min would be past a day
  EXPECT_EQ(backoffDelayMs(1'000'000), kDayMs);
}

TEST(Backoff, ASkewedClockNeverGivesANegativeOrHugeWait) {
  EXPECT_EQ(backoffWaitMs(kCertsNow + 5'000, kCertsNow), 5'000);
  EXPECT_EQ(backoffWaitMs(kCertsNow - 5'000, kCertsNow), 0);  // clock ran ahead: due now
  EXPECT_EQ(backoffWaitMs(kCertsNow + 365 * kDayMs, kCertsNow), kDayMs);  // clock went back: at most a day
  EXPECT_EQ(backoffWaitMs(INT64_MAX, INT64_MIN), kDayMs);
  EXPECT_EQ(backoffWaitMs(INT64_MIN, INT64_MAX), 0);
}

TEST(NameCovers, AWildcardStandsForExactlyOneLabel) {
  EXPECT_TRUE(nameCovers("web.example.com", "web.example.com"));
  EXPECT_TRUE(nameCovers("WEB.example.com", "web.example.com"));
  EXPECT_TRUE(nameCovers("*.example.com", "web.example.com"));
  EXPECT_FALSE(nameCovers("*.example.com", "example.com"));
  EXPECT_FALSE(nameCovers("*.example.com", "a.web.example.com"));
  EXPECT_FALSE(nameCovers("*.example.com", ".example.com"));
  EXPECT_FALSE(nameCovers("w*.example.com", "web.example.com"));
  EXPECT_FALSE(nameCovers("*.*.com", "a.b.com"));
  EXPECT_FALSE(nameCovers("example.com", "web.example.com"));
  EXPECT_FALSE(nameCovers("", ""));
}

TEST(UploadedCertificate, AValidChainAndMatchingKeyForTheHostIsAccepted) {
  auto ca = pki::CertificateAuthority::createNew("Upload Test CA", kCertsNow - kDayMs, 10 * kDayMs);
  auto c = certsIssue(ca, {"*.example.com"}, kCertsNow - kDayMs, 5 * kDayMs);
  auto facts = checkUploadedCertificate(c.chain_pem, c.key_pem, "shop.example.com", kCertsNow);
  ASSERT_TRUE(facts.ok()) << facts.error().message;
  EXPECT_EQ(facts->issuer, "Upload Test CA");
  EXPECT_EQ(facts->not_after, kCertsNow + 4 * kDayMs);
  EXPECT_EQ(facts->names, std::vector<std::string>{"*.example.com"});
  EXPECT_EQ(facts->length, 2u);
}

TEST(UploadedCertificate, EachRefusalNamesItsRule) {
  auto ca = pki::CertificateAuthority::createNew("Upload Test CA", kCertsNow - kDayMs, 10 * kDayMs);
  auto c = certsIssue(ca, {"web.example.com"}, kCertsNow - kDayMs, 5 * kDayMs);
  auto other = certsIssue(ca, {"web.example.com"}, kCertsNow - kDayMs, 5 * kDayMs);
  EXPECT_EQ(checkUploadedCertificate(c.chain_pem, other.key_pem, "web.example.com", kCertsNow).error().message,
            "key: must match the certificate's public key");
  EXPECT_EQ(checkUploadedCertificate(c.chain_pem, "junk", "web.example.com", kCertsNow).error().message,
            "key: must be a PEM private key");
  EXPECT_EQ(checkUploadedCertificate("junk", c.key_pem, "web.example.com", kCertsNow).error().message,
            "certificate: must hold at least one PEM certificate");
  EXPECT_EQ(checkUploadedCertificate(c.chain_pem, c.key_pem, "shop.example.com", kCertsNow).error().message,
            "certificate: must name 'shop.example.com' in its subjectAltName (it holds web.example.com)");
  EXPECT_EQ(checkUploadedCertificate(c.chain_pem, c.key_pem, "web.example.com", kCertsNow + 5 * kDayMs)
                .error()
                .message,
            "certificate: has expired");
  EXPECT_EQ(checkUploadedCertificate(c.chain_pem, c.key_pem, "web.example.com", kCertsNow - 2 * kDayMs)
                .error()
                .message,
            "certificate: is not valid yet");
  auto stranger = pki::CertificateAuthority::createNew("Another CA", kCertsNow - kDayMs, 10 * kDayMs);
  const std::string leaf_only = c.chain_pem.substr(0, c.chain_pem.size() - ca.certPem().size());
  EXPECT_EQ(checkUploadedCertificate(leaf_only + stranger.certPem(), c.key_pem, "web.example.com", kCertsNow)
                .error()
                .message,
            "certificate: certificate 1 of the chain must be issued by the one after it (leaf first)");
  EXPECT_TRUE(checkUploadedCertificate(c.chain_pem, c.key_pem, "web.example.com", kCertsNow).ok());
}

}  // namespace
}  // namespace berth::acme
