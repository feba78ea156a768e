// Ed25519 signatures over COMMAND envelopes (libsodium). The signed bytes are the
// envelope's JSON without its "signature" field, keys sorted (nlohmann's
// default), so both sides compute them identically.
#pragma once

#include <string>

#include "common/result.hpp"
#include "protocol/envelope.hpp"

namespace berth::protocol {

struct SigningKeyPair {
  std::string public_key;  // 32 raw bytes
  std::string secret_key;  // 64 raw bytes
};

SigningKeyPair generateSigningKey();
std::string signedBytes(const Envelope& envelope);
// Sets envelope.signature (base64).
void sign(Envelope& envelope, const std::string& secret_key);
// True when envelope.signature is a valid signature of signedBytes() by public_key.
bool verify(const Envelope& envelope, const std::string& public_key);

}  // namespace berth::protocol
