#include "acme/certificate_manager.hpp"

#include <cstdio>
#include <filesystem>

#include "acme/certificates.hpp"
#include "apps/domains.hpp"
#include "common/json.hpp"
#include "pki/sealed_file.hpp"

namespace berth::acme {
namespace {

constexpr const char* kSourceAcme = "acme";
constexpr const char* kSourceUploaded = "uploaded";

// <state_dir>/acme/certs/<host>, each level private (0700), created when missing.
Result<void> ensureHostDirectory(const std::string& certs_dir, const std::string& host) {
  const std::string acme_dir = std::filesystem::path(certs_dir).parent_path().string();
  for (const auto& dir : {acme_dir, certs_dir, certs_dir + "/" + host}) {
    if (auto r = pki::ensurePrivateDirectory(dir); !r) return r;
  }
  return {};
}

// Where pki::writePrivatePair stages a certificate before it replaces the served one.
std::string stagedPath(const std::string& path) { return path + ".next"; }

bool isWildcard(const std::string& host) { return host.rfind("*.", 0) == 0; }

// The host as a directory name: validated, so no '/', "..", or control characters.
Result<std::string> checkedHost(const std::string& host) {
  auto valid = apps::validateDomain(host, true, "host");
  if (!valid) return valid.error();
  if (*valid != host) return invalidField("host", "must be lower-case");
  return valid;
}

}  // namespace

nlohmann::json statusJson(const CertificateStatus& s) {
  return nlohmann::json{{"host", s.host},           {"state", s.state},         {"source", s.source},
                        {"issuer", s.issuer},       {"not_before", s.not_before}, {"not_after", s.not_after},
                        {"last_error", s.last_error}, {"next_try", s.next_try}, {"failures", s.failures}};
}

CertificateManager::CertificateManager(std::string state_dir, CertificateIssuer& issuer, Clock clock)
    : certs_dir_(std::move(state_dir) + "/acme/certs"), issuer_(issuer), clock_(std::move(clock)) {}

std::string CertificateManager::hostDir(const std::string& host) const { return certs_dir_ + "/" + host; }

proxy::CertificateFiles CertificateManager::filesOf(const std::string& host) const {
  return {hostDir(host) + "/cert.pem", hostDir(host) + "/key.pem"};
}

CertificateManager::Entry CertificateManager::load(const std::string& host) const {
  Entry entry;
  entry.status.host = host;
  if (auto text = pki::readFile(hostDir(host) + "/state.json"); text) {
    const auto j = parseJsonOrDiscarded(*text);
    if (j.is_object()) {
      const auto source = j.value("source", "");
      if (source == kSourceAcme || source == kSourceUploaded) entry.status.source = source;
      const auto failures = j.value("failures", 0);
      entry.status.failures = failures < 0 ? 0 : failures > 64 ? 64 : failures;
      entry.status.last_error = truncateUtf8(j.value("last_error", ""), 2048);
      entry.status.next_try = j.value("next_try", static_cast<UnixMs>(0));
    }
  }
  const auto files = filesOf(host);
  auto cert = pki::readFile(files.certificate_path);
  auto key = pki::readFile(files.key_path);
  // A crash between writePair's two renames leaves the new key beside the old
  // certificate, the new certificate still staged: finish the switch.
  if (cert && key && !checkCertificatePair(*cert, *key, host)) {
    if (auto staged = pki::readFile(stagedPath(files.certificate_path));
        staged && checkCertificatePair(*staged, *key, host) &&
        ::rename(stagedPath(files.certificate_path).c_str(), files.certificate_path.c_str()) == 0)
      cert = staged;
  }
  if (cert && key) {
    // A pair that does not match (a crash between the two writes) counts as none.
    if (auto facts = checkCertificatePair(*cert, *key, host); facts) {
      entry.has_certificate = true;
      entry.status.issuer = facts->issuer;
      entry.status.not_before = facts->not_before;
      entry.status.not_after = facts->not_after;
      if (entry.status.source.empty()) entry.status.source = kSourceAcme;
    }
  }
  return entry;
}

Result<void> CertificateManager::saveState(const CertificateStatus& s) const {
  if (auto r = ensureHostDirectory(certs_dir_, s.host); !r) return r;
  return pki::writePrivateFile(hostDir(s.host) + "/state.json",
                               nlohmann::json{{"source", s.source},
                                              {"failures", s.failures},
                                              {"last_error", s.last_error},
                                              {"next_try", s.next_try}}
                                   .dump());
}

// Never a new key beside the old certificate (a full disk), which nginx would refuse at its next reload.
Result<void> CertificateManager::writePair(const std::string& host, const std::string& cert_pem,
                                           const std::string& key_pem) const {
  if (auto r = ensureHostDirectory(certs_dir_, host); !r) return r;
  const auto files = filesOf(host);
  return pki::writePrivatePair(files.key_path, key_pem, files.certificate_path, cert_pem);
}

bool CertificateManager::usable(const Entry& entry, UnixMs now) const {
  // not_before is not checked: a CA whose clock runs a little ahead must not leave a fresh certificate unserved.
  return entry.has_certificate && now < entry.status.not_after;
}

void CertificateManager::refresh(const std::string& host) {
  Entry entry;
  {
    std::lock_guard lock(mutex_);
    auto it = entries_.find(host);
    if (it == entries_.end()) it = entries_.emplace(host, load(host)).first;
    entry = it->second;
  }
  const UnixMs now = clock_();
  auto publish = [&](Entry e) {
    if (e.status.source == kSourceUploaded) {
      e.status.state = usable(e, now) ? "uploaded" : "expired";
    } else if (usable(e, now)) {
      e.status.state = "valid";
    } else {
      e.status.state = e.status.failures > 0 ? "failed" : "issuing";
    }
    std::lock_guard lock(mutex_);
    entries_[host] = std::move(e);
  };
  if (entry.status.source == kSourceUploaded) return publish(entry);
  if (isWildcard(host)) {
    entry.status.failures = std::max(entry.status.failures, 1);
    entry.status.last_error = "a wildcard needs the dns-01 challenge, which berth does not do: upload a certificate";
    entry.status.next_try = 0;
    return publish(entry);
  }
  if (entry.has_certificate && !renewalDue(entry.status.not_before, entry.status.not_after, now)) {
    return publish(entry);
  }
  // Clamped, so a stored next_try from a clock that ran ahead waits at most the longest backoff.
  const std::int64_t wait = backoffWaitMs(entry.status.next_try, now);
  if (wait > 0) {
    entry.status.next_try = now + wait;
    return publish(entry);
  }
  if (!usable(entry, now)) {  // what status() shows while the order runs
    std::lock_guard lock(mutex_);
    entries_[host].status.state = "issuing";
  }
  auto issued = issuer_.issue({host});
  Result<ChainFacts> facts = issued ? checkCertificatePair(issued->chain_pem, issued->key_pem, host)
                                    : Result<ChainFacts>(issued.error());
  if (facts) {
    if (auto written = writePair(host, issued->chain_pem, issued->key_pem); !written) facts = written.error();
  }
  if (facts) {
    entry.has_certificate = true;
    entry.status.source = kSourceAcme;
    entry.status.issuer = facts->issuer;
    entry.status.not_before = facts->not_before;
    entry.status.not_after = facts->not_after;
    entry.status.failures = 0;
    entry.status.last_error.clear();
    entry.status.next_try = 0;
  } else {
    entry.status.failures = std::min(entry.status.failures + 1, 64);
    entry.status.last_error = truncateUtf8(facts.error().message, 2048);
    entry.status.next_try = now + backoffDelayMs(entry.status.failures);
  }
  (void)saveState(entry.status);  // best effort: a lost state file only forgets the backoff
  publish(entry);
}

std::map<std::string, proxy::CertificateFiles> CertificateManager::ensure(const std::vector<std::string>& hosts) {
  std::set<std::string> wanted;
  for (const auto& host : hosts) {
    if (checkedHost(host)) wanted.insert(host);
  }
  {
    std::lock_guard lock(mutex_);
    wanted_ = wanted;
    for (auto it = entries_.begin(); it != entries_.end();) {
      it = wanted_.count(it->first) ? std::next(it) : entries_.erase(it);
    }
  }
  std::map<std::string, proxy::CertificateFiles> out;
  for (const auto& host : wanted) {
    refresh(host);
    std::lock_guard lock(mutex_);
    const auto& entry = entries_.at(host);
    if (usable(entry, clock_())) out[host] = filesOf(host);
  }
  return out;
}

std::map<std::string, proxy::CertificateFiles> CertificateManager::renewDue() {
  std::vector<std::string> hosts;
  {
    std::lock_guard lock(mutex_);
    hosts.assign(wanted_.begin(), wanted_.end());
  }
  return ensure(hosts);
}

Result<proxy::CertificateFiles> CertificateManager::upload(const std::string& host, const std::string& cert_pem,
                                                           const std::string& key_pem) {
  if (auto valid = checkedHost(host); !valid) return valid.error();
  auto facts = checkUploadedCertificate(cert_pem, key_pem, host, clock_());
  if (!facts) return facts.error();
  const auto files = filesOf(host);
  if (auto r = writePair(host, cert_pem, key_pem); !r) return r.error();
  Entry entry;
  entry.has_certificate = true;
  entry.status.host = host;
  entry.status.state = "uploaded";
  entry.status.source = kSourceUploaded;
  entry.status.issuer = facts->issuer;
  entry.status.not_before = facts->not_before;
  entry.status.not_after = facts->not_after;
  if (auto r = saveState(entry.status); !r) return r.error();
  std::lock_guard lock(mutex_);
  entries_[host] = entry;
  return files;
}

std::map<std::string, proxy::CertificateFiles> CertificateManager::stored(const std::vector<std::string>& hosts) {
  std::map<std::string, proxy::CertificateFiles> out;
  const UnixMs now = clock_();
  std::lock_guard lock(mutex_);
  for (const auto& host : hosts) {
    if (!checkedHost(host)) continue;
    auto it = entries_.find(host);
    if (it == entries_.end()) it = entries_.emplace(host, load(host)).first;
    if (usable(it->second, now)) out[host] = filesOf(host);
  }
  return out;
}

std::optional<CertificateStatus> CertificateManager::status(const std::string& host) const {
  std::lock_guard lock(mutex_);
  const auto it = entries_.find(host);
  if (it == entries_.end()) return std::nullopt;
  return it->second.status;
}

std::vector<CertificateStatus> CertificateManager::statuses() const {
  std::lock_guard lock(mutex_);
  std::vector<CertificateStatus> out;
  for (const auto& [host, entry] : entries_) out.push_back(entry.status);
  return out;
}

}  // namespace berth::acme
