// Certificates for the hosts a node serves over HTTPS: reuses what is stored
// under <state_dir>/acme/certs/<host>/ (cert.pem, key.pem 0600, state.json),
// issues through a CertificateIssuer (the ACME client) what is missing,
// renews what renewalDue() says, backs off per host after a failure, and
// keeps uploaded certificates (never renewed by ACME).
//
// Threads: ensure(), renewDue() and upload() block (they may run a whole ACME
// order) and are called from one worker thread at a time; status() and
// statuses() may be called from any thread meanwhile.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "acme/acme_client.hpp"
#include "common/clock.hpp"
#include "common/result.hpp"
#include "proxy/proxy_state.hpp"

namespace berth::acme {

struct CertificateStatus {
  std::string host;
  // "issuing": no certificate yet; "valid": an ACME certificate is served;
  // "uploaded": an uploaded one is served; "failed": none usable and the last
  // attempt failed (see last_error, next_try); "expired": an uploaded
  // certificate expired and is no longer served.
  std::string state = "issuing";
  std::string source;  // "acme", "uploaded", or "" before any certificate
  std::string issuer;
  UnixMs not_before = 0;
  UnixMs not_after = 0;
  std::string last_error;  // the last failed attempt's reason, "" after a success
  UnixMs next_try = 0;     // earliest next ACME attempt after a failure; 0: none pending
  int failures = 0;        // consecutive failures
};

// {"host","state","source","issuer","not_before","not_after","last_error",
//  "next_try","failures"}, times in unix ms (0 = none): for the API, `berth
// app show` and /metrics as-is.
nlohmann::json statusJson(const CertificateStatus& status);

class CertificateManager {
 public:
  // `issuer` must outlive the manager. Reads what the state directory holds.
  CertificateManager(std::string state_dir, CertificateIssuer& issuer, Clock clock = systemNowMs);

  // The hosts that want HTTPS now (replacing the previous set): issues or
  // renews what is due and not backing off, then returns the certificate
  // files of every host that has a usable one (the rest stay on HTTP).
  std::map<std::string, proxy::CertificateFiles> ensure(const std::vector<std::string>& hosts);
  // The files of those of `hosts` that hold a usable certificate now, read from
  // the state directory when not seen yet; never issues (quick, for every proxy change).
  std::map<std::string, proxy::CertificateFiles> stored(const std::vector<std::string>& hosts);
  // ensure() over the last set: the periodic renewal pass.
  std::map<std::string, proxy::CertificateFiles> renewDue();

  // Stores an uploaded certificate (chain, leaf first) and key for `host` after
  // checkUploadedCertificate(); it replaces any ACME certificate and is never
  // renewed. Errors: "bad_certificate" naming the rule, "invalid_argument", "write_failed".
  Result<proxy::CertificateFiles> upload(const std::string& host, const std::string& cert_pem,
                                         const std::string& key_pem);

  std::optional<CertificateStatus> status(const std::string& host) const;
  std::vector<CertificateStatus> statuses() const;  // every host of the last ensure() or upload(), by name

 private:
  struct Entry {
    CertificateStatus status;
    bool has_certificate = false;
  };
  std::string hostDir(const std::string& host) const;
  proxy::CertificateFiles filesOf(const std::string& host) const;
  Entry load(const std::string& host) const;
  Result<void> saveState(const CertificateStatus& status) const;
  Result<void> writePair(const std::string& host, const std::string& cert_pem, const std::string& key_pem) const;
  void refresh(const std::string& host);
  bool usable(const Entry& entry, UnixMs now) const;

  std::string certs_dir_;
  CertificateIssuer& issuer_;
  Clock clock_;
  mutable std::mutex mutex_;  // guards entries_ and wanted_
  std::map<std::string, Entry> entries_;
  std::set<std::string> wanted_;
};

}  // namespace berth::acme
