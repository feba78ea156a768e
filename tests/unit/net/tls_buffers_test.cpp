// The per-thread pool for OpenSSL's record buffers, called directly (the unit
// test binary does not hand the hooks to OpenSSL).
#include "net/tls_buffers.hpp"

#include <gtest/gtest.h>

#include <malloc.h>

#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

namespace berth::net {
namespace {

constexpr std::size_t kReadBuffer = 16712;  // OpenSSL 3's TLS read buffer

// Empties this thread's list so each test starts from nothing held.
void drain() {
  tlsReleaseRecordBuffers();
  ASSERT_EQ(tlsRecordBuffersHeld(), 0);
}

TEST(TlsBuffers, AFreedRecordBufferIsReusedByTheNextRecord) {
  drain();
  void* first = tlsMalloc(kReadBuffer, "", 0);
  ASSERT_NE(first, nullptr);
  std::memset(first, 0xab, kReadBuffer);
  tlsFree(first, "", 0);
  EXPECT_EQ(tlsRecordBuffersHeld(), 1);
  // The write buffer's slightly different size shares the class.
  void* second = tlsMalloc(kReadBuffer + 300, "", 0);
  EXPECT_EQ(second, first);
  EXPECT_EQ(tlsRecordBuffersHeld(), 0);
  std::memset(second, 0xcd, kReadBuffer + 300);  // all of it is usable
  tlsFree(second, "", 0);
  drain();
}

TEST(TlsBuffers, OtherSizesAreNotKept) {
  drain();
  for (std::size_t size : {std::size_t{0}, std::size_t{1}, std::size_t{100}, kRecordBufferMin - 1,
                           kRecordBufferClass + 1000, std::size_t{1} << 20}) {
    void* p = tlsMalloc(size, "", 0);
    ASSERT_NE(p, nullptr) << size;
    std::memset(p, 1, size);
    tlsFree(p, "", 0);
    EXPECT_EQ(tlsRecordBuffersHeld(), 0) << size;
  }
  tlsFree(nullptr, "", 0);
}

TEST(TlsBuffers, AThreadKeepsAtMostItsCap) {
  drain();
  std::vector<void*> busy;
  for (int i = 0; i < 3 * kRecordBuffersPerThread; ++i) busy.push_back(tlsMalloc(kReadBuffer, "", 0));
  for (void* p : busy) tlsFree(p, "", 0);
  EXPECT_EQ(tlsRecordBuffersHeld(), kRecordBuffersPerThread);
  drain();
}

TEST(TlsBuffers, ABufferFreedOnAnotherThreadIsKeptThere) {
  drain();
  void* p = tlsMalloc(kReadBuffer, "", 0);
  int heldThere = -1;
  std::thread([&] {
    tlsFree(p, "", 0);
    heldThere = tlsRecordBuffersHeld();
    drain();
  }).join();
  EXPECT_EQ(heldThere, 1);
  EXPECT_EQ(tlsRecordBuffersHeld(), 0);
}

// A thread's held buffers go back to malloc when it exits, not with its thread_local list
// (threads that come and go, e.g. a worker per ACME order, would leak up to 8 x 18 KiB each).
TEST(TlsBuffers, AnExitingThreadGivesItsBuffersBack) {
  drain();
  const auto inUse = [] { return mallinfo2().uordblks; };
  const std::size_t before = inUse();
  int heldThere = -1;
  std::thread([&] {
    std::vector<void*> records;
    for (int i = 0; i < kRecordBuffersPerThread; ++i) records.push_back(tlsMalloc(kReadBuffer, "", 0));
    for (void* p : records) tlsFree(p, "", 0);
    heldThere = tlsRecordBuffersHeld();
  }).join();
  ASSERT_EQ(heldThere, kRecordBuffersPerThread);
  const std::size_t after = inUse();
  // Held by no one, they would still count as in use: 8 x 18 KiB.
  EXPECT_LT(after, before + kRecordBufferClass) << "before " << before << ", after " << after;
}

TEST(TlsBuffers, ReallocKeepsTheBytesAcrossClasses) {
  drain();
  char* p = static_cast<char*>(tlsMalloc(10, "", 0));
  std::memcpy(p, "0123456789", 10);
  p = static_cast<char*>(tlsRealloc(p, kReadBuffer, "", 0));  // into the record class
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(std::memcmp(p, "0123456789", 10), 0);
  std::memset(p + 10, 'x', kReadBuffer - 10);
  char* same = static_cast<char*>(tlsRealloc(p, kReadBuffer + 100, "", 0));  // within it
  EXPECT_EQ(same, p);
  p = static_cast<char*>(tlsRealloc(same, 40000, "", 0));  // out of it
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(std::memcmp(p, "0123456789", 10), 0);
  EXPECT_EQ(p[kReadBuffer - 1], 'x');
  p = static_cast<char*>(tlsRealloc(p, 5, "", 0));  // shrink, plain malloc
  EXPECT_EQ(std::memcmp(p, "01234", 5), 0);
  EXPECT_EQ(tlsRealloc(p, 0, "", 0), nullptr);  // realloc to 0 frees
  char* fresh = static_cast<char*>(tlsRealloc(nullptr, 3, "", 0));
  ASSERT_NE(fresh, nullptr);
  tlsFree(fresh, "", 0);
  drain();
}

// No header in front of a block: OpenSSL's small allocations cost what malloc's do.
TEST(TlsBuffers, SmallAllocationsCarryNoOverhead) {
  for (std::size_t size : {std::size_t{8}, std::size_t{24}, std::size_t{100}, std::size_t{1000}}) {
    void* ours = tlsMalloc(size, "", 0);
    void* plain = std::malloc(size);
    EXPECT_EQ(malloc_usable_size(ours), malloc_usable_size(plain)) << size;
    tlsFree(ours, "", 0);
    std::free(plain);
  }
}

TEST(TlsBuffers, AHugeRequestFailsInsteadOfWrapping) {
  EXPECT_EQ(tlsMalloc(SIZE_MAX - 4, "", 0), nullptr);
  void* p = tlsMalloc(8, "", 0);
  EXPECT_EQ(tlsRealloc(p, SIZE_MAX - 4, "", 0), nullptr);
  tlsFree(p, "", 0);  // still ours after a failed realloc
}

}  // namespace
}  // namespace berth::net
