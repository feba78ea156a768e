#include "acme/documents.hpp"

#include <gtest/gtest.h>

namespace berth::acme {
namespace {

// Shapes as Pebble 2.4 and Let's Encrypt send them.
constexpr const char* kDocsDirectory = R"({
  "keyChange": "https://127.0.0.1:14000/rollover-account-key",
  "meta": {"externalAccountRequired": false, "termsOfService": "data:text/plain,Do%20what%20thou%20wilt"},
  "newAccount": "https://127.0.0.1:14000/sign-me-up",
  "newNonce": "https://127.0.0.1:14000/nonce-plz",
  "newOrder": "https://127.0.0.1:14000/order-plz",
  "revokeCert": "https://127.0.0.1:14000/revoke-cert"})";

constexpr const char* kDocsOrder = R"({
  "status": "pending", "expires": "2030-01-01T00:00:00Z",
  "identifiers": [{"type": "dns", "value": "web.example.com"}],
  "finalize": "https://127.0.0.1:14000/finalize-order/abc",
  "authorizations": ["https://127.0.0.1:14000/authZ/def"]})";

constexpr const char* kDocsAuthorization = R"({
  "status": "pending", "identifier": {"type": "dns", "value": "web.example.com"},
  "challenges": [
    {"type": "tls-alpn-01", "url": "https://127.0.0.1:14000/chalZ/1", "token": "aB-_9", "status": "pending"},
    {"type": "http-01", "url": "https://127.0.0.1:14000/chalZ/2", "token": "tok-EN_2", "status": "pending"}],
  "expires": "2030-01-01T00:00:00Z"})";

std::string docsReplace(std::string text, const std::string& from, const std::string& to) {
  const auto at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  return text.replace(at, from.size(), to);
}

TEST(AcmeDirectory, ParsesEveryEndpointAndMeta) {
  auto d = parseDirectory(kDocsDirectory);
  ASSERT_TRUE(d.ok()) << d.error().message;
  EXPECT_EQ(d->new_nonce, "https://127.0.0.1:14000/nonce-plz");
  EXPECT_EQ(d->new_account, "https://127.0.0.1:14000/sign-me-up");
  EXPECT_EQ(d->new_order, "https://127.0.0.1:14000/order-plz");
  EXPECT_EQ(d->revoke_cert, "https://127.0.0.1:14000/revoke-cert");
  EXPECT_EQ(d->terms_of_service, "data:text/plain,Do%20what%20thou%20wilt");
  EXPECT_FALSE(d->external_account_required);
}

TEST(AcmeDirectory, RefusalsNameTheFieldAndTheRule) {
  auto missing = parseDirectory(R"({"newNonce":"https://a/n","newAccount":"https://a/a"})");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().message, "field 'directory.newOrder': is required");
  auto plain = parseDirectory(docsReplace(kDocsDirectory, "https://127.0.0.1:14000/order-plz", "http://x/order"));
  EXPECT_EQ(plain.error().message, "field 'directory.newOrder': must be an https:// URL");
  auto number = parseDirectory(docsReplace(kDocsDirectory, "\"externalAccountRequired\": false",
                                           "\"externalAccountRequired\": 1"));
  EXPECT_EQ(number.error().message, "field 'directory.meta.externalAccountRequired': must be a boolean");
  EXPECT_FALSE(parseDirectory("[]").ok());
  EXPECT_FALSE(parseDirectory("{").ok());
  EXPECT_FALSE(parseDirectory(std::string(100, '[') + std::string(100, ']')).ok());  // depth bounded
}

TEST(AcmeOrder, ParsesAPendingOrderAndAValidOneNeedsItsCertificateUrl) {
  auto o = parseOrder(kDocsOrder);
  ASSERT_TRUE(o.ok()) << o.error().message;
  EXPECT_EQ(o->status, "pending");
  ASSERT_EQ(o->identifiers.size(), 1u);
  EXPECT_EQ(o->identifiers[0].value, "web.example.com");
  EXPECT_EQ(o->authorizations, std::vector<std::string>{"https://127.0.0.1:14000/authZ/def"});
  EXPECT_EQ(o->finalize, "https://127.0.0.1:14000/finalize-order/abc");
  auto valid = parseOrder(docsReplace(kDocsOrder, "\"pending\"", "\"valid\""));
  EXPECT_EQ(valid.error().message, "field 'order.certificate': is required");
  auto with = parseOrder(docsReplace(docsReplace(kDocsOrder, "\"pending\"", "\"valid\""), "\"expires\"",
                                     "\"certificate\": \"https://127.0.0.1:14000/certZ/1\", \"expires\""));
  ASSERT_TRUE(with.ok()) << with.error().message;
  EXPECT_EQ(with->certificate, "https://127.0.0.1:14000/certZ/1");
}

TEST(AcmeOrder, RefusesUnknownStatusesBadListsAndCarriesItsProblem) {
  EXPECT_EQ(parseOrder(docsReplace(kDocsOrder, "\"pending\"", "\"done\"")).error().message,
            "field 'order.status': must be one of pending, ready, processing, valid, invalid (got 'done')");
  EXPECT_EQ(parseOrder(docsReplace(kDocsOrder, "[\"https://127.0.0.1:14000/authZ/def\"]", "[7]")).error().message,
            "field 'order.authorizations[0]': must be a string");
  EXPECT_EQ(parseOrder(docsReplace(kDocsOrder, "\"type\": \"dns\", ", "")).error().message,
            "field 'order.identifiers[0].type': is required");
  auto invalid = parseOrder(docsReplace(docsReplace(kDocsOrder, "\"pending\"", "\"invalid\""), "\"expires\"",
                                        R"("error": {"type": "urn:ietf:params:acme:error:unauthorized",
                                            "detail": "no", "status": 403}, "expires")"));
  ASSERT_TRUE(invalid.ok()) << invalid.error().message;
  ASSERT_TRUE(invalid->error.has_value());
  EXPECT_EQ(invalid->error->shortType(), "unauthorized");
  EXPECT_EQ(invalid->error->status, 403);
}

TEST(AcmeAuthorization, ParsesChallengesOfEveryType) {
  auto a = parseAuthorization(kDocsAuthorization);
  ASSERT_TRUE(a.ok()) << a.error().message;
  EXPECT_EQ(a->identifier.value, "web.example.com");
  EXPECT_EQ(a->status, "pending");
  ASSERT_EQ(a->challenges.size(), 2u);
  EXPECT_EQ(a->challenges[1].type, "http-01");
  EXPECT_EQ(a->challenges[1].token, "tok-EN_2");
  EXPECT_EQ(a->challenges[1].url, "https://127.0.0.1:14000/chalZ/2");
  EXPECT_FALSE(a->wildcard);
}

TEST(AcmeAuthorization, ATokenThatCouldLeaveTheChallengeDirectoryIsRefused) {
  auto a = parseAuthorization(docsReplace(kDocsAuthorization, "tok-EN_2", "../../etc/passwd"));
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.error().message,
            "field 'authorization.challenges[1].token': must hold only base64url characters [A-Za-z0-9_-]");
  EXPECT_EQ(parseAuthorization(docsReplace(kDocsAuthorization, ", \"token\": \"tok-EN_2\"", "")).error().message,
            "field 'authorization.challenges[1].token': is required");
  EXPECT_EQ(parseAuthorization(docsReplace(kDocsAuthorization, "\"status\": \"pending\", \"identifier\"",
                                           "\"status\": \"sleeping\", \"identifier\""))
                .error()
                .message,
            "field 'authorization.status': must be one of pending, valid, invalid, deactivated, expired, revoked "
            "(got 'sleeping')");
}

TEST(AcmeChallenge, ParsesItsErrorAfterAFailedValidation) {
  auto c = parseChallenge(R"({"type":"http-01","url":"https://a/c","token":"t","status":"invalid",
      "error":{"type":"urn:ietf:params:acme:error:connection","detail":"connection refused","status":400}})");
  ASSERT_TRUE(c.ok()) << c.error().message;
  ASSERT_TRUE(c->error.has_value());
  EXPECT_EQ(c->error->shortType(), "connection");
  EXPECT_EQ(c->error->detail, "connection refused");
  EXPECT_EQ(parseChallenge(R"({"type":"http-01","url":"https://a/c","token":"t","status":"valid",
      "error":{"status":"x"}})").error().message, "field 'challenge.error.status': must be an integer");
}

TEST(AcmeProblem, ParsesTypeDetailAndStatusAndNeedsAType) {
  auto p = parseProblem(R"({"type":"urn:ietf:params:acme:error:badNonce","detail":"JWS has an invalid anti-replay nonce","status":400})");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->shortType(), "badNonce");
  EXPECT_EQ(p->detail, "JWS has an invalid anti-replay nonce");
  EXPECT_EQ(p->status, 400);
  EXPECT_EQ(parseProblem(R"({"detail":"x"})").error().message, "field 'problem.type': is required");
  EXPECT_EQ(parseProblem(R"({"type":"x","status":700})").error().message,
            "field 'problem.status': must be an HTTP status (100-599)");
}

}  // namespace
}  // namespace berth::acme
