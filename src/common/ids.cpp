#include "common/ids.hpp"

#include <openssl/sha.h>
#include <sodium.h>

#include <vector>

#include "common/encoding.hpp"

namespace berth {

std::string randomHex(std::size_t bytes) {
  std::string raw(bytes, '\0');
  randombytes_buf(raw.data(), raw.size());
  return toHex(raw);
}

std::string newId(const std::string& prefix) { return prefix + "_" + randomHex(8); }

std::string sha256Hex(const std::string& data) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest);
  return toHex(std::string(reinterpret_cast<char*>(digest), sizeof digest));
}

}  // namespace berth
