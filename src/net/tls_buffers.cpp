#include "net/tls_buffers.hpp"

#include <malloc.h>
#include <openssl/crypto.h>

#include <atomic>
#include <cstdlib>
#include <type_traits>

namespace berth::net {
namespace {

// Blocks are plain malloc blocks, with no header (OpenSSL makes hundreds of
// small allocations per connection: a header on each would cost kilobytes per
// idle session). A freed block is kept when malloc_usable_size puts it in the
// record class: any such block holds any request of the class, whoever asked
// for it.
constexpr std::size_t kClassSlack = 64;

struct FreeList {
  void* blocks[kRecordBuffersPerThread];
  int count;
};
static_assert(std::is_trivially_destructible_v<FreeList>);
thread_local FreeList free_list{};
// Set once this thread's exit began: what it frees from then on goes to malloc.
thread_local bool thread_exiting = false;

// A thread that exits gives its held buffers back (they would leak with its thread_local list;
// found by LeakSanitizer). Registered on the first buffer a thread keeps.
struct ReleaseAtThreadExit {
  bool armed = false;
  ~ReleaseAtThreadExit() {
    thread_exiting = true;
    tlsReleaseRecordBuffers();
  }
};
thread_local ReleaseAtThreadExit release_at_exit;

std::atomic<bool> installed{false};

bool pooled(std::size_t size) { return size >= kRecordBufferMin && size <= kRecordBufferClass; }

bool inClass(void* block) {
  const std::size_t usable = malloc_usable_size(block);
  return usable >= kRecordBufferClass && usable < kRecordBufferClass + kClassSlack;
}

}  // namespace

void* tlsMalloc(std::size_t size, const char*, int) {
  if (!pooled(size)) return std::malloc(size);
  if (free_list.count > 0) return free_list.blocks[--free_list.count];
  return std::malloc(kRecordBufferClass);
}

void tlsFree(void* ptr, const char*, int) {
  if (!ptr) return;
  if (!thread_exiting && free_list.count < kRecordBuffersPerThread && inClass(ptr)) {
    if (!release_at_exit.armed) release_at_exit.armed = true;  // constructs it: its destructor runs at exit
    free_list.blocks[free_list.count++] = ptr;
    return;
  }
  std::free(ptr);
}

void* tlsRealloc(void* ptr, std::size_t size, const char* file, int line) {
  if (!ptr) return tlsMalloc(size, file, line);
  if (size == 0) {
    tlsFree(ptr, file, line);
    return nullptr;
  }
  if (pooled(size)) {
    if (malloc_usable_size(ptr) >= kRecordBufferClass) return ptr;
    return std::realloc(ptr, kRecordBufferClass);  // the whole class, like tlsMalloc
  }
  return std::realloc(ptr, size);
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
