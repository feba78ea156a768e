// Secrets at rest: files written mode 0600, and a sealed form encrypted with
// libsodium's secretbox under a key derived from a local key file and the
// machine id, so a copied data directory alone does not reveal them.
#pragma once

#include <string>

#include "common/result.hpp"

namespace berth::pki {

// Writes `content` to `path` atomically (temp file + rename) with mode 0600.
Result<void> writePrivateFile(const std::string& path, const std::string& content);
Result<std::string> readFile(const std::string& path);
bool fileExists(const std::string& path);

// Encrypts `plaintext` with a 32-byte `key`; output is base64 text.
std::string seal(const std::string& plaintext, const std::string& key);
Result<std::string> unseal(const std::string& sealed, const std::string& key);

// Loads (or creates on first use) the sealing key for a data directory:
// BLAKE2b(random 32 bytes in `key_path` || /etc/machine-id).
Result<std::string> loadSealingKey(const std::string& key_path);

}  // namespace berth::pki
