// The server's cryptographic identity under <data_dir>/pki: its CA, its TLS
// certificate, and its Ed25519 command-signing key. Created on first start;
// private keys are written mode 0600.
#pragma once

#include <string>
#include <vector>

#include "common/result.hpp"
#include "pki/authority.hpp"

namespace berth::server {

struct ServerIdentity {
  pki::CertificateAuthority ca;
  std::string server_cert_pem;  // leaf followed by the CA
  std::string server_key_pem;
  std::string signing_public_key;  // raw 32 bytes
  std::string signing_secret_key;  // raw 64 bytes
  std::string ca_pin;              // sha256:<hex> of the CA public key
};

// Loads the identity from `pki_dir`, creating what is missing. The server
// certificate is kept across restarts and re-issued (with notBefore an hour
// back, same CA) only when the set of `server_names` changed (their order does
// not matter) or a third of its life is left; a re-issue is logged.
Result<ServerIdentity> loadOrCreateIdentity(const std::string& pki_dir, const std::vector<std::string>& server_names,
                                            std::int64_t now_ms);

}  // namespace berth::server
