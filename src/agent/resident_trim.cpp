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
  // smaps said so: no private copy resident ("Anonymous: 0 kB"), none in swap
  // ("Swap: 0 kB": a swapped-out copy shows there, not under Anonymous), none in
  // huge pages, and the mapping is not hugetlbfs (VmFlags "ht").
  bool anonymous_zero = false, swap_zero = false, hugetlb_zero = false, hugetlb = false;
  bool clean() const { return anonymous_zero && swap_zero && hugetlb_zero && !hugetlb; }
};

// "Name:   12 kB" → true when the figure reads 0.
bool zeroKb(const std::string& line, std::size_t name_length) {
  std::istringstream in(line.substr(name_length));
  unsigned long kb = 1;
  in >> kb;
  return in && kb == 0;
}

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
    if (open && current.candidate && current.clean()) out.emplace_back(current.start, current.end);
  };
  // Every figure must be read and 0: a line missing (another kernel) keeps the mapping.
  const std::pair<const char*, bool Mapping::*> kZeroFields[] = {
      {"Anonymous:", &Mapping::anonymous_zero}, {"Swap:", &Mapping::swap_zero},
      {"Private_Hugetlb:", &Mapping::hugetlb_zero}};
  std::string line;
  while (std::getline(smaps, line)) {
    bool field = false;
    for (const auto& [name, member] : kZeroFields) {
      const std::size_t length = std::char_traits<char>::length(name);
      if (line.compare(0, length, name) != 0) continue;
      if (open) current.*member = zeroKb(line, length);
      field = true;
    }
    if (field) continue;
    if (line.rfind("VmFlags:", 0) == 0) {
      if (open) current.hugetlb = (" " + line.substr(8) + " ").find(" ht ") != std::string::npos;
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
