#include "agent/resident_trim.hpp"

#include <gtest/gtest.h>

namespace berth::agent {
namespace {

TEST(ResidentTrim, SelectsOnlyPrivateExecutableFileMappings) {
  unsigned long start = 0, end = 0;
  EXPECT_TRUE(isExecutableFileMapping(
      "7f0a1c000000-7f0a1c200000 r-xp 00028000 08:01 1234 /usr/lib/x86_64-linux-gnu/libcrypto.so.3", start, end));
  EXPECT_EQ(start, 0x7f0a1c000000ul);
  EXPECT_EQ(end, 0x7f0a1c200000ul);
  // Relocated read-only data, writable data, anonymous and special mappings stay.
  EXPECT_FALSE(isExecutableFileMapping("7f0a1c200000-7f0a1c300000 r--p 00228000 08:01 1234 /usr/lib/libcrypto.so.3",
                                       start, end));
  EXPECT_FALSE(isExecutableFileMapping("7f0a1c300000-7f0a1c310000 rw-p 00328000 08:01 1234 /usr/lib/libcrypto.so.3",
                                       start, end));
  EXPECT_FALSE(isExecutableFileMapping("7ffd1000-7ffd3000 r-xp 00000000 00:00 0 [vdso]", start, end));
  EXPECT_FALSE(isExecutableFileMapping("55d0c000-55d0e000 rw-p 00000000 00:00 0", start, end));
  EXPECT_FALSE(isExecutableFileMapping("7f0a-7f0b r-xs 00000000 08:01 99 /dev/shm/x", start, end));
}

TEST(ResidentTrim, TheProcessKeepsRunningAfterATrim) {
  trimResidentText();
  std::string text = "still here";
  EXPECT_EQ(text.size(), 10u);  // code pages fault back in on demand
}

}  // namespace
}  // namespace berth::agent
