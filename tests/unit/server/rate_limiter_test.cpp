#include "server/rate_limiter.hpp"

#include <gtest/gtest.h>

namespace berth::server {
namespace {

TEST(RateLimiter, BurstThenRefillPerKey) {
  RateLimiter limiter(5.0, 10.0);
  const std::int64_t t0 = 1'000'000;
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(limiter.allowed("a", t0)) << i;
    limiter.charge("a", t0);
  }
  EXPECT_FALSE(limiter.allowed("a", t0));
  EXPECT_EQ(limiter.retryAfterSeconds("a", t0), 1);
  EXPECT_TRUE(limiter.allowed("b", t0));  // another address has its own bucket
  EXPECT_FALSE(limiter.allowed("a", t0 + 100));  // half a token
  EXPECT_TRUE(limiter.allowed("a", t0 + 200));   // one token after 1/5 s
  limiter.charge("a", t0 + 200);
  EXPECT_FALSE(limiter.allowed("a", t0 + 200));
  EXPECT_TRUE(limiter.allowed("a", t0 + 60'000));  // full again, capped at the burst
  for (int i = 0; i < 10; ++i) limiter.charge("a", t0 + 60'000);
  EXPECT_FALSE(limiter.allowed("a", t0 + 60'000));
}

TEST(RateLimiter, AllowedTakesNothing) {
  RateLimiter limiter(1.0, 1.0);
  for (int i = 0; i < 100; ++i) EXPECT_TRUE(limiter.allowed("a", 0));
  limiter.charge("a", 0);
  EXPECT_FALSE(limiter.allowed("a", 0));
  EXPECT_EQ(limiter.retryAfterSeconds("a", 0), 1);
}

TEST(RateLimiter, ASlowerRateFromAReloadTakesEffectAndAClockGoingBackRefillsNothing) {
  RateLimiter limiter(50.0, 100.0);
  const std::int64_t t0 = 5'000'000;
  limiter.setRate(1.0, 2.0);
  for (int i = 0; i < 2; ++i) limiter.charge("key:a", t0);
  EXPECT_FALSE(limiter.allowed("key:a", t0));
  EXPECT_EQ(limiter.retryAfterSeconds("key:a", t0), 1);
  EXPECT_FALSE(limiter.allowed("key:a", t0 - 3'600'000));  // a clock stepped back gives no tokens
  EXPECT_TRUE(limiter.allowed("key:b", t0));
  EXPECT_TRUE(limiter.allowed("key:a", t0 + 1000));
}

}  // namespace
}  // namespace berth::server
