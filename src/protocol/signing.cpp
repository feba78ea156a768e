#include "protocol/signing.hpp"

#include <sodium.h>

#include "common/encoding.hpp"
#include "common/json.hpp"

namespace berth::protocol {

SigningKeyPair generateSigningKey() {
  SigningKeyPair pair;
  pair.public_key.resize(crypto_sign_PUBLICKEYBYTES);
  pair.secret_key.resize(crypto_sign_SECRETKEYBYTES);
  crypto_sign_keypair(reinterpret_cast<unsigned char*>(pair.public_key.data()),
                      reinterpret_cast<unsigned char*>(pair.secret_key.data()));
  return pair;
}

std::string signedBytes(const Envelope& envelope) { return dumpJson(toJson(envelope, false)); }

void sign(Envelope& envelope, const std::string& secret_key) {
  const std::string message = signedBytes(envelope);
  unsigned char signature[crypto_sign_BYTES];
  crypto_sign_detached(signature, nullptr, reinterpret_cast<const unsigned char*>(message.data()), message.size(),
                       reinterpret_cast<const unsigned char*>(secret_key.data()));
  envelope.signature = base64Encode(std::string_view(reinterpret_cast<char*>(signature), sizeof signature));
}

bool verify(const Envelope& envelope, const std::string& public_key) {
  if (public_key.size() != crypto_sign_PUBLICKEYBYTES) return false;
  auto raw = base64Decode(envelope.signature);
  if (!raw || raw->size() != crypto_sign_BYTES) return false;
  const std::string message = signedBytes(envelope);
  return crypto_sign_verify_detached(reinterpret_cast<const unsigned char*>(raw->data()),
                                     reinterpret_cast<const unsigned char*>(message.data()), message.size(),
                                     reinterpret_cast<const unsigned char*>(public_key.data())) == 0;
}

}  // namespace berth::protocol
