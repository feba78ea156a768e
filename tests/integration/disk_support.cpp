#include "disk_support.hpp"

#include <sys/mount.h>

#include <filesystem>
#include <fstream>

namespace berth::itest {

TmpfsMount::TmpfsMount(const std::string& dir, const std::string& size) : dir_(dir) {
  std::filesystem::create_directories(dir);
  mounted_ = ::mount("tmpfs", dir.c_str(), "tmpfs", 0, ("size=" + size + ",mode=0700").c_str()) == 0;
}

TmpfsMount::~TmpfsMount() {
  if (mounted_) ::umount2(dir_.c_str(), MNT_DETACH);
}

void fillDisk(const std::string& path) {
  std::ofstream out(path, std::ios::binary);
  const std::string block(4096, '\0');  // small blocks: the last few KiB get filled too
  while (out.write(block.data(), static_cast<std::streamsize>(block.size()))) out.flush();
}

}  // namespace berth::itest
