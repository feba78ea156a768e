#include "protocol/replay_cache.hpp"

#include <algorithm>
#include <bit>
#include <functional>
#include <random>

namespace berth::protocol {
namespace {
constexpr std::size_t kMinSlots = 8;

std::uint64_t randomOddMultiplier() {
  std::random_device device;
  const std::uint64_t value = (std::uint64_t{device()} << 32) ^ device();
  return value | 1;
}
const std::uint64_t kMultiplier = randomOddMultiplier();
}  // namespace

std::size_t ReplayCache::home(std::uint64_t key) const {
  // Multiply-shift: the top bits of the product, which every bit of the key reaches.
  return static_cast<std::size_t>((key * kMultiplier) >> shift_);
}

bool ReplayCache::contains(std::uint64_t key) const {
  if (slots_.empty()) return false;
  for (std::size_t i = home(key);; i = (i + 1) & (slots_.size() - 1)) {
    if (slots_[i] == key) return true;
    if (slots_[i] == 0) return false;
  }
}

void ReplayCache::add(std::uint64_t key) {
  if ((order_.size() + 1) * 2 > slots_.size()) rehash(std::max(kMinSlots, slots_.size() * 2));
  place(key);
}

void ReplayCache::place(std::uint64_t key) {
  std::size_t i = home(key);
  while (slots_[i] != 0) i = (i + 1) & (slots_.size() - 1);
  slots_[i] = key;
}

void ReplayCache::remove(std::uint64_t key) {
  const std::size_t mask = slots_.size() - 1;
  std::size_t hole = home(key);
  while (slots_[hole] != key) {
    if (slots_[hole] == 0) return;
    hole = (hole + 1) & mask;
  }
  // Backward shift: move later members of the probe run into the hole when
  // their home does not lie cyclically in (hole, j], so every lookup still finds them.
  for (std::size_t j = (hole + 1) & mask; slots_[j] != 0; j = (j + 1) & mask) {
    const std::size_t h = home(slots_[j]);
    const bool stays = hole <= j ? (hole < h && h <= j) : (hole < h || h <= j);
    if (stays) continue;
    slots_[hole] = slots_[j];
    hole = j;
  }
  slots_[hole] = 0;
}

void ReplayCache::rehash(std::size_t slots) {
  std::vector<std::uint64_t> old = std::move(slots_);
  slots_.assign(slots, 0);
  shift_ = 64 - std::countr_zero(slots);
  for (std::uint64_t key : old)
    if (key != 0) place(key);
}

void ReplayCache::forgetOldest() {
  // Whatever was issued no later than a forgotten nonce is refused from now on: at capacity
  // (a burst inside the horizon) too, so a replay of the oldest of a burst cannot pass.
  floor_ = std::max(floor_, order_.front().issued_at + 1);
  remove(order_.front().key);
  order_.pop_front();
}

bool ReplayCache::insert(std::string_view nonce, std::int64_t issued_at, std::int64_t now_ms) {
  floor_ = std::max(floor_, now_ms - horizon_ms_);
  while (!order_.empty() && order_.front().issued_at < floor_) forgetOldest();
  if (issued_at < floor_) return false;
  // Give back at once what a burst left behind.
  if (slots_.size() > kMinSlots && order_.size() * 8 < slots_.size()) {
    std::size_t target = kMinSlots;
    while (target < order_.size() * 4) target *= 2;
    rehash(target);
  }
  std::uint64_t key = std::hash<std::string_view>{}(nonce);
  if (key == 0) key = 1;
  if (contains(key)) return false;
  while (!order_.empty() && order_.size() >= capacity_) forgetOldest();  // before add: the table need not grow
  add(key);
  order_.push_back({key, issued_at});
  return true;
}

}  // namespace berth::protocol
