// SSH keys for git over ssh (issue 11): per-app Ed25519 deploy keys in
// OpenSSH's own formats, host-key fingerprints as ssh-keygen prints them, and
// the known_hosts line for a pinned key. Pure apart from the random seed,
// which callers pass in (libsodium's generator in production).
#pragma once

#include <string>
#include <vector>

#include "common/result.hpp"

namespace berth::source {

struct DeployKey {
  std::string private_openssh;  // "-----BEGIN OPENSSH PRIVATE KEY-----..." (unencrypted: it is stored sealed)
  std::string public_line;      // "ssh-ed25519 AAAA... berth:<comment>"
  std::string fingerprint;      // "SHA256:..."
};

// From a 32-byte seed; `comment` names the app (no control characters).
Result<DeployKey> deployKeyFromSeed(const std::string& seed, const std::string& comment);
Result<DeployKey> newDeployKey(const std::string& comment);

// A public key ("type base64 [comment]"): its fingerprint, "SHA256:" and the
// unpadded base64 of the SHA-256 of the key blob.
Result<std::string> publicKeyFingerprint(const std::string& public_line);

// An uploaded private key: only an unencrypted OpenSSH Ed25519 key is taken.
// Returns the public line derived from it.
Result<DeployKey> readDeployKey(const std::string& private_openssh, const std::string& comment);

struct HostKey {
  std::string type;  // "ssh-ed25519", "ecdsa-sha2-nistp256", "ssh-rsa"
  std::string blob_base64;
  std::string fingerprint;
};

// ssh-keyscan's output ("host type base64" per line, '#' comments): the keys
// offered, fingerprinted. Lines that are not keys are skipped.
std::vector<HostKey> parseKeyscan(const std::string& output);

// The known_hosts line that lets ssh accept `key` for host:port and nothing else.
std::string knownHostsLine(const std::string& host, int port, const HostKey& key);

}  // namespace berth::source
