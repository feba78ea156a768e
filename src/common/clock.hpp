// Wall-clock time as unix milliseconds, injected so tests can control it.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>

namespace berth {

using UnixMs = std::int64_t;
using Clock = std::function<UnixMs()>;

inline constexpr std::int64_t kHourMs = 3'600'000;
inline constexpr std::int64_t kDayMs = 24 * kHourMs;

inline UnixMs systemNowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace berth
