// The control plane's own certificate authority: a self-signed ECDSA P-256 CA
// that issues the server's TLS certificate and short-lived agent client
// certificates from CSRs. Values in, PEM out; the caller persists them.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/result.hpp"

namespace berth::pki {

struct IssuedCertificate {
  std::string cert_pem;
  std::string serial_hex;
  std::int64_t not_after_ms = 0;
};

// The CN an agent asks for when it enrols: its node id is not known yet.
constexpr const char* kEnrolmentCommonName = "berth-agent";

// Checks an agent's CSR before any token is spent or anything signed: it is a
// PEM request whose signature verifies, its subject CN is one of `allowed_cns`,
// and it asks for no subjectAltName, no CA:TRUE and no keyCertSign/cRLSign.
// Fails "bad_csr" naming the rule.
Result<void> checkAgentCsr(const std::string& csr_pem, const std::vector<std::string>& allowed_cns);

class CertificateAuthority {
 public:
  // `permitted_dns` (when not empty) becomes a critical nameConstraints
  // extension: the CA can then vouch only for those names and their
  // subdomains, whoever ends up trusting it (berth dev's local CA: localhost).
  static CertificateAuthority createNew(const std::string& common_name, std::int64_t now_ms, std::int64_t validity_ms,
                                        const std::vector<std::string>& permitted_dns = {});
  static Result<CertificateAuthority> fromPem(std::string cert_pem, std::string key_pem);

  // Client certificate for an agent. The subject CN is `node_id` whatever the
  // CSR asked for; the CSR's own signature must verify.
  Result<IssuedCertificate> signAgentCsr(const std::string& csr_pem, const std::string& node_id, std::int64_t now_ms,
                                         std::int64_t validity_ms) const;
  // Server certificate for `key_pem` with DNS/IP subject alternative names.
  Result<IssuedCertificate> issueServerCertificate(const std::string& key_pem, const std::vector<std::string>& names,
                                                   std::int64_t now_ms, std::int64_t validity_ms) const;

  const std::string& certPem() const { return cert_pem_; }
  const std::string& keyPem() const { return key_pem_; }

 private:
  CertificateAuthority(std::string cert_pem, std::string key_pem)
      : cert_pem_(std::move(cert_pem)), key_pem_(std::move(key_pem)) {}
  std::string cert_pem_;
  std::string key_pem_;
};

}  // namespace berth::pki
