// OpenSSL's record buffers, kept per thread instead of handed back to malloc.
// Under SSL_MODE_RELEASE_BUFFERS (net/tls_stream: an idle session holds no
// buffer) OpenSSL allocates a ~16.7 KiB read buffer for every record it reads
// and frees it once the record is consumed, and a write buffer likewise. At
// that size glibc's malloc consolidates its fast bins on every allocation
// (about 12 % of a network thread's time under telemetry). These hooks, given
// to OpenSSL with CRYPTO_set_mem_functions, keep up to kRecordBuffersPerThread
// freed buffers of that size on the freeing thread for the next record; a
// buffer in use is still one per busy session only, so memory per idle
// session is unchanged. Every other allocation goes to malloc as before.
//
// Thread safety: the free lists are thread_local (trivially destructible, so
// a free during exit is safe); a buffer may be freed on another thread than
// the one that allocated it. A thread that exits gives what it holds back to malloc.
#pragma once

#include <cstddef>

namespace berth::net {

// Allocations from kRecordBufferMin to kRecordBufferClass bytes share one size class.
constexpr std::size_t kRecordBufferMin = 16 * 1024;
constexpr std::size_t kRecordBufferClass = 18 * 1024;
constexpr int kRecordBuffersPerThread = 8;

// The hooks, in CRYPTO_set_mem_functions' signatures.
void* tlsMalloc(std::size_t size, const char* file, int line);
void* tlsRealloc(void* ptr, std::size_t size, const char* file, int line);
void tlsFree(void* ptr, const char* file, int line);

// Gives the hooks to OpenSSL. Must run before OpenSSL allocates anything (the
// berth binary calls it from a constructor that runs before static
// initialisers); false when it was too late, and OpenSSL keeps malloc.
bool installTlsBufferPool();
// Whether installTlsBufferPool() succeeded in this process.
bool tlsBufferPoolInstalled();
// Freed record buffers this thread holds for reuse (tests, diagnostics).
int tlsRecordBuffersHeld();
// Gives this thread's held buffers back to malloc.
void tlsReleaseRecordBuffers();

}  // namespace berth::net
