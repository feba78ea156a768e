#include "server/rate_limiter.hpp"

#include <algorithm>
#include <cmath>
#include <iterator>

namespace berth::server {

RateLimiter::Bucket& RateLimiter::refill(const std::string& key, std::int64_t now_ms) {
  auto [it, created] = buckets_.try_emplace(key, Bucket{burst_, now_ms});
  Bucket& b = it->second;
  if (!created && now_ms > b.updated_ms) {
    b.tokens = std::min(burst_, b.tokens + per_second_ * static_cast<double>(now_ms - b.updated_ms) / 1000.0);
    b.updated_ms = now_ms;
  }
  return b;
}

bool RateLimiter::allowed(const std::string& key, std::int64_t now_ms) { return refill(key, now_ms).tokens >= 1.0; }

void RateLimiter::charge(const std::string& key, std::int64_t now_ms) {
  if (buckets_.size() > kPruneAbove) forgetIdle(now_ms);
  Bucket& b = refill(key, now_ms);
  b.tokens = std::max(0.0, b.tokens - 1.0);
}

int RateLimiter::retryAfterSeconds(const std::string& key, std::int64_t now_ms) {
  const Bucket& b = refill(key, now_ms);
  const double missing = std::max(0.0, 1.0 - b.tokens);
  return std::max(1, static_cast<int>(std::ceil(missing / per_second_)));
}

void RateLimiter::forgetIdle(std::int64_t now_ms) {
  for (auto it = buckets_.begin(); it != buckets_.end();) {
    refill(it->first, now_ms);
    it = it->second.tokens >= burst_ ? buckets_.erase(it) : std::next(it);
  }
}

}  // namespace berth::server
