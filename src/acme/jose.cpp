#include "acme/jose.hpp"

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>

#include <nlohmann/json.hpp>

#include "pki/ossl.hpp"

namespace berth::acme {
namespace {

constexpr char kJoseAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
constexpr std::size_t kP256CoordinateBytes = 32;

int joseValue(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '-') return 62;
  if (c == '_') return 63;
  return -1;
}

std::string sha256Bytes(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), digest, &len, EVP_sha256(), nullptr);
  return std::string(reinterpret_cast<char*>(digest), len);
}

Result<std::string> coordinate(EVP_PKEY* key, const char* name) {
  BIGNUM* bn = nullptr;
  if (EVP_PKEY_get_bn_param(key, name, &bn) != 1) return makeError("bad_key", "the key has no EC public point");
  std::string out(kP256CoordinateBytes, '\0');
  const int written = BN_bn2binpad(bn, reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(out.size()));
  BN_free(bn);
  if (written != static_cast<int>(kP256CoordinateBytes)) return makeError("bad_key", "EC coordinate is not 32 bytes");
  return out;
}

Result<pki::EvpKeyPtr> loadP256(const std::string& key_pem) {
  auto key = pki::loadPrivateKey(key_pem);
  if (!key) return key.error();
  char group[64] = {0};
  std::size_t len = 0;
  if (EVP_PKEY_get_base_id(key->get()) != EVP_PKEY_EC ||
      EVP_PKEY_get_utf8_string_param(key->get(), OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group, &len) != 1 ||
      std::string(group) != "prime256v1") {
    return makeError("bad_key", "the account key must be ECDSA P-256");
  }
  return std::move(key.value());
}

// ES256 signs with the raw r||s (64 bytes), not OpenSSL's DER ECDSA-Sig-Value.
Result<std::string> es256(EVP_PKEY* key, std::string_view input) {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  std::size_t der_len = 0;
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &der_len, reinterpret_cast<const unsigned char*>(input.data()),
                     input.size()) != 1) {
    return makeError("sign_failed", "ES256 signing could not start");
  }
  std::string der(der_len, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(der.data()), &der_len,
                     reinterpret_cast<const unsigned char*>(input.data()), input.size()) != 1) {
    return makeError("sign_failed", "ES256 signing failed");
  }
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  ECDSA_SIG* sig = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der_len));
  if (!sig) return makeError("sign_failed", "ES256 signature is not DER");
  std::string raw(2 * kP256CoordinateBytes, '\0');
  auto* out = reinterpret_cast<unsigned char*>(raw.data());
  const bool ok = BN_bn2binpad(ECDSA_SIG_get0_r(sig), out, kP256CoordinateBytes) == kP256CoordinateBytes &&
                  BN_bn2binpad(ECDSA_SIG_get0_s(sig), out + kP256CoordinateBytes, kP256CoordinateBytes) ==
                      kP256CoordinateBytes;
  ECDSA_SIG_free(sig);
  if (!ok) return makeError("sign_failed", "ES256 signature does not fit 64 bytes");
  return raw;
}

}  // namespace

std::string base64url(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const unsigned v = (static_cast<unsigned char>(bytes[i]) << 16) | (static_cast<unsigned char>(bytes[i + 1]) << 8) |
                       static_cast<unsigned char>(bytes[i + 2]);
    out += kJoseAlphabet[(v >> 18) & 63];
    out += kJoseAlphabet[(v >> 12) & 63];
    out += kJoseAlphabet[(v >> 6) & 63];
    out += kJoseAlphabet[v & 63];
  }
  if (bytes.size() - i == 1) {
    const unsigned v = static_cast<unsigned char>(bytes[i]) << 16;
    out += kJoseAlphabet[(v >> 18) & 63];
    out += kJoseAlphabet[(v >> 12) & 63];
  } else if (bytes.size() - i == 2) {
    const unsigned v = (static_cast<unsigned char>(bytes[i]) << 16) | (static_cast<unsigned char>(bytes[i + 1]) << 8);
    out += kJoseAlphabet[(v >> 18) & 63];
    out += kJoseAlphabet[(v >> 12) & 63];
    out += kJoseAlphabet[(v >> 6) & 63];
  }
  return out;
}

std::optional<std::string> base64urlDecode(std::string_view text) {
  if (text.size() % 4 == 1) return std::nullopt;
  std::string out;
  unsigned buffer = 0;
  int bits = 0;
  for (char c : text) {
    const int v = joseValue(c);
    if (v < 0) return std::nullopt;
    buffer = (buffer << 6) | static_cast<unsigned>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((buffer >> bits) & 0xff);
    }
  }
  if (bits > 0 && (buffer & ((1u << bits) - 1)) != 0) return std::nullopt;  // non-canonical trailing bits
  return out;
}

Result<std::string> jwkJson(const std::string& key_pem) {
  auto key = loadP256(key_pem);
  if (!key) return key.error();
  auto x = coordinate(key->get(), OSSL_PKEY_PARAM_EC_PUB_X);
  if (!x) return x.error();
  auto y = coordinate(key->get(), OSSL_PKEY_PARAM_EC_PUB_Y);
  if (!y) return y.error();
  return R"({"crv":"P-256","kty":"EC","x":")" + base64url(*x) + R"(","y":")" + base64url(*y) + R"("})";
}

Result<std::string> jwkThumbprint(const std::string& key_pem) {
  auto jwk = jwkJson(key_pem);
  if (!jwk) return jwk.error();
  return base64url(sha256Bytes(*jwk));
}

Result<std::string> signJws(const std::string& key_pem, const JwsHeader& header, const std::string& payload) {
  auto key = loadP256(key_pem);
  if (!key) return key.error();
  nlohmann::json protected_header{{"alg", "ES256"}, {"nonce", header.nonce}, {"url", header.url}};
  if (header.kid.empty()) {
    auto jwk = jwkJson(key_pem);
    if (!jwk) return jwk.error();
    protected_header["jwk"] = nlohmann::json::parse(*jwk);
  } else {
    protected_header["kid"] = header.kid;
  }
  const std::string protected64 = base64url(protected_header.dump());
  const std::string payload64 = base64url(payload);
  auto signature = es256(key->get(), protected64 + "." + payload64);
  if (!signature) return signature.error();
  return nlohmann::json{{"protected", protected64}, {"payload", payload64}, {"signature", base64url(*signature)}}
      .dump();
}

std::string keyAuthorization(const std::string& token, const std::string& thumbprint) {
  return token + "." + thumbprint;
}

}  // namespace berth::acme
