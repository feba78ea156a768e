// Bounded memory of nonces seen on one session. Not thread-safe: one per session.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <unordered_set>

namespace berth::protocol {

class ReplayCache {
 public:
  explicit ReplayCache(std::size_t capacity) : capacity_(capacity) {}
  // Records `nonce`; false when it was already recorded (a replay). When full,
  // the oldest nonce is forgotten: frames older than the skew window are
  // refused by the clock check anyway, so capacity only has to cover it.
  bool insert(const std::string& nonce);
  std::size_t size() const { return order_.size(); }

 private:
  // 64-bit hashes, not the nonces: a tenth of the memory per session. A false
  // "replay" needs a collision among `capacity` recent nonces (~2^-52).
  std::size_t capacity_;
  std::deque<std::uint64_t> order_;
  std::unordered_set<std::uint64_t> seen_;
};

}  // namespace berth::protocol
