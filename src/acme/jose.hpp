// The JOSE pieces ACME (RFC 8555) needs, pure: base64url, the JWK of an
// ECDSA P-256 account key and its RFC 7638 thumbprint, ES256 JWS in the
// flattened JSON serialization, and the http-01 key authorization.
// PEM text in, strings out; nothing here touches files or sockets.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "common/result.hpp"

namespace berth::acme {

// RFC 4648 §5 without padding.
std::string base64url(std::string_view bytes);
// nullopt unless `text` holds only [A-Za-z0-9_-] and decodes cleanly (no padding accepted).
std::optional<std::string> base64urlDecode(std::string_view text);

// The public JWK of a P-256 private key (PKCS#8 or SEC1 PEM), in RFC 7638's
// canonical form: {"crv":"P-256","kty":"EC","x":"...","y":"..."} (members
// sorted, no spaces). Fails "bad_key" for anything but a P-256 key.
Result<std::string> jwkJson(const std::string& key_pem);
// base64url(SHA-256(canonical JWK)).
Result<std::string> jwkThumbprint(const std::string& key_pem);

struct JwsHeader {
  std::string url;    // the request URL (protected "url")
  std::string nonce;  // from the server's Replay-Nonce
  std::string kid;    // the account URL; empty: the key's "jwk" is sent instead (newAccount)
};

// A flattened JWS: {"protected":..., "payload":..., "signature":...}, ES256.
// `payload` is the JSON text to sign; empty means POST-as-GET (payload "").
Result<std::string> signJws(const std::string& key_pem, const JwsHeader& header, const std::string& payload);

// http-01: "<token>.<thumbprint>" (RFC 8555 §8.1).
std::string keyAuthorization(const std::string& token, const std::string& thumbprint);

}  // namespace berth::acme
