// Keys, CSRs and certificate facts with OpenSSL 3. Pure in the sense that
// nothing here touches files or sockets: PEM text in, PEM text out.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/result.hpp"

namespace berth::pki {

// A new ECDSA P-256 private key, PKCS#8 PEM.
std::string generatePrivateKeyPem();
// A CSR for `common_name`, signed by `key_pem`.
Result<std::string> makeCsr(const std::string& key_pem, const std::string& common_name);

struct CertificateInfo {
  std::string common_name;
  std::string serial_hex;
  std::int64_t not_before_ms = 0;
  std::int64_t not_after_ms = 0;
  std::string spki_pin;  // "sha256:<hex>" of the DER SubjectPublicKeyInfo
  std::vector<std::string> names;  // subjectAltName DNS names and IP addresses
};

Result<CertificateInfo> inspectCertificate(const std::string& cert_pem);

// "sha256:<hex>" of the public key in `cert_pem` (the value `--ca-pin` takes).
Result<std::string> publicKeyPin(const std::string& cert_pem);

// Whether `key_pem` is the private key of `cert_pem` (false when either does not parse).
bool keyMatchesCertificate(const std::string& key_pem, const std::string& cert_pem);

// Verifies `cert_pem` as a TLS server certificate for `host` at `now_ms`,
// chained to the root `ca_pem` alone: signature, validity, serverAuth and the
// root's name constraints. Fails "untrusted_certificate" with OpenSSL's reason.
Result<void> verifyServerCertificate(const std::string& cert_pem, const std::string& ca_pem, const std::string& host,
                                     std::int64_t now_ms);

}  // namespace berth::pki
