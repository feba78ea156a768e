// Secrets at rest: files written mode 0600, and a sealed form encrypted with
// libsodium's secretbox under a key derived from a local key file and the
// machine id, so a copied data directory alone does not reveal them.
#pragma once

#include <cstddef>
#include <string>

#include "common/result.hpp"

namespace berth::pki {

// Writes `content` to `path` atomically with mode 0600: a fresh temp file
// (O_EXCL|O_NOFOLLOW, so a planted link or file is never written through),
// fsync, rename over `path`, fsync of the directory. Errors: "write_failed".
Result<void> writePrivateFile(const std::string& path, const std::string& content);

// Removes the temp files writePrivateFile leaves in `dir` when its process is
// killed between creating and renaming one (`<name>.tmp.<12 hex>`, untouched
// for `min_age_s`, so a live writer's file is left alone); how many it removed.
// Called at start-up on the directories a process writes, so crashes do not
// slowly fill them.
std::size_t removeStaleTempFiles(const std::string& dir, int min_age_s = 60);

// A private key and its certificate, replaced together: both are written in
// full to "<path>.next" first (writePrivateFile), then renamed over the old
// pair, key first. A failed write (a full disk) leaves the old pair as it was
// and no staged file; only a crash between the two renames leaves the new key
// beside the old certificate, the new certificate at "<cert_path>.next".
Result<void> writePrivatePair(const std::string& key_path, const std::string& key_pem, const std::string& cert_path,
                              const std::string& cert_pem);

// Creates `dir` mode 0700 when missing; when it exists, checks that it is a
// real directory (not a link) owned by this user and not open to group or
// others. Errors: "unsafe_directory" naming the problem and the fix.
Result<void> ensurePrivateDirectory(const std::string& dir);
Result<std::string> readFile(const std::string& path);
bool fileExists(const std::string& path);

// Encrypts `plaintext` with a 32-byte `key`; output is base64 text.
std::string seal(const std::string& plaintext, const std::string& key);
Result<std::string> unseal(const std::string& sealed, const std::string& key);

// Loads (or creates on first use) the sealing key for a data directory:
// BLAKE2b(random 32 bytes in `key_path` || /etc/machine-id).
Result<std::string> loadSealingKey(const std::string& key_path);

}  // namespace berth::pki
