// A token bucket: `burst` tokens, refilled at `per_second`. Pure (time is
// passed in); one per thing being limited.
#pragma once

#include <algorithm>
#include <cstdint>

namespace berth {

class TokenBucket {
 public:
  TokenBucket(double per_second, double burst) : rate_(per_second), burst_(burst), tokens_(burst) {}
  // Takes a token at `now_ms`; false when none is left.
  bool take(std::int64_t now_ms) {
    if (last_ms_ != 0 && now_ms > last_ms_) tokens_ = std::min(burst_, tokens_ + rate_ * double(now_ms - last_ms_) / 1000.0);
    last_ms_ = std::max(last_ms_, now_ms);
    if (tokens_ < 1.0) return false;
    tokens_ -= 1.0;
    return true;
  }

 private:
  double rate_;
  double burst_;
  double tokens_;
  std::int64_t last_ms_ = 0;
};

}  // namespace berth
