#include "protocol/replay_cache.hpp"

#include <functional>

namespace berth::protocol {

bool ReplayCache::insert(const std::string& nonce) {
  const std::uint64_t key = std::hash<std::string>{}(nonce);
  if (!seen_.insert(key).second) return false;
  order_.push_back(key);
  while (order_.size() > capacity_) {
    seen_.erase(order_.front());
    order_.pop_front();
  }
  return true;
}

}  // namespace berth::protocol
