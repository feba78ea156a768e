// Token buckets per key (a client address, an API key, an agent session): `burst` tokens, refilled at
// `per_second`. Time comes in as an argument so tests control it. Not
// thread-safe: the server's I/O thread owns it.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>

namespace berth::server {

class RateLimiter {
 public:
  RateLimiter(double per_second, double burst) : per_second_(per_second), burst_(burst) {}

  // New settings (a reload); buckets keep their tokens, capped at the new burst.
  void setRate(double per_second, double burst) {
    per_second_ = per_second;
    burst_ = burst;
  }

  // Whether `key` has a token left at `now_ms` (nothing is taken).
  bool allowed(const std::string& key, std::int64_t now_ms);
  // Takes one token from `key` (after a failure worth counting).
  void charge(const std::string& key, std::int64_t now_ms);
  // Whole seconds until `key` has a token again (at least 1).
  int retryAfterSeconds(const std::string& key, std::int64_t now_ms);

 private:
  struct Bucket {
    double tokens = 0;
    std::int64_t updated_ms = 0;
  };
  Bucket& refill(const std::string& key, std::int64_t now_ms);
  // Drops full buckets once the map grows, so idle addresses cost nothing.
  void forgetIdle(std::int64_t now_ms);

  static constexpr std::size_t kPruneAbove = 10000;
  double per_second_;
  double burst_;
  std::unordered_map<std::string, Bucket> buckets_;
};

}  // namespace berth::server
