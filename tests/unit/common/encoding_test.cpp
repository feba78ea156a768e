#include "common/encoding.hpp"

#include <gtest/gtest.h>

namespace berth {
namespace {

TEST(PercentEncode, UserTextStaysOnePathSegment) {
  EXPECT_EQ(percentEncode("a.com/../x?y#z"), "a.com%2F..%2Fx%3Fy%23z");
  EXPECT_EQ(percentEncode("a b\r\n"), "a%20b%0D%0A");
  EXPECT_EQ(percentEncode("-_.~AZaz09"), "-_.~AZaz09");
  EXPECT_EQ(percentEncode("*.a.com"), "%2A.a.com");
  EXPECT_EQ(percentEncode("*.a.com", "*"), "*.a.com");  // kept only when asked
  EXPECT_EQ(percentEncode("\xc3\xa9"), "%C3%A9");
}

}  // namespace
}  // namespace berth
