#include "common/ids.hpp"

#include <sodium.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "common/encoding.hpp"

namespace berth {

namespace {
// Nonces and ids are drawn per frame, and randombytes_buf costs a getrandom()
// system call each time. A ChaCha20 keystream under a key from the kernel, with
// a per-call counter as nonce, is a CSPRNG at a fraction of the cost.
class FastRandom {
 public:
  FastRandom() { randombytes_buf(seed_, sizeof seed_); }
  void fill(void* out, std::size_t size) {
    unsigned char nonce[randombytes_SEEDBYTES] = {0};
    static_assert(sizeof counter_ <= sizeof nonce);
    ++counter_;
    std::memcpy(nonce, &counter_, sizeof counter_);
    // Derive a per-call seed so calls never share keystream.
    unsigned char callSeed[randombytes_SEEDBYTES];
    crypto_generichash(callSeed, sizeof callSeed, nonce, sizeof nonce, seed_, sizeof seed_);
    randombytes_buf_deterministic(out, size, callSeed);
  }

 private:
  unsigned char seed_[randombytes_SEEDBYTES];
  std::uint64_t counter_ = 0;
};
}  // namespace

std::string randomHex(std::size_t bytes) {
  thread_local FastRandom random;
  std::string raw(bytes, '\0');
  random.fill(raw.data(), raw.size());
  return toHex(raw);
}

std::string newId(const std::string& prefix) { return prefix + "_" + randomHex(8); }

std::string newTimeOrderedId(const std::string& prefix, std::int64_t now_ms) {
  // 48 bits of milliseconds last until the year 10889; fixed width keeps text order = time order.
  // Out of range (a clock gone wild) is clamped, never wrapped to a small number.
  constexpr std::int64_t kMax = (std::int64_t{1} << 48) - 1;
  const auto ms = static_cast<std::uint64_t>(std::clamp<std::int64_t>(now_ms, 0, kMax));
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = prefix + "_";
  for (int shift = 44; shift >= 0; shift -= 4) out += kHex[(ms >> shift) & 0xf];
  return out + randomHex(8);
}

std::string sha256Hex(const std::string& data) {
  // libsodium's: the same digest as OpenSSL's SHA256(), without OpenSSL 3's
  // per-call algorithm fetch (this runs for every audit record and API call).
  unsigned char digest[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(digest, reinterpret_cast<const unsigned char*>(data.data()), data.size());
  return toHex(std::string_view(reinterpret_cast<char*>(digest), sizeof digest));
}

std::string hmacSha256Hex(const std::string& key, const std::string& data) {
  unsigned char mac[crypto_auth_hmacsha256_BYTES];
  crypto_auth_hmacsha256_state state;
  crypto_auth_hmacsha256_init(&state, reinterpret_cast<const unsigned char*>(key.data()), key.size());
  crypto_auth_hmacsha256_update(&state, reinterpret_cast<const unsigned char*>(data.data()), data.size());
  crypto_auth_hmacsha256_final(&state, mac);
  return toHex(std::string(reinterpret_cast<char*>(mac), sizeof mac));
}

bool constantTimeEquals(const std::string& a, const std::string& b) {
  return a.size() == b.size() && sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace berth
