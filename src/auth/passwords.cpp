#include "auth/passwords.hpp"

#include <sodium.h>

namespace berth::auth {

Result<void> validatePassword(const std::string& field, const std::string& password) {
  if (password.size() < kMinPasswordLength || password.size() > kMaxPasswordLength)
    return invalidField(field, "must be " + std::to_string(kMinPasswordLength) + " to " +
                                   std::to_string(kMaxPasswordLength) + " characters");
  return Ok{};
}

Result<std::string> hashPassword(const std::string& password) {
  if (sodium_init() < 0) return makeError("internal", "libsodium could not start");
  char out[crypto_pwhash_STRBYTES];
  if (crypto_pwhash_str_alg(out, password.data(), password.size(), crypto_pwhash_OPSLIMIT_INTERACTIVE,
                            crypto_pwhash_MEMLIMIT_INTERACTIVE, crypto_pwhash_ALG_ARGON2ID13) != 0)
    return makeError("internal", "could not hash the password (out of memory)");
  return std::string(out);
}

bool verifyPassword(const std::string& password, const std::string& hash) {
  if (hash.empty() || hash.size() >= crypto_pwhash_STRBYTES || password.size() > kMaxPasswordLength) return false;
  if (sodium_init() < 0) return false;
  return crypto_pwhash_str_verify(hash.c_str(), password.data(), password.size()) == 0;
}

}  // namespace berth::auth
