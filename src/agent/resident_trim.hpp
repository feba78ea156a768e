// Keeps an idle agent small. Private read-only file mappings (our text and the
// shared libraries', and their read-only data) whose pages all still come from
// the file are dropped; those an idle agent still uses come back on demand from
// the page cache. They are also switched to MADV_RANDOM, which on older kernels
// limits a fault to one page (6.x kernels map the 64 KiB around it anyway). A mapping
// that may hold any private copy (relocated data: `Anonymous` or `Swap` above 0
// in smaps, huge pages, or a figure missing) is left alone, so nothing
// process-private is lost. The allocator's free pages go back to the system too.
#pragma once

#include <istream>
#include <utility>
#include <vector>

namespace berth::agent {

// From /proc/self/smaps text: the [start, end) ranges that can be dropped.
std::vector<std::pair<unsigned long, unsigned long>> droppableFileMappings(std::istream& smaps);

// Applies the advice to every such mapping of this process. Linux only; a
// failure is harmless (the memory just stays resident).
void trimResidentMemory();

}  // namespace berth::agent
