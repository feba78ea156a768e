#include "server/identity.hpp"

#include <sys/stat.h>

#include "common/encoding.hpp"
#include "pki/keys.hpp"
#include "pki/sealed_file.hpp"
#include "protocol/signing.hpp"

namespace berth::server {
namespace {
constexpr std::int64_t kDayMs = 24LL * 3600 * 1000;
}

Result<ServerIdentity> loadOrCreateIdentity(const std::string& pki_dir, const std::vector<std::string>& server_names,
                                            std::int64_t now_ms) {
  ::mkdir(pki_dir.c_str(), 0700);
  const std::string caCert = pki_dir + "/ca.crt", caKey = pki_dir + "/ca.key";
  const std::string signKey = pki_dir + "/signing.key", signPub = pki_dir + "/signing.pub";

  if (!pki::fileExists(caCert) || !pki::fileExists(caKey)) {
    auto ca = pki::CertificateAuthority::createNew("berth control plane CA", now_ms, 3650 * kDayMs);
    if (auto r = pki::writePrivateFile(caKey, ca.keyPem()); !r) return r.error();
    if (auto r = pki::writePrivateFile(caCert, ca.certPem()); !r) return r.error();
    ::chmod(caCert.c_str(), 0644);
  }
  if (!pki::fileExists(signKey)) {
    auto pair = protocol::generateSigningKey();
    if (auto r = pki::writePrivateFile(signKey, base64Encode(pair.secret_key)); !r) return r.error();
    if (auto r = pki::writePrivateFile(signPub, base64Encode(pair.public_key)); !r) return r.error();
  }

  auto caCertPem = pki::readFile(caCert);
  auto caKeyPem = pki::readFile(caKey);
  if (!caCertPem) return caCertPem.error();
  if (!caKeyPem) return caKeyPem.error();
  auto ca = pki::CertificateAuthority::fromPem(*caCertPem, *caKeyPem);
  if (!ca) return ca.error();

  auto secretText = pki::readFile(signKey);
  auto publicText = pki::readFile(signPub);
  if (!secretText) return secretText.error();
  if (!publicText) return publicText.error();
  auto secret = base64Decode(*secretText);
  auto pub = base64Decode(*publicText);
  if (!secret || !pub) return makeError("identity_corrupt", "signing key files in " + pki_dir + " are not base64");

  std::string serverKey = pki::generatePrivateKeyPem();
  auto leaf = ca->issueServerCertificate(serverKey, server_names, now_ms, 365 * kDayMs);
  if (!leaf) return leaf.error();
  auto pin = pki::publicKeyPin(ca->certPem());
  if (!pin) return pin.error();
  return ServerIdentity{std::move(*ca), leaf->cert_pem + *caCertPem, std::move(serverKey), *pub, *secret, *pin};
}

}  // namespace berth::server
