#include "common/ids.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <vector>

namespace berth {
namespace {

bool lowerHex(const std::string& s) { return s.find_first_not_of("0123456789abcdef") == std::string::npos; }

TEST(Ids, TimeOrderedIdsSortByCreationTime) {
  // Made out of order in time, sorted as text they come back in time order.
  const std::vector<std::int64_t> times = {1'790'000'000'123, 5, 1'790'000'000'122, 0, 1'790'000'001'000, 99'999};
  std::vector<std::pair<std::string, std::int64_t>> made;
  for (auto t : times) made.emplace_back(newTimeOrderedId("cmd", t), t);
  std::sort(made.begin(), made.end());
  for (std::size_t i = 1; i < made.size(); ++i) EXPECT_LT(made[i - 1].second, made[i].second) << made[i].first;
}

TEST(Ids, TimeOrderedIdsCarryTheMillisecondAndSixtyFourRandomBits) {
  const std::string id = newTimeOrderedId("cmd", 0x0123456789ab);
  ASSERT_EQ(id.size(), 4u + 12u + 16u);
  EXPECT_EQ(id.substr(0, 16), "cmd_0123456789ab");
  EXPECT_TRUE(lowerHex(id.substr(4)));
  // Same millisecond, different ids: the random part decides.
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) seen.insert(newTimeOrderedId("cmd", 42));
  EXPECT_EQ(seen.size(), 1000u);
}

TEST(Ids, TimeOrderedIdsClampAClockOutOfRange) {
  // A negative or far-future clock must not wrap into the middle of the order.
  EXPECT_EQ(newTimeOrderedId("c", -5).substr(0, 14), "c_000000000000");
  EXPECT_EQ(newTimeOrderedId("c", std::int64_t{1} << 62).substr(0, 14), "c_ffffffffffff");
  EXPECT_GT(newTimeOrderedId("c", std::int64_t{1} << 62), newTimeOrderedId("c", (std::int64_t{1} << 48) - 2));
}

// The audit chain and stored key hashes depend on these exact digests (FIPS 180-2 vectors).
TEST(Ids, Sha256HexMatchesTheStandardVectors) {
  EXPECT_EQ(sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256Hex(std::string(1'000'000, 'a')),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

}  // namespace
}  // namespace berth
