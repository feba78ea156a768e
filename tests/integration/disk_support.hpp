// A full disk on demand, for the tests of what berth does when a write fails: a small tmpfs
// mounted over a directory for one test, and a filler that takes all of its space. Needs root.
#pragma once

#include <string>

namespace berth::itest {

// A tmpfs of `size` ("2m", "256k") mounted on `dir` for one test; lazily unmounted after.
class TmpfsMount {
 public:
  TmpfsMount(const std::string& dir, const std::string& size);
  ~TmpfsMount();
  TmpfsMount(const TmpfsMount&) = delete;
  TmpfsMount& operator=(const TmpfsMount&) = delete;
  bool mounted() const { return mounted_; }

 private:
  std::string dir_;
  bool mounted_ = false;
};

// Writes zeros to `path` until the file system is full.
void fillDisk(const std::string& path);

}  // namespace berth::itest
