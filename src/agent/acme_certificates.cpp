#include "agent/acme_certificates.hpp"

#include <algorithm>
#include <array>

namespace berth::agent {

bool publiclyIssuable(const std::string& host) {
  if (host.empty() || host.rfind("*.", 0) == 0) return false;
  // RFC 2606 / 6761 special-use names, and names only a LAN resolves.
  static constexpr std::array<const char*, 8> kSpecial = {"localhost", "test",  "invalid", "example",
                                                          "local",     "internal", "lan",   "home.arpa"};
  for (const char* suffix : kSpecial) {
    const std::string s = suffix;
    if (host == s || (host.size() > s.size() && host.compare(host.size() - s.size(), s.size(), s) == 0 &&
                      host[host.size() - s.size() - 1] == '.'))
      return false;
  }
  return host.find('.') != std::string::npos;
}

namespace {
std::vector<std::string> issuable(const std::vector<std::string>& hosts) {
  std::vector<std::string> out;
  std::copy_if(hosts.begin(), hosts.end(), std::back_inserter(out), publiclyIssuable);
  return out;
}
}  // namespace

Result<std::shared_ptr<AcmeCertificates>> AcmeCertificates::create(acme::AcmeSettings settings,
                                                                   const std::string& state_dir) {
  const std::string challenge = settings.challenge_dir;
  auto client = acme::AcmeClient::create(std::move(settings));
  if (!client) return client.error();
  return std::shared_ptr<AcmeCertificates>(new AcmeCertificates(std::move(*client), state_dir, challenge));
}

AcmeCertificates::AcmeCertificates(std::unique_ptr<acme::AcmeClient> client, const std::string& state_dir,
                                   std::string challenge_dir)
    : client_(std::move(client)), manager_(state_dir, *client_), challenge_dir_(std::move(challenge_dir)) {}

std::map<std::string, proxy::CertificateFiles> AcmeCertificates::certificatesFor(const std::vector<std::string>& hosts) {
  return manager_.stored(hosts);  // an uploaded certificate may cover a name no public CA issues for
}

Result<void> AcmeCertificates::upload(const std::string& host, const std::string& certificate, const std::string& key) {
  std::lock_guard lock(refresh_mutex_);
  auto stored = manager_.upload(host, certificate, key);
  if (!stored) return stored.error();
  return Ok{};
}

bool AcmeCertificates::refresh(const std::vector<std::string>& hosts) {
  std::lock_guard lock(refresh_mutex_);
  const auto wanted = issuable(hosts);
  // A renewal keeps the file names: compare what is served by expiry, not by path.
  auto served = [&] {
    std::map<std::string, std::int64_t> out;
    for (const auto& [host, files] : manager_.stored(wanted)) {
      auto s = manager_.status(host);
      out[host] = s ? s->not_after : 0;
    }
    return out;
  };
  const auto before = served();
  manager_.ensure(wanted);
  return served() != before;
}

nlohmann::json AcmeCertificates::status(const std::vector<std::string>& hosts) {
  (void)manager_.stored(hosts);  // reads what the store holds for hosts ACME does not ask about (uploads)
  nlohmann::json out = nlohmann::json::object();
  for (const auto& host : hosts) {
    if (auto s = manager_.status(host); s && s->source == "uploaded") {
      out[host] = acme::statusJson(*s);
      continue;
    }
    if (!publiclyIssuable(host)) {
      out[host] = {{"state", "http_only"}, {"reason", "not a name a public CA issues for (special-use or wildcard)"}};
      continue;
    }
    auto s = manager_.status(host);
    out[host] = s ? acme::statusJson(*s) : nlohmann::json{{"state", "issuing"}};
  }
  return out;
}

}  // namespace berth::agent
