#include <gtest/gtest.h>

#include "agent/agent.hpp"

namespace berth::agent {
namespace {

using std::chrono::milliseconds;

TEST(ReconnectBackoff, OnceASessionExistedTheWaitIsCappedAt15Seconds) {
  // After a partition: many failed dials in a row, but the node had a session.
  for (int failures : {4, 6, 10, 50}) {
    EXPECT_LE(reconnectDelay(failures, true, 60, 1.0), milliseconds(15'000)) << failures;
    EXPECT_GE(reconnectDelay(failures, true, 60, 0.0), milliseconds(7'500)) << failures;  // jitter: [cap/2, cap]
  }
  EXPECT_LT(reconnectDelay(10, true, 60, 0.2), reconnectDelay(10, true, 60, 0.9));  // jitter spreads agents out
  EXPECT_EQ(reconnectDelay(10, true, 5, 1.0), milliseconds(5'000));  // a lower configured cap still holds
  EXPECT_LE(reconnectDelay(0, true, 60, 1.0), milliseconds(1'000));  // right after a session ended
}

TEST(ReconnectBackoff, BeforeAnySessionTheConfiguredCapApplies) {
  EXPECT_EQ(reconnectDelay(10, false, 60, 1.0), milliseconds(60'000));
  EXPECT_EQ(reconnectDelay(10, false, 60, 0.0), milliseconds(30'000));
  EXPECT_EQ(reconnectDelay(1, false, 60, 1.0), milliseconds(2'000));
  EXPECT_EQ(reconnectDelay(3, false, 60, 1.0), milliseconds(8'000));
  EXPECT_EQ(reconnectDelay(1'000'000, false, 3600, 1.0), milliseconds(1'024'000));  // 2^10 at most
  EXPECT_EQ(reconnectDelay(-5, false, 60, 7.0), milliseconds(1'000));  // out-of-range inputs are clamped
}

}  // namespace
}  // namespace berth::agent
