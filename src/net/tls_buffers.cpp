#include "net/tls_buffers.hpp"

#include <openssl/crypto.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <type_traits>

namespace berth::net {
namespace {

// Every block carries its usable size in front, so free() and realloc() know
// its class; 16 bytes keep malloc's alignment.
constexpr std::size_t kHeader = 16;

struct FreeList {
  void* blocks[kRecordBuffersPerThread];
  int count;
};
static_assert(std::is_trivially_destructible_v<FreeList>);
thread_local FreeList free_list{};

std::atomic<bool> installed{false};

bool pooled(std::size_t size) { return size >= kRecordBufferMin && size <= kRecordBufferClass; }

void* fromBlock(void* block, std::size_t capacity) {
  std::memcpy(block, &capacity, sizeof capacity);
  return static_cast<char*>(block) + kHeader;
}

void* blockOf(void* ptr) { return static_cast<char*>(ptr) - kHeader; }

std::size_t capacityOf(void* ptr) {
  std::size_t capacity = 0;
  std::memcpy(&capacity, blockOf(ptr), sizeof capacity);
  return capacity;
}

}  // namespace

void* tlsMalloc(std::size_t size, const char*, int) {
  if (pooled(size)) {
    if (free_list.count > 0) return fromBlock(free_list.blocks[--free_list.count], kRecordBufferClass);
    void* block = std::malloc(kHeader + kRecordBufferClass);
    return block ? fromBlock(block, kRecordBufferClass) : nullptr;
  }
  if (size > SIZE_MAX - kHeader) return nullptr;
  void* block = std::malloc(kHeader + size);
  return block ? fromBlock(block, size) : nullptr;
}

void tlsFree(void* ptr, const char*, int) {
  if (!ptr) return;
  void* block = blockOf(ptr);
  if (capacityOf(ptr) == kRecordBufferClass && free_list.count < kRecordBuffersPerThread) {
    free_list.blocks[free_list.count++] = block;
    return;
  }
  std::free(block);
}

void* tlsRealloc(void* ptr, std::size_t size, const char* file, int line) {
  if (!ptr) return tlsMalloc(size, file, line);
  if (size == 0) {
    tlsFree(ptr, file, line);
    return nullptr;
  }
  const std::size_t capacity = capacityOf(ptr);
  if (capacity == kRecordBufferClass || pooled(size)) {
    // Into or out of the record class: a fresh block of the right kind.
    if (capacity == kRecordBufferClass && pooled(size)) return ptr;
    void* moved = tlsMalloc(size, file, line);
    if (!moved) return nullptr;
    std::memcpy(moved, ptr, capacity < size ? capacity : size);
    tlsFree(ptr, file, line);
    return moved;
  }
  if (size > SIZE_MAX - kHeader) return nullptr;
  void* block = std::realloc(blockOf(ptr), kHeader + size);
  return block ? fromBlock(block, size) : nullptr;
}

bool installTlsBufferPool() {
  if (installed.load()) return true;
  const bool ok = CRYPTO_set_mem_functions(tlsMalloc, tlsRealloc, tlsFree) == 1;
  if (ok) installed.store(true);
  return ok;
}

bool tlsBufferPoolInstalled() { return installed.load(); }

int tlsRecordBuffersHeld() { return free_list.count; }

void tlsReleaseRecordBuffers() {
  while (free_list.count > 0) std::free(free_list.blocks[--free_list.count]);
}

}  // namespace berth::net
