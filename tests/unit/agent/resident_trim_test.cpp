#include "agent/resident_trim.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

namespace berth::agent {
namespace {

using Ranges = std::vector<std::pair<unsigned long, unsigned long>>;

Ranges droppable(const std::string& smaps) {
  std::istringstream in(smaps);
  return droppableFileMappings(in);
}

TEST(ResidentTrim, DropsReadOnlyFileMappingsThatHoldNoPrivateCopy) {
  const std::string smaps =
      "7f0a1c000000-7f0a1c200000 r-xp 00028000 08:01 1234 /usr/lib/x86_64-linux-gnu/libcrypto.so.3\n"
      "Size:               2048 kB\n"
      "Rss:                 756 kB\n"
      "Anonymous:             0 kB\nSwap:                  0 kB\nPrivate_Hugetlb:       0 kB\n"
      "AnonHugePages:         0 kB\n"
      "VmFlags: rd ex mr mw me\n"
      "7f0a1c200000-7f0a1c300000 r--p 00228000 08:01 1234 /usr/lib/x86_64-linux-gnu/libcrypto.so.3\n"
      "Anonymous:             0 kB\nSwap:                  0 kB\nPrivate_Hugetlb:       0 kB\n"
      // Relocated read-only data: its pages are private copies, dropping them would lose the relocations.
      "7f0a1c300000-7f0a1c310000 r--p 00328000 08:01 1234 /usr/lib/x86_64-linux-gnu/libcrypto.so.3\n"
      "Anonymous:            64 kB\nSwap:                  0 kB\nPrivate_Hugetlb:       0 kB\n"
      "7f0a1c310000-7f0a1c320000 rw-p 00338000 08:01 1234 /usr/lib/x86_64-linux-gnu/libcrypto.so.3\n"
      "Anonymous:             0 kB\nSwap:                  0 kB\nPrivate_Hugetlb:       0 kB\n"
      "7ffd1000-7ffd3000 r-xp 00000000 00:00 0                          [vdso]\n"
      "Anonymous:             0 kB\nSwap:                  0 kB\nPrivate_Hugetlb:       0 kB\n"
      "55d0c000-55d0e000 rw-p 00000000 00:00 0\n"
      "Anonymous:             8 kB\nSwap:                  0 kB\nPrivate_Hugetlb:       0 kB\n"
      "7f0a-7f0b r-xs 00000000 08:01 99 /dev/shm/x\n"
      "Anonymous:             0 kB\nSwap:                  0 kB\nPrivate_Hugetlb:       0 kB\n"
      "7f0b0000-7f0c0000 r--p 00000000 08:01 77 /usr/lib/locale/C.utf8/LC_CTYPE\n"
      "Anonymous:             0 kB\nSwap:                  0 kB\nPrivate_Hugetlb:       0 kB\n";
  EXPECT_EQ(droppable(smaps), (Ranges{{0x7f0a1c000000ul, 0x7f0a1c200000ul},
                                      {0x7f0a1c200000ul, 0x7f0a1c300000ul},
                                      {0x7f0b0000ul, 0x7f0c0000ul}}));
}

TEST(ResidentTrim, AMappingWithAPrivateCopyInSwapOrHugePagesIsKept) {
  // A relocated page swapped out shows under Swap, not Anonymous (found by the attack pass):
  // dropping it would bring back the file's unrelocated bytes.
  EXPECT_TRUE(droppable("7f0a1c300000-7f0a1c310000 r--p 00328000 08:01 1234 /usr/lib/libcrypto.so.3\n"
                        "Anonymous:             0 kB\nSwap:                  8 kB\nPrivate_Hugetlb:       0 kB\n")
                  .empty());
  EXPECT_TRUE(droppable("7f0a00000000-7f0a00200000 r--p 00000000 00:10 55 /dev/hugepages/data\n"
                        "Anonymous:             0 kB\nSwap:                  0 kB\nPrivate_Hugetlb:    2048 kB\n")
                  .empty());
  EXPECT_TRUE(droppable("7f0a00000000-7f0a00200000 r--p 00000000 00:10 55 /dev/hugepages/data\n"
                        "Anonymous:             0 kB\nSwap:                  0 kB\nPrivate_Hugetlb:       0 kB\n"
                        "VmFlags: rd mr mw me ht\n")
                  .empty());
}

TEST(ResidentTrim, AMappingWhosePrivatePagesCannotBeReadIsKept) {
  // No Anonymous line (an old kernel) or an unreadable one: not known to be clean, not dropped.
  EXPECT_TRUE(droppable("7f0a1c000000-7f0a1c200000 r-xp 00028000 08:01 1234 /usr/lib/libz.so\n"
                        "Anonymous:           garbage\n")
                  .empty());
  EXPECT_TRUE(droppable("7f0a1c000000-7f0a1c200000 r-xp 00028000 08:01 1234 /usr/lib/libz.so\n").empty());
}

TEST(ResidentTrim, TheProcessKeepsRunningAfterATrim) {
  std::ifstream smaps("/proc/self/smaps");
  ASSERT_FALSE(droppableFileMappings(smaps).empty());  // this test binary's own text at least
  trimResidentMemory();
  std::string text = "still here";
  EXPECT_EQ(text.size(), 10u);  // code and read-only data fault back in on demand
}

}  // namespace
}  // namespace berth::agent
