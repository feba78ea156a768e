// Keeps an idle agent small: executable file mappings (our text and the shared
// libraries') are switched to MADV_RANDOM, so a page fault maps one page
// instead of the kernel's 64 KiB fault-around, and their mapped pages are
// dropped once; those an idle agent still runs come back on demand from the
// page cache. Only r-xp mappings are touched: text holds no relocations, so
// nothing process-private is lost.
#pragma once

#include <string>

namespace berth::agent {

// Parses one /proc/self/maps line; true for a private executable file mapping.
bool isExecutableFileMapping(const std::string& maps_line, unsigned long& start, unsigned long& end);

// Applies the advice to every such mapping of this process. Linux only; a
// failure is harmless (the memory just stays resident).
void trimResidentText();

}  // namespace berth::agent
