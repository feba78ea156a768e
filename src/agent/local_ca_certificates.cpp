#include "agent/local_ca_certificates.hpp"

#include "common/logging.hpp"
#include "pki/keys.hpp"
#include "pki/sealed_file.hpp"

namespace berth::agent {
namespace local_ca {

bool servesHost(const std::string& host) {
  constexpr std::string_view kRoot = "localhost";
  if (host.empty() || host.size() > 253 || host.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-.") != std::string::npos)
    return false;
  if (host.front() == '.' || host.front() == '-' || host.find("..") != std::string::npos) return false;
  if (host == kRoot) return true;
  return host.size() > kRoot.size() + 1 && host.compare(host.size() - kRoot.size(), kRoot.size(), kRoot) == 0 &&
         host[host.size() - kRoot.size() - 1] == '.';
}

bool renewalDue(UnixMs not_after_ms, UnixMs now_ms, std::int64_t renew_before_ms) {
  return not_after_ms - now_ms < renew_before_ms;
}

}  // namespace local_ca

namespace {

constexpr const char* kCaName = "berth dev local CA";

Error fileError(const std::string& path, const Error& e) { return makeError(e.code, path + ": " + e.message); }

}  // namespace

Result<std::shared_ptr<LocalCaCertificates>> LocalCaCertificates::open(LocalCaOptions options) {
  if (auto r = pki::ensurePrivateDirectory(options.dir); !r) return r.error();
  if (auto r = pki::ensurePrivateDirectory(options.dir + "/hosts"); !r) return r.error();
  pki::removeStaleTempFiles(options.dir);
  pki::removeStaleTempFiles(options.dir + "/hosts");
  const std::string certFile = options.dir + "/root.crt", keyFile = options.dir + "/root.key";
  if (!pki::fileExists(certFile)) {
    // The key first: a root certificate on disk always has its key beside it.
    auto ca = pki::CertificateAuthority::createNew(kCaName, options.clock(), options.ca_validity_ms, {"localhost"});
    if (auto r = pki::writePrivateFile(keyFile, ca.keyPem()); !r) return r.error();
    if (auto r = pki::writePrivateFile(certFile, ca.certPem()); !r) return r.error();
    log::info("local CA created", {{"root", certFile}});
    return std::shared_ptr<LocalCaCertificates>(new LocalCaCertificates(std::move(options), std::move(ca)));
  }
  auto certPem = pki::readFile(certFile);
  if (!certPem) return fileError(certFile, certPem.error());
  auto keyPem = pki::readFile(keyFile);
  if (!keyPem) return fileError(keyFile, keyPem.error());
  if (!pki::keyMatchesCertificate(*keyPem, *certPem))
    return makeError("bad_key", keyFile + ": not the private key of " + certFile +
                                    " (remove " + options.dir + " to make a new local CA, then trust the new root)");
  auto ca = pki::CertificateAuthority::fromPem(*certPem, *keyPem);
  if (!ca) return fileError(certFile, ca.error());
  return std::shared_ptr<LocalCaCertificates>(new LocalCaCertificates(std::move(options), std::move(*ca)));
}

std::optional<LocalCaCertificates::Leaf> LocalCaCertificates::loadFromDisk(const std::string& host, UnixMs now) const {
  auto cert = pki::readFile(certPath(host));
  auto key = pki::readFile(keyPath(host));
  if (!cert || !key || !pki::keyMatchesCertificate(*key, *cert)) return std::nullopt;
  // A leaf of an earlier root (the directory was reset) or an expired one is issued again.
  if (!pki::verifyServerCertificate(*cert, ca_.certPem(), host, now)) return std::nullopt;
  auto info = pki::inspectCertificate(*cert);
  if (!info || local_ca::renewalDue(info->not_after_ms, now, options_.renew_before_ms)) return std::nullopt;
  return Leaf{info->not_before_ms, info->not_after_ms, "", 0};
}

Result<LocalCaCertificates::Leaf> LocalCaCertificates::issue(const std::string& host, UnixMs now) const {
  const std::string key = pki::generatePrivateKeyPem();
  auto cert = ca_.issueServerCertificate(key, {host}, now, options_.leaf_validity_ms);
  if (!cert) return cert.error();
  // Both or neither: a failed write (a full disk) keeps serving the pair before; a crash
  // between the renames leaves a pair that does not match, which loadFromDisk() refuses
  // and the next call issues again.
  if (auto r = pki::writePrivatePair(keyPath(host), key, certPath(host), cert->cert_pem); !r) return r.error();
  auto info = pki::inspectCertificate(cert->cert_pem);
  if (!info) return info.error();
  return Leaf{info->not_before_ms, info->not_after_ms, "", 0};
}

bool LocalCaCertificates::usableLocked(const std::string& host, UnixMs now) const {
  auto it = leaves_.find(host);
  return it != leaves_.end() && it->second.not_after > 0 &&
         !local_ca::renewalDue(it->second.not_after, now, options_.renew_before_ms);
}

bool LocalCaCertificates::ensureLocked(const std::string& host, UnixMs now) {
  if (!local_ca::servesHost(host) || usableLocked(host, now)) return false;
  auto& entry = leaves_[host];
  if (entry.not_after == 0 && entry.failures == 0) {  // first asked since start: what the disk holds
    if (auto stored = loadFromDisk(host, now)) {
      entry = *stored;
      return false;
    }
  }
  auto issued = issue(host, now);
  if (!issued) {
    // What was served (if anything) stays served until it expires; the next call tries again.
    entry.last_error = issued.error().message;
    ++entry.failures;
    log::error("local CA: no certificate issued", {{"host", host}, {"error", entry.last_error}});
    return false;
  }
  entry = *issued;
  log::info("local CA: certificate issued", {{"host", host}});
  return true;
}

std::map<std::string, proxy::CertificateFiles> LocalCaCertificates::certificatesFor(
    const std::vector<std::string>& hosts) {
  std::lock_guard lock(mutex_);
  const UnixMs now = options_.clock();
  std::map<std::string, proxy::CertificateFiles> out;
  for (const auto& host : hosts) {
    ensureLocked(host, now);
    auto it = leaves_.find(host);
    if (it != leaves_.end() && it->second.not_after > now) out[host] = {certPath(host), keyPath(host)};
  }
  return out;
}

bool LocalCaCertificates::refresh(const std::vector<std::string>& hosts) {
  std::lock_guard lock(mutex_);
  const UnixMs now = options_.clock();
  bool changed = false;
  for (const auto& host : hosts) changed |= ensureLocked(host, now);
  return changed;
}

nlohmann::json LocalCaCertificates::status(const std::vector<std::string>& hosts) {
  std::lock_guard lock(mutex_);
  const UnixMs now = options_.clock();
  // Keyed by host, as CertificateProvider says: the server reads it so for `app show` and /metrics.
  nlohmann::json out = nlohmann::json::object();
  for (const auto& host : hosts) {
    Leaf leaf;
    std::string state = "refused", error = "not under localhost: served on HTTP (the local CA signs only *.localhost)";
    if (local_ca::servesHost(host)) {
      auto it = leaves_.find(host);
      if (it != leaves_.end()) leaf = it->second;
      state = leaf.not_after > now ? "valid" : it == leaves_.end() || leaf.failures == 0 ? "issuing" : "failed";
      error = leaf.last_error;
    }
    out[host] = {{"host", host},
                 {"state", state},
                 {"source", "local_ca"},
                 {"issuer", kCaName},
                 {"not_before", leaf.not_before},
                 {"not_after", leaf.not_after},
                 {"last_error", error},
                 {"next_try", 0},
                 {"failures", leaf.failures}};
  }
  return out;
}

}  // namespace berth::agent
