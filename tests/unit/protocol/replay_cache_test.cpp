#include "protocol/replay_cache.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <deque>
#include <limits>
#include <random>
#include <set>
#include <string>

namespace berth::protocol {
namespace {

constexpr std::int64_t kHorizon = 60'000;
constexpr std::int64_t kCacheNow = 1'700'000'000'000;

TEST(ReplayCache, RefusesANonceSeenWithinTheHorizon) {
  ReplayCache cache(4096, kHorizon);
  EXPECT_TRUE(cache.insert("a", kCacheNow, kCacheNow));
  EXPECT_TRUE(cache.insert("b", kCacheNow, kCacheNow));
  EXPECT_FALSE(cache.insert("a", kCacheNow, kCacheNow + kHorizon));
  EXPECT_EQ(cache.size(), 2u);
}

TEST(ReplayCache, ABurstIsBoundedByTheCapacityAndItsForgottenNoncesStayRefused) {
  ReplayCache cache(2, kHorizon);
  EXPECT_TRUE(cache.insert("a", kCacheNow, kCacheNow));
  EXPECT_TRUE(cache.insert("b", kCacheNow + 1, kCacheNow));
  EXPECT_FALSE(cache.insert("a", kCacheNow, kCacheNow));
  EXPECT_TRUE(cache.insert("c", kCacheNow + 2, kCacheNow));  // forgets "a"
  EXPECT_EQ(cache.size(), 2u);
  // Found by the attack pass: the forgotten "a" is inside the clock window, yet must not pass again.
  EXPECT_FALSE(cache.insert("a", kCacheNow, kCacheNow));
  EXPECT_EQ(cache.forgottenBefore(), kCacheNow + 1);
  EXPECT_TRUE(cache.insert("d", kCacheNow + 1, kCacheNow));  // issued with "b", which is still recorded
}

TEST(ReplayCache, ForgetsNoncesIssuedBeforeTheHorizon) {
  // A session that lives for days keeps only the last minute's nonces, not 4,096.
  ReplayCache cache(4096, kHorizon);
  for (int i = 0; i < 5000; ++i) {
    const std::int64_t at = kCacheNow + i * 20'000LL;  // a heartbeat every 20 s
    ASSERT_TRUE(cache.insert("hb" + std::to_string(i), at, at));
  }
  EXPECT_LE(cache.size(), 4u);
  EXPECT_LE(cache.slots(), 16u);
}

TEST(ReplayCache, AClockSteppedBackForgetsNothingAndTakesNothingOlder) {
  ReplayCache cache(4096, kHorizon);
  EXPECT_TRUE(cache.insert("a", kCacheNow, kCacheNow));
  // The server's clock goes back an hour: "a" is in the future now, and still recorded.
  EXPECT_FALSE(cache.insert("a", kCacheNow, kCacheNow - 3'600'000));
  // A frame issued before the horizon of the latest clock seen is refused: its nonce may be one
  // forgotten already. (A session whose peer's clock went back this far is dropped as silent and
  // dials again: a new session starts a new cache.)
  EXPECT_FALSE(cache.insert("b", kCacheNow - 3'600'000, kCacheNow - 3'600'000));
  EXPECT_TRUE(cache.insert("c", kCacheNow - kHorizon, kCacheNow - 3'600'000));
  EXPECT_EQ(cache.size(), 2u);
}

TEST(ReplayCache, AClockThatWentForwardThenBackCannotBringAForgottenNonceBack) {
  // Found by the attack pass: "a" forgotten after the clock passed its horizon, then the clock
  // steps back to where "a" would pass the validator's clock check again.
  ReplayCache cache(4096, kHorizon);
  EXPECT_TRUE(cache.insert("a", kCacheNow, kCacheNow));
  EXPECT_TRUE(cache.insert("b", kCacheNow + kHorizon + 1000, kCacheNow + kHorizon + 1000));  // forgets "a"
  EXPECT_EQ(cache.size(), 1u);
  EXPECT_EQ(cache.forgottenBefore(), kCacheNow + 1000);
  EXPECT_FALSE(cache.insert("a", kCacheNow, kCacheNow + 21'000));  // stepped back: still a replay
  EXPECT_TRUE(cache.insert("c", kCacheNow + 2000, kCacheNow + 21'000));  // a frame issued since then passes
}

TEST(ReplayCache, AtCapacityTheTableDoesNotGrowPastTwiceIt) {
  ReplayCache cache(4096, kHorizon);
  for (int i = 0; i < 10'000; ++i) ASSERT_TRUE(cache.insert("n" + std::to_string(i), kCacheNow + i, kCacheNow));
  EXPECT_EQ(cache.size(), 4096u);
  EXPECT_EQ(cache.slots(), 8192u);
}

TEST(ReplayCache, GivesBackItsTableAfterABurst) {
  ReplayCache cache(4096, kHorizon);
  for (int i = 0; i < 4096; ++i) ASSERT_TRUE(cache.insert("burst" + std::to_string(i), kCacheNow, kCacheNow));
  EXPECT_GE(cache.slots(), 8192u);
  EXPECT_TRUE(cache.insert("later", kCacheNow + kHorizon + 1, kCacheNow + kHorizon + 1));
  EXPECT_EQ(cache.size(), 1u);
  EXPECT_LE(cache.slots(), 8u);
}

TEST(ReplayCache, AgreesWithASimpleModelUnderRandomTraffic) {
  // The open-addressing table (its deletions above all) against a std::set.
  std::mt19937_64 random(7);
  ReplayCache cache(300, kHorizon);
  std::deque<std::pair<std::string, std::int64_t>> order;
  std::set<std::string> seen;
  std::int64_t now = kCacheNow, floor = std::numeric_limits<std::int64_t>::min();
  for (int step = 0; step < 200'000; ++step) {
    // Mostly forward, sometimes a step back or a jump ahead.
    const auto dice = random() % 1000;
    now += dice == 0 ? -static_cast<std::int64_t>(random() % 120'000)
                     : dice == 1 ? static_cast<std::int64_t>(random() % 120'000) : static_cast<std::int64_t>(random() % 400);
    const std::int64_t issued = now - static_cast<std::int64_t>(random() % 30'000);
    const std::string nonce = "n" + std::to_string(random() % 2000);
    floor = std::max(floor, now - kHorizon);
    while (!order.empty() && order.front().second < floor) {
      seen.erase(order.front().first);
      order.pop_front();
    }
    const bool fresh = issued >= floor && !seen.count(nonce);
    if (fresh) {
      while (order.size() >= 300) {
        floor = std::max(floor, order.front().second + 1);
        seen.erase(order.front().first);
        order.pop_front();
      }
      seen.insert(nonce);
      order.emplace_back(nonce, issued);
    }
    ASSERT_EQ(cache.insert(nonce, issued, now), fresh) << "step " << step;
    ASSERT_EQ(cache.size(), order.size()) << "step " << step;
  }
}

}  // namespace
}  // namespace berth::protocol
