#include "common/token_bucket.hpp"

#include <gtest/gtest.h>

namespace berth {
namespace {

int takeAll(TokenBucket& bucket, std::int64_t now_ms) {
  int taken = 0;
  while (bucket.take(now_ms)) ++taken;
  return taken;
}

TEST(TokenBucket, RefillsAtItsRateUpToItsBurst) {
  TokenBucket bucket(10, 5);  // 10 per second, 5 at once
  EXPECT_EQ(takeAll(bucket, 1'000), 5);
  EXPECT_EQ(takeAll(bucket, 1'200), 2);    // 0.2 s: 2 more
  EXPECT_EQ(takeAll(bucket, 60'000), 5);   // a long quiet time: still only the burst
  EXPECT_EQ(takeAll(bucket, 50'000), 0);   // a clock stepped back gives nothing
}

// Time the party could not be heard (frames waiting unread) is credited beyond the burst, so what it
// sent meanwhile at the rate passes when it is read at once; the burst's refill does not add to it.
TEST(TokenBucket, ACreditGoesBeyondTheBurstOnceAndIsNotClampedAway) {
  TokenBucket bucket(10, 5);
  EXPECT_EQ(takeAll(bucket, 1'000), 5);
  bucket.credit(3'000);                     // 3 s unheard: 30 frames
  EXPECT_EQ(takeAll(bucket, 1'000), 30);
  bucket.credit(3'000);
  EXPECT_EQ(takeAll(bucket, 1'100), 30);   // the credit; no refill on top while it lasts (over the burst)
  EXPECT_EQ(takeAll(bucket, 1'100), 0);
  bucket.credit(-5);                        // nothing taken away
  EXPECT_EQ(takeAll(bucket, 1'300), 2);
}

}  // namespace
}  // namespace berth
