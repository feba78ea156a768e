// Memory of the nonces one session has used. Not thread-safe: one per session.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <limits>
#include <string_view>
#include <vector>

namespace berth::protocol {

class ReplayCache {
 public:
  // `horizon_ms`: how far behind the clock a frame's issued_at may be and still
  // pass the validator's clock check (its skew allowance). A nonce issued before
  // that is forgotten: a replay of its frame is refused by the clock anyway. So
  // an idle session holds the minute's few heartbeats, not its last `capacity`
  // nonces (which took ~200 KiB per session after half a day). `capacity` bounds
  // a burst inside the horizon; past it the oldest nonce is forgotten, and frames
  // issued no later than it are refused from then on.
  ReplayCache(std::size_t capacity, std::int64_t horizon_ms) : capacity_(capacity), horizon_ms_(horizon_ms) {}
  // Records `nonce`; false when it is still recorded, or issued before what this
  // cache has forgotten (a replay either way: see forgottenBefore).
  bool insert(std::string_view nonce, std::int64_t issued_at, std::int64_t now_ms);
  // Frames issued before this may have had their nonces forgotten: refused
  // whatever the clock says now. It follows the latest `now` seen (less the
  // horizon) and the newest nonce forgotten, so neither a clock that goes
  // forward, forgets, then steps back nor a burst past capacity lets a replay pass.
  std::int64_t forgottenBefore() const { return floor_; }
  std::size_t size() const { return order_.size(); }
  std::size_t slots() const { return slots_.size(); }  // the hash table's size, which shrinks as the set does

 private:
  struct Entry {
    std::uint64_t key;
    std::int64_t issued_at;
  };
  bool contains(std::uint64_t key) const;
  void add(std::uint64_t key);
  void place(std::uint64_t key);  // into the first free slot of its probe run
  void remove(std::uint64_t key);
  void forgetOldest();
  void rehash(std::size_t slots);
  std::size_t home(std::uint64_t key) const;

  std::size_t capacity_;
  std::int64_t horizon_ms_;
  std::int64_t floor_ = std::numeric_limits<std::int64_t>::min();
  std::deque<Entry> order_;  // as recorded: the oldest first
  // 64-bit hashes of the nonces (a false "replay" needs a collision among the
  // few recorded, ~2^-52), open addressing with linear probing: no allocation
  // per frame. 0 marks an empty slot; a hash of 0 is stored as 1. A slot is
  // the top bits of the hash times a per-process random odd number, so a peer
  // cannot choose nonces that all probe from one slot.
  std::vector<std::uint64_t> slots_;
  int shift_ = 64;  // 64 - log2(slots_.size())
};

}  // namespace berth::protocol
