#include "protocol/replay_cache.hpp"

namespace berth::protocol {

bool ReplayCache::insert(const std::string& nonce) {
  if (!seen_.insert(nonce).second) return false;
  order_.push_back(nonce);
  while (order_.size() > capacity_) {
    seen_.erase(order_.front());
    order_.pop_front();
  }
  return true;
}

}  // namespace berth::protocol
