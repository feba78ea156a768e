// Hands memory the allocator holds but nothing uses back to the system. The berth binary links
// jemalloc (CMakeLists.txt), whose arenas are purged through mallctl; binaries without it (the
// tests) have glibc's malloc, which malloc_trim trims.
#pragma once

namespace berth {

void releaseFreeMemory();

}  // namespace berth
