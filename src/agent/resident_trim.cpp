#include "agent/resident_trim.hpp"

#include <sys/mman.h>

#include <fstream>
#include <sstream>
#include <string>

#include "common/free_memory.hpp"

namespace berth::agent {
namespace {

struct Mapping {
  unsigned long start = 0, end = 0;
  bool candidate = false;  // private, read-only, backed by a file
  bool known_clean = false;  // smaps said "Anonymous: 0 kB"
};

// A mapping's first line in smaps: "start-end perms offset device inode [path]".
bool parseHeader(const std::string& line, Mapping& m) {
  std::istringstream in(line);
  std::string range, perms, offset, device, inode, path;
  if (!(in >> range >> perms >> offset >> device >> inode)) return false;
  const auto dash = range.find('-');
  if (dash == std::string::npos || dash == 0 || range.find_first_not_of("0123456789abcdef-") != std::string::npos) {
    return false;
  }
  in >> path;
  m = Mapping{};
  m.start = std::stoul(range.substr(0, dash), nullptr, 16);
  m.end = std::stoul(range.substr(dash + 1), nullptr, 16);
  m.candidate = (perms == "r-xp" || perms == "r--p") && !path.empty() && path.front() == '/' && m.end > m.start;
  return true;
}

}  // namespace

std::vector<std::pair<unsigned long, unsigned long>> droppableFileMappings(std::istream& smaps) {
  std::vector<std::pair<unsigned long, unsigned long>> out;
  Mapping current;
  bool open = false;
  auto close = [&] {
    if (open && current.candidate && current.known_clean) out.emplace_back(current.start, current.end);
  };
  std::string line;
  while (std::getline(smaps, line)) {
    if (line.rfind("Anonymous:", 0) == 0) {
      // "Anonymous:   12 kB": pages copied on write (relocations) live only here.
      std::istringstream in(line.substr(10));
      unsigned long kb = 1;
      in >> kb;
      if (open) current.known_clean = in && kb == 0;
      continue;
    }
    Mapping next;
    if (parseHeader(line, next)) {
      close();
      current = next;
      open = true;
    }
  }
  close();
  return out;
}

void trimResidentMemory() {
  std::ifstream smaps("/proc/self/smaps");
  for (const auto& [start, end] : droppableFileMappings(smaps)) {
    void* address = reinterpret_cast<void*>(start);
    ::madvise(address, end - start, MADV_RANDOM);
    ::madvise(address, end - start, MADV_DONTNEED);
  }
  releaseFreeMemory();
}

}  // namespace berth::agent
