// The agent's TELEMETRY sequence numbers. The server refuses a number not
// above the highest it stored for the node (a replay), so numbers must grow
// across sessions, restarts and a damaged state directory. Blocks of them are
// reserved in <state_dir>/telemetry.seq before use; WELCOME says where the
// server stands (`telemetry_seq`) and numbering continues above it, so a lost
// or damaged file, a full disk, or a clock stepped back cannot leave the
// server refusing every sample. Not thread-safe: the I/O thread owns it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/clock.hpp"

namespace berth::agent {

// The largest number either side uses; the server refuses anything above, so
// continuing above a stored number never overflows.
inline constexpr std::int64_t kMaxTelemetrySeq = std::int64_t{1} << 62;

struct BlockFloor {
  std::int64_t floor = 0;
  bool damaged = false;  // the file held no number
};
// Pure: where the next block starts, from the file's text (nullopt: no file),
// the last number handed out and the clock (a damaged file falls back to
// clock × 1000, above anything numbered before from an intact file).
BlockFloor telemetryBlockFloor(std::optional<std::string_view> file_text, std::int64_t current, std::int64_t now_ms);

class TelemetrySequence {
 public:
  static constexpr std::int64_t kBlock = 1'000'000;
  TelemetrySequence(std::string path, Clock clock) : path_(std::move(path)), clock_(std::move(clock)) {}

  // The next number; reserves a block on disk first when the current one is used up
  // (a failed write is logged; numbering goes on, WELCOME repairs it on the next session).
  std::int64_t next();
  // WELCOME's `telemetry_seq`: the highest number the server stored for this node.
  void resumeAbove(std::int64_t stored);

 private:
  std::string path_;
  Clock clock_;
  std::int64_t current_ = 0;
  std::int64_t limit_ = 0;
};

}  // namespace berth::agent
