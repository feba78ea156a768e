// HTTPS for `berth dev`: a CertificateProvider backed by a local certificate
// authority made once under a directory of its own (<data_dir>/local-ca/):
// root.crt and root.key (0600), then per host hosts/<host>.crt and .key,
// issued on first use, reused across restarts and issued again when close to
// expiry or no longer chained to the root. Only hosts under `localhost` get
// one (the root carries a nameConstraints for localhost, so trusting it on a
// workstation vouches for nothing else); other hosts stay on HTTP.
//
// Issuing is local (a P-256 key and a signature, milliseconds), so
// certificatesFor() issues what is missing at once: a dev app is on HTTPS from
// its first deploy. Thread-safe (one mutex).
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "agent/app_router.hpp"
#include "common/clock.hpp"
#include "common/result.hpp"
#include "pki/authority.hpp"

namespace berth::agent {

struct LocalCaOptions {
  std::string dir;  // created 0700 when missing
  Clock clock = systemNowMs;
  std::int64_t ca_validity_ms = 10 * 365 * kDayMs;
  // Apple platforms refuse TLS server certificates valid for more than 825 days.
  std::int64_t leaf_validity_ms = 180 * kDayMs;
  std::int64_t renew_before_ms = 30 * kDayMs;  // issued again when less than this is left
};

// The pure rules, apart for tests.
namespace local_ca {
// "localhost" and names under it, in the lowercase DNS character set (a
// wildcard or anything else is refused: it also names a file).
bool servesHost(const std::string& host);
// Whether a leaf valid until `not_after_ms` must be issued again at `now_ms`.
bool renewalDue(UnixMs not_after_ms, UnixMs now_ms, std::int64_t renew_before_ms);
}  // namespace local_ca

class LocalCaCertificates final : public CertificateProvider {
 public:
  // Loads the CA under options.dir, or creates it there on first use. Fails
  // when the directory is unsafe ("unsafe_directory"), cannot be written, or
  // holds a damaged root ("bad_certificate"/"bad_key": the error names the
  // file; remove the directory to start over, then trust the new root).
  static Result<std::shared_ptr<LocalCaCertificates>> open(LocalCaOptions options);

  // The root certificate's path: what a workstation or curl (--cacert) trusts.
  std::string rootPath() const { return options_.dir + "/root.crt"; }

  std::map<std::string, proxy::CertificateFiles> certificatesFor(const std::vector<std::string>& hosts) override;
  bool refresh(const std::vector<std::string>& hosts) override;
  // [{host, state ("valid", "issuing" (not asked for yet), "failed", or "refused": not under localhost), source
  // "local_ca", issuer, not_before, not_after, last_error, next_try, failures}].
  nlohmann::json status(const std::vector<std::string>& hosts) override;

 private:
  struct Leaf {
    UnixMs not_before = 0, not_after = 0;
    std::string last_error;  // the last failed issue, "" after a success
    int failures = 0;
  };
  LocalCaCertificates(LocalCaOptions options, pki::CertificateAuthority ca)
      : options_(std::move(options)), ca_(std::move(ca)) {}
  std::string certPath(const std::string& host) const { return options_.dir + "/hosts/" + host + ".crt"; }
  std::string keyPath(const std::string& host) const { return options_.dir + "/hosts/" + host + ".key"; }
  // Makes sure `host` has a usable leaf (from memory, disk, or issued now); true when one was issued.
  bool ensureLocked(const std::string& host, UnixMs now);
  bool usableLocked(const std::string& host, UnixMs now) const;
  std::optional<Leaf> loadFromDisk(const std::string& host, UnixMs now) const;
  Result<Leaf> issue(const std::string& host, UnixMs now) const;

  LocalCaOptions options_;
  pki::CertificateAuthority ca_;
  std::mutex mutex_;
  std::map<std::string, Leaf> leaves_;  // hosts asked about so far
};

}  // namespace berth::agent
