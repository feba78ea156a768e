#include "acme/jose.hpp"

#include <gtest/gtest.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>

#include <nlohmann/json.hpp>

#include "pki/keys.hpp"
#include "pki/ossl.hpp"

namespace berth::acme {
namespace {

// A fixed P-256 key; its JWK and thumbprint below were computed apart from
// berth (openssl ec -text, python hashlib/base64).
constexpr const char* kJoseTestKey =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgD8nr1NGLeuGvjv/N\n"
    "6Nmxk4odOCfP8H4LOK3KPyBkG0ShRANCAAR6QjrWPxa3L5lB0fZVZq2xHu/MBrBi\n"
    "cL+ADMXQa1/neo0vybHPCR3yFSfU3ukg5jw72sgm4x0B7B8X/wYAfTtE\n"
    "-----END PRIVATE KEY-----\n";
constexpr const char* kJoseTestJwk =
    R"({"crv":"P-256","kty":"EC","x":"ekI61j8Wty-ZQdH2VWatsR7vzAawYnC_gAzF0Gtf53o","y":"jS_Jsc8JHfIVJ9Te6SDmPDvayCbjHQHsHxf_BgB9O0Q"})";
constexpr const char* kJoseTestThumbprint = "lHllSUDxAWPc9Bp9nXBK_9-VllB79PwjiXgLdbycWU8";

bool joseVerifies(const std::string& key_pem, const std::string& input, const std::string& raw_signature) {
  if (raw_signature.size() != 64) return false;
  auto key = pki::loadPrivateKey(key_pem);
  ECDSA_SIG* sig = ECDSA_SIG_new();
  const auto* bytes = reinterpret_cast<const unsigned char*>(raw_signature.data());
  ECDSA_SIG_set0(sig, BN_bin2bn(bytes, 32, nullptr), BN_bin2bn(bytes + 32, 32, nullptr));
  unsigned char* der = nullptr;
  const int der_len = i2d_ECDSA_SIG(sig, &der);
  ECDSA_SIG_free(sig);
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  const bool ok = EVP_DigestVerifyInit(ctx, nullptr, EVP_sha256(), nullptr, key->get()) == 1 &&
                  EVP_DigestVerify(ctx, der, static_cast<std::size_t>(der_len),
                                   reinterpret_cast<const unsigned char*>(input.data()), input.size()) == 1;
  EVP_MD_CTX_free(ctx);
  OPENSSL_free(der);
  return ok;
}

TEST(Base64Url, EncodesWithoutPaddingInTheUrlAlphabet) {
  EXPECT_EQ(base64url(""), "");
  EXPECT_EQ(base64url("f"), "Zg");
  EXPECT_EQ(base64url("fo"), "Zm8");
  EXPECT_EQ(base64url("foo"), "Zm9v");
  EXPECT_EQ(base64url("\xfb\xff\xbf"), "-_-_");  // '+' and '/' in standard base64
}

TEST(Base64Url, DecodesAndRefusesPaddingForeignCharactersAndBadLengths) {
  EXPECT_EQ(base64urlDecode("Zm8").value(), "fo");
  EXPECT_EQ(base64urlDecode("-_-_").value(), "\xfb\xff\xbf");
  EXPECT_FALSE(base64urlDecode("Zm8=").has_value());
  EXPECT_FALSE(base64urlDecode("Zm+v").has_value());
  EXPECT_FALSE(base64urlDecode("Z").has_value());
  EXPECT_FALSE(base64urlDecode("Zh").has_value());  // trailing bits not zero: not canonical
}

TEST(Jwk, IsTheCanonicalP256FormAndItsThumbprintMatchesRfc7638) {
  EXPECT_EQ(jwkJson(kJoseTestKey).value(), kJoseTestJwk);
  EXPECT_EQ(jwkThumbprint(kJoseTestKey).value(), kJoseTestThumbprint);
}

TEST(Jwk, RefusesKeysThatAreNotP256) {
  EVP_PKEY* rsa = EVP_RSA_gen(2048);
  pki::BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_PrivateKey(bio.get(), rsa, nullptr, nullptr, 0, nullptr, nullptr);
  EVP_PKEY_free(rsa);
  auto jwk = jwkJson(pki::bioToString(bio.get()));
  ASSERT_FALSE(jwk.ok());
  EXPECT_NE(jwk.error().message.find("P-256"), std::string::npos);
  EXPECT_FALSE(jwkJson("not a key").ok());
}

TEST(Jws, CarriesKidNonceAndUrlAndAnEs256SignatureThatVerifies) {
  auto jws = signJws(kJoseTestKey, {"https://ca.test/new-order", "nonce-1", "https://ca.test/acct/7"},
                     R"({"identifiers":[]})");
  ASSERT_TRUE(jws.ok()) << jws.error().message;
  const auto body = nlohmann::json::parse(*jws);
  ASSERT_EQ(body.size(), 3u);
  const auto header = nlohmann::json::parse(base64urlDecode(body["protected"].get<std::string>()).value());
  EXPECT_EQ(header, (nlohmann::json{{"alg", "ES256"}, {"nonce", "nonce-1"}, {"url", "https://ca.test/new-order"},
                                    {"kid", "https://ca.test/acct/7"}}));
  EXPECT_EQ(base64urlDecode(body["payload"].get<std::string>()).value(), R"({"identifiers":[]})");
  const auto signature = base64urlDecode(body["signature"].get<std::string>()).value();
  const std::string input = body["protected"].get<std::string>() + "." + body["payload"].get<std::string>();
  EXPECT_TRUE(joseVerifies(kJoseTestKey, input, signature));
  EXPECT_FALSE(joseVerifies(kJoseTestKey, input + "x", signature));
  EXPECT_FALSE(joseVerifies(pki::generatePrivateKeyPem(), input, signature));
}

TEST(Jws, WithoutKidCarriesTheJwkAndPostAsGetHasAnEmptyPayload) {
  auto jws = signJws(kJoseTestKey, {"https://ca.test/new-acct", "n2", ""}, "");
  ASSERT_TRUE(jws.ok());
  const auto body = nlohmann::json::parse(*jws);
  const auto header = nlohmann::json::parse(base64urlDecode(body["protected"].get<std::string>()).value());
  EXPECT_FALSE(header.contains("kid"));
  EXPECT_EQ(header["jwk"], nlohmann::json::parse(kJoseTestJwk));
  EXPECT_EQ(body["payload"], "");
}

TEST(KeyAuthorization, IsTokenDotThumbprint) {
  EXPECT_EQ(keyAuthorization("tok_EN-1", kJoseTestThumbprint), std::string("tok_EN-1.") + kJoseTestThumbprint);
}

}  // namespace
}  // namespace berth::acme
