// Password hashing with Argon2id (libsodium crypto_pwhash_str, interactive
// limits: about 64 MiB and a tenth of a second per hash), so a stolen
// database does not give the passwords away.
#pragma once

#include <string>

#include "common/result.hpp"

namespace berth::auth {

inline constexpr std::size_t kMinPasswordLength = 12;
inline constexpr std::size_t kMaxPasswordLength = 1024;

// Pure. Length only (12 to 1024 bytes): long passphrases beat composition rules.
Result<void> validatePassword(const std::string& field, const std::string& password);
// The encoded hash ("$argon2id$..."), or "internal" when memory ran out.
Result<std::string> hashPassword(const std::string& password);
// False for an empty hash (an account without a password never logs in).
bool verifyPassword(const std::string& password, const std::string& hash);

}  // namespace berth::auth
