// Bearer token shapes, secret comparison and lifetimes.
#include "auth/credentials.hpp"

#include <gtest/gtest.h>

#include "common/ids.hpp"

namespace berth::auth {
namespace {

TEST(Credentials, MintedTokensParseBackAndOnlyTheirSecretMatches) {
  const auto t = mintToken(kKeyKind);
  auto parsed = parseToken(t.text);
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(parsed->kind, "bk");
  EXPECT_EQ(parsed->prefix, t.prefix);
  EXPECT_TRUE(secretMatches(parsed->secret, t.secret_hash));
  EXPECT_EQ(t.text.find(t.secret_hash), std::string::npos);  // the stored hash is not in the token
  std::string other = parsed->secret;
  other.back() = other.back() == '0' ? '1' : '0';
  EXPECT_FALSE(secretMatches(other, t.secret_hash));
  EXPECT_FALSE(secretMatches(parsed->secret, ""));
  EXPECT_NE(mintToken(kKeyKind).prefix, t.prefix);
}

TEST(Credentials, AnythingButTheExactShapeIsNotAToken) {
  const std::string prefix(12, 'a'), secret(48, 'b');
  EXPECT_TRUE(parseToken("bs_" + prefix + "_" + secret).has_value());
  EXPECT_FALSE(parseToken("bx_" + prefix + "_" + secret).has_value());         // unknown kind
  EXPECT_FALSE(parseToken("bk_" + prefix + "_" + secret + "0").has_value());   // too long
  EXPECT_FALSE(parseToken("bk_" + prefix + "-" + secret).has_value());         // separator
  EXPECT_FALSE(parseToken("bk_" + std::string(12, 'A') + "_" + secret).has_value());  // upper case
  EXPECT_FALSE(parseToken("bk_" + prefix + "_" + std::string(47, 'b') + "%").has_value());
  EXPECT_FALSE(parseToken("bk_" + randomHex(24)).has_value());  // a key made before prefixes
  EXPECT_FALSE(parseToken("").has_value());
  EXPECT_FALSE(parseToken(std::string("bk_") + prefix + "_" + std::string(47, 'b') + '\0').has_value());
}

TEST(Credentials, LifetimesHaveAUnitAndACeiling) {
  EXPECT_EQ(parseLifetime("expires_in", "30d", 3650LL * 86'400'000).value(), 30LL * 86'400'000);
  EXPECT_EQ(parseLifetime("overlap", "1h", 86'400'000).value(), 3'600'000);
  EXPECT_EQ(parseLifetime("overlap", "90s", 86'400'000).value(), 90'000);
  EXPECT_EQ(parseLifetime("overlap", "0", 86'400'000).value(), 0);
  for (const char* bad : {"", "1", "d", "-1h", "1.5h", "1w", "0h", "1 h", "99999999999d"}) {
    auto r = parseLifetime("overlap", bad, 86'400'000);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_NE(r.error().message.find("field 'overlap'"), std::string::npos) << bad;
  }
  EXPECT_FALSE(parseLifetime("overlap", "2d", 86'400'000).ok());  // above the ceiling
}

}  // namespace
}  // namespace berth::auth
