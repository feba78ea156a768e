// At most one progress report per interval (pull progress events): the
// runtime reports every chunk a layer downloads, the server needs a few a
// second at most. Pure: the caller passes the time. Not thread-safe (one per pull).
#pragma once

#include <cstdint>
#include <optional>

namespace berth::agent {

class ProgressThrottle {
 public:
  explicit ProgressThrottle(std::int64_t interval_ms) : interval_ms_(interval_ms) {}
  // True when a report may go now (and counts it as sent). A clock that went
  // backwards lets one report through and starts the interval again.
  bool due(std::int64_t now_ms) {
    if (last_ms_ && now_ms >= *last_ms_ && now_ms - *last_ms_ < interval_ms_) return false;
    last_ms_ = now_ms;
    return true;
  }

 private:
  std::int64_t interval_ms_;
  std::optional<std::int64_t> last_ms_;
};

}  // namespace berth::agent
