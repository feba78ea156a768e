#include "source/ssh_keys.hpp"

#include <openssl/sha.h>
#include <sodium.h>

#include <sstream>

#include "common/encoding.hpp"
#include "common/ids.hpp"

namespace berth::source {
namespace {

constexpr std::string_view kMagic("openssh-key-v1\0", 15);
constexpr std::string_view kEd25519 = "ssh-ed25519";
constexpr const char* kBegin = "-----BEGIN OPENSSH PRIVATE KEY-----";
constexpr const char* kEnd = "-----END OPENSSH PRIVATE KEY-----";

void putUint32(std::string& out, std::uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>((v >> shift) & 0xff));
}

void putString(std::string& out, std::string_view s) {
  putUint32(out, static_cast<std::uint32_t>(s.size()));
  out.append(s);
}

// Reads SSH wire values from untrusted bytes; any read past the end fails.
class WireReader {
 public:
  explicit WireReader(std::string_view bytes) : bytes_(bytes) {}
  std::optional<std::uint32_t> uint32() {
    if (bytes_.size() < 4) return std::nullopt;
    std::uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v = (v << 8) | static_cast<unsigned char>(bytes_[i]);
    bytes_.remove_prefix(4);
    return v;
  }
  std::optional<std::string_view> string() {
    auto n = uint32();
    if (!n || *n > bytes_.size()) return std::nullopt;
    auto s = bytes_.substr(0, *n);
    bytes_.remove_prefix(*n);
    return s;
  }
  std::optional<std::string_view> raw(std::size_t n) {
    if (n > bytes_.size()) return std::nullopt;
    auto s = bytes_.substr(0, n);
    bytes_.remove_prefix(n);
    return s;
  }
  std::string_view rest() const { return bytes_; }

 private:
  std::string_view bytes_;
};

std::string publicBlob(std::string_view pk) {
  std::string blob;
  putString(blob, kEd25519);
  putString(blob, pk);
  return blob;
}

std::string fingerprintOfBlob(std::string_view blob) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(blob.data()), blob.size(), digest);
  std::string b64 = base64Encode(std::string_view(reinterpret_cast<char*>(digest), sizeof digest));
  while (!b64.empty() && b64.back() == '=') b64.pop_back();
  return "SHA256:" + b64;
}

Result<void> checkComment(const std::string& comment) {
  if (comment.size() > 200) return invalidField("comment", "must be at most 200 bytes");
  for (unsigned char c : comment)
    if (c < 0x21 || c == 0x7f) return invalidField("comment", "must not contain spaces or control characters");
  return Ok{};
}

DeployKey keyFrom(std::string_view pk, std::string_view sk, const std::string& comment, std::uint32_t checkint) {
  std::string priv;
  putUint32(priv, checkint);
  putUint32(priv, checkint);
  putString(priv, kEd25519);
  putString(priv, pk);
  putString(priv, sk);
  putString(priv, comment);
  for (char pad = 1; priv.size() % 8 != 0; ++pad) priv.push_back(pad);

  std::string body(kMagic);
  putString(body, "none");
  putString(body, "none");
  putString(body, "");
  putUint32(body, 1);
  putString(body, publicBlob(pk));
  putString(body, priv);

  const std::string b64 = base64Encode(body);
  std::string pem = std::string(kBegin) + "\n";
  for (std::size_t i = 0; i < b64.size(); i += 70) pem += b64.substr(i, 70) + "\n";
  pem += std::string(kEnd) + "\n";
  const std::string blob = publicBlob(pk);
  return {pem, std::string(kEd25519) + " " + base64Encode(blob) + (comment.empty() ? "" : " " + comment),
          fingerprintOfBlob(blob)};
}

Error badKey(const std::string& rule) { return invalidField("deploy_key", rule); }

}  // namespace

Result<DeployKey> deployKeyFromSeed(const std::string& seed, const std::string& comment) {
  if (seed.size() != crypto_sign_SEEDBYTES) return invalidField("seed", "must be 32 bytes");
  if (auto r = checkComment(comment); !r) return r.error();
  unsigned char pk[crypto_sign_PUBLICKEYBYTES];
  unsigned char sk[crypto_sign_SECRETKEYBYTES];
  crypto_sign_seed_keypair(pk, sk, reinterpret_cast<const unsigned char*>(seed.data()));
  const std::string digest = sha256Hex(seed);
  const auto checkint = static_cast<std::uint32_t>(std::stoul(digest.substr(0, 8), nullptr, 16));
  auto key = keyFrom(std::string_view(reinterpret_cast<char*>(pk), sizeof pk),
                     std::string_view(reinterpret_cast<char*>(sk), sizeof sk), comment, checkint);
  sodium_memzero(sk, sizeof sk);
  return key;
}

Result<DeployKey> newDeployKey(const std::string& comment) {
  std::string seed(crypto_sign_SEEDBYTES, '\0');
  randombytes_buf(seed.data(), seed.size());
  auto key = deployKeyFromSeed(seed, comment);
  sodium_memzero(seed.data(), seed.size());
  return key;
}

Result<std::string> publicKeyFingerprint(const std::string& public_line) {
  std::istringstream in(public_line);
  std::string type, b64;
  in >> type >> b64;
  auto blob = base64Decode(b64);
  if (type.empty() || !blob) return invalidField("public_key", "must be 'type base64 [comment]'");
  WireReader reader(*blob);
  auto inner = reader.string();
  if (!inner || *inner != type) return invalidField("public_key", "the key blob does not match its type");
  return fingerprintOfBlob(*blob);
}

Result<DeployKey> readDeployKey(const std::string& private_openssh, const std::string& comment) {
  if (private_openssh.size() > 16 * 1024) return badKey("must be at most 16 KiB");
  if (auto r = checkComment(comment); !r) return r.error();
  const auto begin = private_openssh.find(kBegin);
  const auto end = private_openssh.find(kEnd);
  if (begin == std::string::npos || end == std::string::npos || end < begin)
    return badKey("must be an OpenSSH private key (-----BEGIN OPENSSH PRIVATE KEY-----); convert others with ssh-keygen -p");
  std::string b64;
  for (char c : private_openssh.substr(begin + std::string_view(kBegin).size(), end - begin - std::string_view(kBegin).size()))
    if (c != '\n' && c != '\r' && c != ' ' && c != '\t') b64.push_back(c);
  auto body = base64Decode(b64);
  if (!body) return badKey("the key's base64 is malformed");
  WireReader reader(*body);
  auto magic = reader.raw(kMagic.size());
  if (!magic || *magic != kMagic) return badKey("is not in the openssh-key-v1 format");
  auto cipher = reader.string();
  auto kdf = reader.string();
  auto kdfOptions = reader.string();
  auto count = reader.uint32();
  if (!cipher || !kdf || !kdfOptions || !count) return badKey("is truncated");
  if (*cipher != "none" || *kdf != "none")
    return badKey("must not be encrypted: berth keeps it sealed; remove the passphrase with ssh-keygen -p");
  if (*count != 1) return badKey("must hold exactly one key");
  auto pub = reader.string();
  auto priv = reader.string();
  if (!pub || !priv) return badKey("is truncated");
  WireReader section(*priv);
  auto check1 = section.uint32();
  auto check2 = section.uint32();
  auto type = section.string();
  if (!check1 || !check2 || *check1 != *check2 || !type) return badKey("is damaged (its check values differ)");
  if (*type != kEd25519) return badKey("must be an Ed25519 key (ssh-keygen -t ed25519)");
  auto pk = section.string();
  auto sk = section.string();
  if (!pk || !sk || pk->size() != crypto_sign_PUBLICKEYBYTES || sk->size() != crypto_sign_SECRETKEYBYTES ||
      sk->substr(32) != *pk || *pub != publicBlob(*pk))
    return badKey("is damaged (its public and private halves do not match)");
  // The seed must give the same public key, or the file was assembled from two keys.
  unsigned char derived[crypto_sign_PUBLICKEYBYTES];
  unsigned char ignored[crypto_sign_SECRETKEYBYTES];
  crypto_sign_seed_keypair(derived, ignored, reinterpret_cast<const unsigned char*>(sk->data()));
  sodium_memzero(ignored, sizeof ignored);
  if (std::string_view(reinterpret_cast<char*>(derived), sizeof derived) != *pk)
    return badKey("is damaged (its public and private halves do not match)");
  return keyFrom(*pk, *sk, comment, *check1);
}

std::vector<HostKey> parseKeyscan(const std::string& output) {
  std::vector<HostKey> keys;
  std::istringstream lines(output);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.empty() || line.front() == '#') continue;
    std::istringstream in(line);
    std::string host, type, b64;
    if (!(in >> host >> type >> b64)) continue;
    auto fingerprint = publicKeyFingerprint(type + " " + b64);
    if (!fingerprint) continue;
    keys.push_back({type, b64, *fingerprint});
  }
  return keys;
}

std::string knownHostsLine(const std::string& host, int port, const HostKey& key) {
  // An IPv6 host arrives in brackets already (as URLs spell it); known_hosts wants them once.
  const std::string bare = host.size() > 2 && host.front() == '[' ? host.substr(1, host.size() - 2) : host;
  const std::string name = port == 0 || port == 22 ? bare : "[" + bare + "]:" + std::to_string(port);
  return name + " " + key.type + " " + key.blob_base64 + "\n";
}

}  // namespace berth::source
