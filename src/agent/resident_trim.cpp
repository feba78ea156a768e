#include "agent/resident_trim.hpp"

#include <sys/mman.h>

#include <fstream>
#include <sstream>

namespace berth::agent {

bool isExecutableFileMapping(const std::string& line, unsigned long& start, unsigned long& end) {
  std::istringstream in(line);
  std::string range, perms, offset, device, inode, path;
  if (!(in >> range >> perms >> offset >> device >> inode >> path)) return false;
  if (perms != "r-xp" || path.empty() || path.front() != '/') return false;
  auto dash = range.find('-');
  if (dash == std::string::npos) return false;
  start = std::stoul(range.substr(0, dash), nullptr, 16);
  end = std::stoul(range.substr(dash + 1), nullptr, 16);
  return end > start;
}

void trimResidentText() {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    unsigned long start = 0, end = 0;
    if (!isExecutableFileMapping(line, start, end)) continue;
    void* address = reinterpret_cast<void*>(start);
    ::madvise(address, end - start, MADV_RANDOM);
    ::madvise(address, end - start, MADV_DONTNEED);
  }
}

}  // namespace berth::agent
