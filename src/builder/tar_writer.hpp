// A POSIX (pax) tar writer for build contexts (issue 11). Pure: bytes go to a
// sink, so a context can be streamed to dockerd without holding it whole.
// Names and link targets longer than ustar's fields get a pax header; every
// entry has the same owner (0:0) and the mtime it is given, so one commit
// always makes the same bytes.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "common/result.hpp"

namespace berth::builder {

enum class TarEntryType { File, Directory, Symlink };

struct TarEntry {
  std::string path;  // relative, '/'-separated, no "." or ".." parts (checked)
  TarEntryType type = TarEntryType::File;
  std::uint32_t mode = 0644;  // permission bits only
  std::uint64_t size = 0;     // files: the number of content bytes that follow
  std::string link_target;    // symlinks
  std::int64_t mtime = 0;     // seconds since the epoch
};

class TarWriter {
 public:
  using Sink = std::function<void(std::string_view)>;
  explicit TarWriter(Sink sink) : sink_(std::move(sink)) {}

  // Writes an entry's header; a file's content follows through `content()`,
  // exactly `size` bytes in all, before the next entry.
  Result<void> begin(const TarEntry& entry);
  void content(std::string_view bytes);
  // The two zero blocks that end an archive. Fails when a file got fewer bytes than announced.
  Result<void> finish();

  std::uint64_t bytesWritten() const { return written_; }

 private:
  Result<void> endEntry();
  void emit(std::string_view bytes);

  Sink sink_;
  std::uint64_t remaining_ = 0;  // content bytes the current file still owes
  std::uint64_t padding_ = 0;    // zero bytes that round it to a block
  std::uint64_t written_ = 0;
};

}  // namespace berth::builder
