#include "helper/helper_protocol.hpp"

#include <gtest/gtest.h>

namespace berth::helper {
namespace {

const std::string kKey(32, 'k');
const std::string kNonce = "0123456789abcdef0123456789abcdef";
constexpr std::int64_t kNow = 1'700'000'000'000;

Request signedRequest(const std::string& verb, const nlohmann::json& args, std::int64_t expires = kNow + 10'000,
                      const std::string& key = kKey) {
  auto r = parseRequest(encodeRequest(key, verb, args, kNonce, expires));
  EXPECT_TRUE(r.ok()) << r.error().message;
  return *r;
}

TEST(HelperProtocol, CanonicalFormIsIndependentOfSpacingAndKeyOrder) {
  const auto a = nlohmann::json::parse(R"({"pid": 5, "in_bps": 1})");
  const auto b = nlohmann::json::parse(R"({"in_bps":1,"pid":5})");
  EXPECT_EQ(canonicalRequest("traffic.shape", a, kNonce, 7), canonicalRequest("traffic.shape", b, kNonce, 7));
  EXPECT_EQ(canonicalRequest("v", a, kNonce, 7),
            "berth-helper/1\nv\n0123456789abcdef0123456789abcdef\n7\n{\"in_bps\":1,\"pid\":5}");
}

TEST(HelperProtocol, ASignedRequestAuthenticates) {
  auto r = signedRequest("nginx.reload", {{"config", "/x/nginx.conf"}});
  EXPECT_TRUE(authenticate(r, kKey, kNow, {}).ok());
}

TEST(HelperProtocol, AnotherKeyOrAnyAlteredFieldFailsTheMac) {
  auto wrongKey = signedRequest("nginx.reload", {{"config", "/x/nginx.conf"}}, kNow + 10'000, std::string(32, 'j'));
  EXPECT_EQ(authenticate(wrongKey, kKey, kNow, {}).error().code, "bad_mac");
  auto r = signedRequest("nginx.reload", {{"config", "/x/nginx.conf"}});
  for (int field = 0; field < 4; ++field) {
    Request altered = r;
    if (field == 0) altered.verb = "nginx.start";
    if (field == 1) altered.args["config"] = "/y/nginx.conf";
    if (field == 2) altered.nonce[0] = 'f';
    if (field == 3) altered.expires_ms += 1;
    EXPECT_EQ(authenticate(altered, kKey, kNow, {}).error().code, "bad_mac") << field;
  }
}

TEST(HelperProtocol, ExpiryHasABoundedSkewWindow) {
  const Freshness f{30'000, 5'000};
  EXPECT_TRUE(authenticate(signedRequest("v", nlohmann::json::object(), kNow - 5'000), kKey, kNow, f).ok());  // within the skew
  EXPECT_EQ(authenticate(signedRequest("v", nlohmann::json::object(), kNow - 5'001), kKey, kNow, f).error().code, "expired");
  EXPECT_TRUE(authenticate(signedRequest("v", nlohmann::json::object(), kNow + 35'000), kKey, kNow, f).ok());
  EXPECT_EQ(authenticate(signedRequest("v", nlohmann::json::object(), kNow + 35'001), kKey, kNow, f).error().code, "bad_expiry");
  // Extremes cannot overflow into "fresh".
  EXPECT_EQ(authenticate(signedRequest("v", nlohmann::json::object(), INT64_MIN), kKey, kNow, f).error().code, "expired");
  EXPECT_EQ(authenticate(signedRequest("v", nlohmann::json::object(), INT64_MAX), kKey, kNow, f).error().code, "bad_expiry");
  EXPECT_EQ(authenticate(signedRequest("v", nlohmann::json::object(), INT64_MIN), kKey, INT64_MAX, f).error().code, "expired");
}

TEST(HelperProtocol, MalformedRequestsNameTheField) {
  EXPECT_EQ(parseRequest("not json").error().code, "bad_request");
  EXPECT_EQ(parseRequest("[]").error().code, "bad_request");
  const std::string good = encodeRequest(kKey, "v", nlohmann::json::object(), kNonce, kNow);
  auto with = [&](const char* key, nlohmann::json value) {
    auto j = nlohmann::json::parse(good);
    if (value.is_null()) j.erase(key);
    else j[key] = value;
    return parseRequest(j.dump());
  };
  EXPECT_TRUE(with("verb", "v").ok());
  EXPECT_NE(with("verb", nullptr).error().message.find("'verb'"), std::string::npos);
  EXPECT_NE(with("verb", "Nginx;rm").error().message.find("'verb'"), std::string::npos);
  EXPECT_NE(with("verb", std::string(33, 'a')).error().message.find("'verb'"), std::string::npos);
  EXPECT_NE(with("args", "x").error().message.find("'args'"), std::string::npos);
  EXPECT_NE(with("nonce", "abc").error().message.find("'nonce'"), std::string::npos);
  EXPECT_NE(with("nonce", std::string(32, 'G')).error().message.find("'nonce'"), std::string::npos);
  EXPECT_NE(with("expires_ms", "1").error().message.find("'expires_ms'"), std::string::npos);
  EXPECT_NE(with("expires_ms", 1.5).error().message.find("'expires_ms'"), std::string::npos);
  EXPECT_NE(with("mac", std::string(63, 'a')).error().message.find("'mac'"), std::string::npos);
  EXPECT_NE(with("extra", 1).error().message.find("'extra'"), std::string::npos);
  EXPECT_EQ(parseRequest(std::string(kMaxRequestBytes + 1, ' ')).error().code, "bad_request");
  // Nesting beyond the JSON depth bound is refused, not recursed into.
  EXPECT_EQ(parseRequest(std::string(100000, '[')).error().code, "bad_request");
  // A huge unsigned expiry is clamped, not wrapped negative.
  auto huge = nlohmann::json::parse(good);
  huge["expires_ms"] = std::uint64_t{18'000'000'000'000'000'000u};
  EXPECT_EQ(parseRequest(huge.dump())->expires_ms, INT64_MAX);
}

TEST(HelperProtocol, NonceCacheRefusesReplaysUntilTheRequestCouldNoLongerPass) {
  NonceCache cache(3, 5'000);
  EXPECT_TRUE(cache.insert("a", kNow + 1'000, kNow).ok());
  EXPECT_EQ(cache.insert("a", kNow + 1'000, kNow).error().code, "replayed");
  // Still held while authenticate() would accept it (expires + skew) ...
  EXPECT_EQ(cache.insert("a", kNow + 1'000, kNow + 6'000).error().code, "replayed");
  // ... and forgotten after, when the clock check refuses it anyway.
  EXPECT_TRUE(cache.insert("a", kNow + 10'000, kNow + 6'001).ok());
  EXPECT_TRUE(cache.insert("b", kNow + 10'000, kNow + 6'001).ok());
  EXPECT_TRUE(cache.insert("c", kNow + 10'000, kNow + 6'001).ok());
  EXPECT_EQ(cache.insert("d", kNow + 10'000, kNow + 6'001).error().code, "busy");  // bounded
  EXPECT_EQ(cache.size(), 3u);
  EXPECT_TRUE(cache.insert("e", INT64_MAX, kNow + 20'000).ok());  // no overflow at the far end
}

TEST(HelperProtocol, KeysAreExactly64LowerHex) {
  EXPECT_EQ(parseKey(std::string(64, 'a') + "\n")->size(), 32u);
  EXPECT_EQ(*parseKey("00ff" + std::string(60, '0')), std::string("\x00\xff", 2) + std::string(30, '\0'));
  EXPECT_FALSE(parseKey(std::string(63, 'a')).ok());
  EXPECT_FALSE(parseKey(std::string(64, 'A')).ok());
  EXPECT_FALSE(parseKey("").ok());
}

TEST(HelperProtocol, FramesAndResponsesRoundTrip) {
  const auto f = frame("hello");
  ASSERT_EQ(f.size(), 9u);
  EXPECT_EQ(frameLength(reinterpret_cast<const unsigned char*>(f.data())), 5u);
  const unsigned char big[4] = {0xff, 0xff, 0xff, 0xff};
  EXPECT_EQ(frameLength(big), 0xffffffffu);
  EXPECT_EQ(*parseResponse(okResponse("done")), "done");
  auto err = parseResponse(errorResponse(makeError("replayed", "again")));
  EXPECT_EQ(err.error().code, "replayed");
  EXPECT_EQ(err.error().message, "again");
  EXPECT_EQ(parseResponse("{}").error().code, "bad_response");
  EXPECT_EQ(parseResponse("garbage").error().code, "bad_response");
}

}  // namespace
}  // namespace berth::helper
