#include "server/identity.hpp"

#include "common/clock.hpp"

#include <sys/stat.h>

#include <algorithm>

#include "common/encoding.hpp"
#include "common/json.hpp"
#include "common/logging.hpp"
#include "pki/keys.hpp"
#include "pki/sealed_file.hpp"
#include "protocol/signing.hpp"

namespace berth::server {
namespace {
constexpr std::int64_t kServerCertValidityMs = 365 * kDayMs;
// Back-dated so an agent whose clock is a little behind still accepts it.
constexpr std::int64_t kNotBeforeSlackMs = 3600LL * 1000;

std::vector<std::string> sortedUnique(std::vector<std::string> names) {
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  return names;
}

// The TLS certificate (leaf PEM, key PEM), kept across restarts: re-issued
// only when the name set changed or a third of its life is left, so agents
// never meet a certificate that starts "now".
Result<std::pair<std::string, std::string>> loadOrIssueServerCertificate(const std::string& pki_dir,
                                                                         const pki::CertificateAuthority& ca,
                                                                         const std::vector<std::string>& names,
                                                                         std::int64_t now_ms) {
  const std::string certPath = pki_dir + "/server.crt", keyPath = pki_dir + "/server.key";
  const std::string metaPath = pki_dir + "/server.json";
  std::vector<std::string> previousNames;
  if (pki::fileExists(certPath) && pki::fileExists(keyPath) && pki::fileExists(metaPath)) {
    auto meta = pki::readFile(metaPath);
    auto cert = pki::readFile(certPath);
    auto key = pki::readFile(keyPath);
    auto j = meta ? parseJsonOrDiscarded(*meta) : nlohmann::json();
    if (j.is_object() && j.contains("names") && j["names"].is_array()) {
      for (const auto& n : j["names"]) {
        if (n.is_string()) previousNames.push_back(n);
      }
    }
    const bool sameNames = sortedUnique(previousNames) == sortedUnique(names);
    const bool fresh = j.is_object() && j.contains("not_after") && j["not_after"].is_number_integer() &&
                       j["not_after"].get<std::int64_t>() - now_ms > kServerCertValidityMs / 3;
    // A pair that does not match (a crash between the pair's two renames) is issued again.
    const bool matching = cert && key && pki::keyMatchesCertificate(*key, *cert);
    if (matching && sameNames && fresh) return std::make_pair(*cert, *key);
    if (!sameNames) {
      log::info("server certificate re-issued: the names it should hold changed",
                {{"names", names}, {"previous_names", previousNames}});
    } else if (!matching) {
      log::warn("server certificate re-issued: its files could not be read or do not match", {{"names", names}});
    } else {
      log::info("server certificate re-issued: a third of its life is left", {{"names", names}});
    }
  } else {
    log::info("server certificate issued", {{"names", names}});
  }
  std::string key = pki::generatePrivateKeyPem();
  auto leaf = ca.issueServerCertificate(key, names, now_ms - kNotBeforeSlackMs, kServerCertValidityMs + kNotBeforeSlackMs);
  if (!leaf) return leaf.error();
  // Together: a full disk leaves the previous pair whole, never a new key beside an old certificate.
  if (auto r = pki::writePrivatePair(keyPath, key, certPath, leaf->cert_pem); !r) return r.error();
  if (auto r = pki::writePrivateFile(metaPath, nlohmann::json{{"names", names}, {"not_after", leaf->not_after_ms}}.dump());
      !r)
    return r.error();
  return std::make_pair(leaf->cert_pem, key);
}
}  // namespace

Result<ServerIdentity> loadOrCreateIdentity(const std::string& pki_dir, const std::vector<std::string>& server_names,
                                            std::int64_t now_ms) {
  if (auto r = pki::ensurePrivateDirectory(pki_dir); !r) return r.error();
  const std::string caCert = pki_dir + "/ca.crt", caKey = pki_dir + "/ca.key";
  const std::string signKey = pki_dir + "/signing.key", signPub = pki_dir + "/signing.pub";

  if (!pki::fileExists(caCert) || !pki::fileExists(caKey)) {
    auto ca = pki::CertificateAuthority::createNew("berth control plane CA", now_ms, 3650 * kDayMs);
    if (auto r = pki::writePrivatePair(caKey, ca.keyPem(), caCert, ca.certPem()); !r) return r.error();
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

  auto leaf = loadOrIssueServerCertificate(pki_dir, *ca, server_names, now_ms);
  if (!leaf) return leaf.error();
  auto pin = pki::publicKeyPin(ca->certPem());
  if (!pin) return pin.error();
  return ServerIdentity{std::move(*ca), leaf->first + *caCertPem, std::move(leaf->second), *pub, *secret, *pin};
}

}  // namespace berth::server
