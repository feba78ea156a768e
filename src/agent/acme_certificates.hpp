// Certificates from berth's own ACME client (src/acme) for proxies that do not
// get their own (nginx, Traefik's file provider): a CertificateProvider over
// acme::CertificateManager. Hosts that can never hold a public certificate
// (special-use names such as *.localhost or *.test, wildcards: no dns-01 here)
// are left on HTTP without asking the CA.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "acme/acme_client.hpp"
#include "acme/certificate_manager.hpp"
#include "agent/app_router.hpp"

namespace berth::agent {

// Whether a CA could issue for `host` at all (a public DNS name, no wildcard).
bool publiclyIssuable(const std::string& host);

class AcmeCertificates final : public CertificateProvider {
 public:
  // `state_dir`: the agent's (certificates under acme/certs); settings.challenge_dir
  // must be readable by the proxy's workers (outside the private state directory).
  static Result<std::shared_ptr<AcmeCertificates>> create(acme::AcmeSettings settings, const std::string& state_dir);

  std::map<std::string, proxy::CertificateFiles> certificatesFor(const std::vector<std::string>& hosts) override;
  bool refresh(const std::vector<std::string>& hosts) override;
  std::string challengeDirectory() const override { return challenge_dir_; }
  nlohmann::json status(const std::vector<std::string>& hosts) override;
  Result<void> upload(const std::string& host, const std::string& certificate, const std::string& key) override;

 private:
  AcmeCertificates(std::unique_ptr<acme::AcmeClient> client, const std::string& state_dir, std::string challenge_dir);

  std::unique_ptr<acme::AcmeClient> client_;
  acme::CertificateManager manager_;
  std::string challenge_dir_;
  std::mutex refresh_mutex_;  // one issuing pass at a time
};

}  // namespace berth::agent
