#include "common/free_memory.hpp"

#include <malloc.h>

#include <cstddef>

// jemalloc's control call, present only when the binary links it (weak: null otherwise).
extern "C" int mallctl(const char* name, void* oldp, std::size_t* oldlenp, void* newp, std::size_t newlen)
    __attribute__((weak));

namespace berth {

void releaseFreeMemory() {
  // "arena.<MALLCTL_ARENAS_ALL>.purge": every arena's unused dirty pages, at once.
  if (mallctl != nullptr && mallctl("arena.4096.purge", nullptr, nullptr, nullptr, 0) == 0) return;
  ::malloc_trim(0);
}

}  // namespace berth
