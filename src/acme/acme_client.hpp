// berth's ACME (RFC 8555) client for http-01: directory, nonces, one account
// per state directory, orders, challenges answered through files the proxy
// serves at /.well-known/acme-challenge/, finalize and download. Blocking;
// meant for a worker thread. One client is used by one thread at a time
// (it keeps the last nonce); separate clients are independent.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "acme/documents.hpp"
#include "common/result.hpp"

namespace berth::acme {

struct AcmeSettings {
  std::string directory_url;  // https://acme-v02.api.letsencrypt.org/directory, or Pebble's
  // PEM file of the CA that signs the ACME server's own TLS certificate
  // (Pebble's is self-signed); empty: the system trust store.
  std::string ca_file;
  std::string contact_email;  // optional, sent as mailto: at registration
  // Where the account key (0600) and account URL are kept.
  std::string account_dir;
  // Where http-01 token files are written; the proxy serves it (ProxyState::acme_challenge_dir).
  std::string challenge_dir;
  std::chrono::milliseconds request_timeout{15'000};   // each HTTP exchange
  std::chrono::milliseconds validation_deadline{90'000};  // polling an authorization or an order
  std::chrono::milliseconds poll_interval{1'000};  // the longest pause between polls (they start at 100 ms and double)
  std::size_t max_response_bytes = 1024 * 1024;  // certificates chains and documents are a few KiB
};

struct IssuedCertificate {
  std::string chain_pem;  // leaf first, as the CA sent it
  std::string key_pem;    // the certificate's own P-256 key
};

// What obtains a certificate for a host list; CertificateManager depends on
// this, so its tests can stand in for a CA.
class CertificateIssuer {
 public:
  virtual ~CertificateIssuer() = default;
  // Errors: "acme_failed" with the CA's problem (type and detail) or the step
  // that failed, "acme_unreachable" when the CA cannot be reached.
  virtual Result<IssuedCertificate> issue(const std::vector<std::string>& hosts) = 0;
  // Orders placed since construction (a restart that reuses a stored certificate places none).
  virtual std::uint64_t ordersPlaced() const = 0;
};

class AcmeClient : public CertificateIssuer {
 public:
  // Checks the settings, reads the CA file, creates the account key once
  // (persisted 0600) and the challenge directory. No network yet.
  static Result<std::unique_ptr<AcmeClient>> create(AcmeSettings settings);
  ~AcmeClient() override;

  Result<IssuedCertificate> issue(const std::vector<std::string>& hosts) override;
  std::uint64_t ordersPlaced() const override;

  // The registered account's URL (registering it when needed).
  Result<std::string> accountUrl();

 private:
  struct Impl;
  explicit AcmeClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace berth::acme
