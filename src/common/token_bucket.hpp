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
    // Refilled up to the burst; a credit above it (credit()) is kept until spent.
    if (last_ms_ != 0 && now_ms > last_ms_)
      tokens_ = std::max(tokens_, std::min(burst_, tokens_ + rate_ * double(now_ms - last_ms_) / 1000.0));
    last_ms_ = std::max(last_ms_, now_ms);
    if (tokens_ < 1.0) return false;
    tokens_ -= 1.0;
    return true;
  }
  // What `ms` at the rate would have given, beyond the burst: for time the counted party could
  // not be heard (its frames waited unread), so what it sent meanwhile at the rate still passes.
  void credit(std::int64_t ms) {
    if (ms > 0) tokens_ += rate_ * double(ms) / 1000.0;
  }

 private:
  double rate_;
  double burst_;
  double tokens_;
  std::int64_t last_ms_ = 0;
};

}  // namespace berth
