#include "acme/acme_client.hpp"

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>

#include "acme/certificates.hpp"
#include "acme/jose.hpp"
#include "common/ids.hpp"
#include "common/json.hpp"
#include "net/http_client.hpp"
#include "net/tls.hpp"
#include "pki/keys.hpp"
#include "pki/sealed_file.hpp"

namespace berth::acme {
namespace {

constexpr const char* kJoseContentType = "application/jose+json";

Error acmeFailed(const std::string& step, const std::string& why) {
  return makeError("acme_failed", "ACME " + step + ": " + why);
}

// A token file: world-readable (the key authorization is public, and nginx's
// workers do not run as root), written whole through a temp file and rename.
Result<void> writeTokenFile(const std::string& path, const std::string& content) {
  const std::string temp = path + ".tmp." + randomHex(6);
  {
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    out << content;
    if (!out.flush()) return makeError("write_failed", "cannot write " + temp);
  }
  ::chmod(temp.c_str(), 0644);
  std::error_code ec;
  std::filesystem::rename(temp, path, ec);
  if (ec) {
    std::filesystem::remove(temp, ec);
    return makeError("write_failed", "cannot rename to " + path);
  }
  return {};
}

class TokenFileGuard {
 public:
  explicit TokenFileGuard(std::string path) : path_(std::move(path)) {}
  ~TokenFileGuard() {
    std::error_code ec;
    std::filesystem::remove(path_, ec);
  }
  TokenFileGuard(const TokenFileGuard&) = delete;
  TokenFileGuard& operator=(const TokenFileGuard&) = delete;

 private:
  std::string path_;
};

}  // namespace

struct AcmeClient::Impl {
  AcmeSettings settings;
  std::unique_ptr<net::ssl::context> tls;
  std::string account_key_pem;
  std::string thumbprint;
  std::optional<Directory> directory;
  std::string account_url;
  std::string nonce;
  std::string last_problem;  // the short type of the last problem the CA answered
  std::uint64_t orders_placed = 0;

  std::string accountFile() const { return settings.account_dir + "/account.json"; }

  Result<net::HttpResponse> send(const std::string& url_text, net::HttpRequest request, const std::string& step) {
    auto url = net::parseUrl(url_text);
    if (!url) return acmeFailed(step, url.error().message);
    request.target = url->path;
    // With its port: CAs build the URLs of their answers from it (Pebble does).
    const std::string host = url->host.find(':') != std::string::npos ? "[" + url->host + "]" : url->host;
    request.headers["host"] = url->port == "443" ? host : host + ":" + url->port;
    request.max_response_bytes = settings.max_response_bytes;
    auto response = net::httpsRequest(*url, *tls, request, settings.request_timeout);
    if (!response) return makeError("acme_unreachable", "ACME " + step + ": " + response.error().message);
    if (auto it = response->headers.find("replay-nonce"); it != response->headers.end()) {
      if (base64urlDecode(it->second) && !it->second.empty() && it->second.size() <= 256) nonce = it->second;
    }
    return response;
  }

  Result<void> loadDirectory() {
    if (directory) return {};
    auto response = send(settings.directory_url, net::HttpRequest{}, "directory");
    if (!response) return response.error();
    if (response->status != 200) return acmeFailed("directory", "HTTP " + std::to_string(response->status));
    auto parsed = parseDirectory(response->body);
    if (!parsed) return acmeFailed("directory", parsed.error().message);
    if (parsed->external_account_required) {
      return acmeFailed("directory", "the CA requires external account binding, which berth does not support");
    }
    directory = std::move(parsed.value());
    return {};
  }

  Result<void> freshNonce() {
    if (!nonce.empty()) return {};
    auto response = send(directory->new_nonce, net::HttpRequest{}, "newNonce");
    if (!response) return response.error();
    if (nonce.empty()) return acmeFailed("newNonce", "the answer carried no Replay-Nonce");
    return {};
  }

  // A signed POST; `payload` empty is POST-as-GET. A badNonce answer is retried
  // once with the nonce that answer carried. A 4xx/5xx becomes the CA's problem.
  Result<net::HttpResponse> post(const std::string& url, const std::string& payload, const std::string& step,
                                 bool use_kid = true, const std::string& accept = "") {
    for (int attempt = 0; attempt < 2; ++attempt) {
      if (auto r = freshNonce(); !r) return r.error();
      JwsHeader header{url, nonce, use_kid ? account_url : ""};
      nonce.clear();  // each nonce is used once
      auto jws = signJws(account_key_pem, header, payload);
      if (!jws) return acmeFailed(step, jws.error().message);
      net::HttpRequest request;
      request.method = "POST";
      request.body = *jws;
      request.headers["content-type"] = kJoseContentType;
      if (!accept.empty()) request.headers["accept"] = accept;
      auto response = send(url, request, step);
      if (!response) return response.error();
      if (response->status < 400) return response;
      auto problem = parseProblem(response->body);
      if (problem && problem->shortType() == "badNonce" && attempt == 0) continue;
      if (!problem) return acmeFailed(step, "HTTP " + std::to_string(response->status));
      last_problem = problem->shortType();
      return acmeFailed(step, problem->shortType() + ": " + problem->detail);
    }
    return acmeFailed(step, "the CA refused two fresh nonces");
  }

  Result<void> ensureAccount() {
    if (auto r = loadDirectory(); !r) return r;
    if (!account_url.empty()) return {};
    if (auto stored = pki::readFile(accountFile()); stored) {
      const auto j = parseJsonOrDiscarded(*stored);
      if (j.is_object() && j.value("directory_url", "") == settings.directory_url &&
          j.value("account_url", "").rfind("https://", 0) == 0) {
        account_url = j.value("account_url", "");
        return {};
      }
    }
    nlohmann::json payload{{"termsOfServiceAgreed", true}};
    if (!settings.contact_email.empty()) payload["contact"] = {"mailto:" + settings.contact_email};
    auto response = post(directory->new_account, payload.dump(), "newAccount", false);
    if (!response) return response.error();
    const auto location = response->headers.find("location");
    if (location == response->headers.end() || location->second.rfind("https://", 0) != 0) {
      return acmeFailed("newAccount", "the answer carried no account URL (Location)");
    }
    account_url = location->second;
    return pki::writePrivateFile(
        accountFile(), nlohmann::json{{"directory_url", settings.directory_url}, {"account_url", account_url}}.dump());
  }

  // Pauses between polls: a CA that answers at once (Pebble, Let's Encrypt on a fast path) is seen
  // within 100 ms, and a slow one is asked at most once per poll_interval.
  struct AcmePollBackoff {
    std::chrono::milliseconds next{100}, cap;
    void pause() {
      std::this_thread::sleep_for(std::min(next, cap));
      next = std::min(next * 2, cap);
    }
  };

  // POST-as-GET of an order until its status leaves `waiting_status`.
  Result<Order> pollOrder(const std::string& order_url, Order order, const std::string& waiting_status) {
    const auto deadline = std::chrono::steady_clock::now() + settings.validation_deadline;
    AcmePollBackoff backoff{std::chrono::milliseconds(100), settings.poll_interval};
    while (order.status == waiting_status || (waiting_status == "processing" && order.status == "ready")) {
      if (std::chrono::steady_clock::now() >= deadline) {
        return acmeFailed("order", "still " + order.status + " after the validation deadline");
      }
      backoff.pause();
      auto response = post(order_url, "", "order");
      if (!response) return response.error();
      auto parsed = parseOrder(response->body);
      if (!parsed) return acmeFailed("order", parsed.error().message);
      order = std::move(parsed.value());
    }
    if (order.status == "invalid") {
      return acmeFailed("order", "invalid" + (order.error ? ": " + order.error->shortType() + ": " + order.error->detail
                                                          : std::string()));
    }
    return order;
  }

  Result<void> authorize(const std::string& authz_url) {
    auto response = post(authz_url, "", "authorization");
    if (!response) return response.error();
    auto authz = parseAuthorization(response->body);
    if (!authz) return acmeFailed("authorization", authz.error().message);
    if (authz->status == "valid") return {};  // reused from an earlier order
    if (authz->status != "pending") return acmeFailed("authorization", authz->identifier.value + " is " + authz->status);
    const auto challenge = std::find_if(authz->challenges.begin(), authz->challenges.end(),
                                        [](const Challenge& c) { return c.type == "http-01"; });
    if (challenge == authz->challenges.end()) {
      return acmeFailed("authorization", "the CA offers no http-01 challenge for " + authz->identifier.value);
    }
    const std::string token_path = settings.challenge_dir + "/" + challenge->token;
    if (auto r = writeTokenFile(token_path, keyAuthorization(challenge->token, thumbprint)); !r) return r;
    TokenFileGuard guard(token_path);
    if (auto answered = post(challenge->url, "{}", "challenge"); !answered) return answered.error();
    const auto deadline = std::chrono::steady_clock::now() + settings.validation_deadline;
    AcmePollBackoff backoff{std::chrono::milliseconds(100), settings.poll_interval};
    while (true) {
      backoff.pause();
      auto polled = post(authz_url, "", "authorization");
      if (!polled) return polled.error();
      auto current = parseAuthorization(polled->body);
      if (!current) return acmeFailed("authorization", current.error().message);
      if (current->status == "valid") return {};
      if (current->status != "pending") {
        std::string why = authz->identifier.value + " is " + current->status;
        for (const auto& c : current->challenges) {
          if (c.type == "http-01" && c.error) why += ": " + c.error->shortType() + ": " + c.error->detail;
        }
        return acmeFailed("http-01 validation", why);
      }
      if (std::chrono::steady_clock::now() >= deadline) {
        return acmeFailed("http-01 validation", authz->identifier.value + " still pending after the deadline");
      }
    }
  }

  Result<IssuedCertificate> issue(const std::vector<std::string>& hosts) {
    if (auto r = ensureAccount(); !r) return r.error();
    nlohmann::json identifiers = nlohmann::json::array();
    for (const auto& host : hosts) identifiers.push_back({{"type", "dns"}, {"value", host}});
    auto csr = makeCertificateRequest(hosts);  // checks the host list before anything is ordered
    if (!csr) return csr.error();
    const std::string order_request = nlohmann::json{{"identifiers", identifiers}}.dump();
    auto created = post(directory->new_order, order_request, "newOrder");
    if (!created && last_problem == "accountDoesNotExist") {  // the CA forgot the stored account: register again
      account_url.clear();
      std::error_code ec;
      std::filesystem::remove(accountFile(), ec);
      if (auto r = ensureAccount(); !r) return r.error();
      created = post(directory->new_order, order_request, "newOrder");
    }
    if (!created) return created.error();
    ++orders_placed;
    const auto location = created->headers.find("location");
    if (location == created->headers.end() || location->second.rfind("https://", 0) != 0) {
      return acmeFailed("newOrder", "the answer carried no order URL (Location)");
    }
    const std::string order_url = location->second;
    auto order = parseOrder(created->body);
    if (!order) return acmeFailed("newOrder", order.error().message);
    for (const auto& authz_url : order->authorizations) {
      if (auto r = authorize(authz_url); !r) return r.error();
    }
    auto ready = pollOrder(order_url, std::move(order.value()), "pending");
    if (!ready) return ready.error();
    if (ready->status == "ready") {
      auto finalized = post(ready->finalize, nlohmann::json{{"csr", base64url(csr->csr_der)}}.dump(), "finalize");
      if (!finalized) return finalized.error();
      auto after = parseOrder(finalized->body);
      if (!after) return acmeFailed("finalize", after.error().message);
      ready = std::move(after.value());
    }
    auto valid = pollOrder(order_url, std::move(ready.value()), "processing");
    if (!valid) return valid.error();
    if (valid->status != "valid") return acmeFailed("order", "ended " + valid->status + ", not valid");
    auto chain = post(valid->certificate, "", "certificate", true, "application/pem-certificate-chain");
    if (!chain) return chain.error();
    auto facts = describeChain(chain->body);
    if (!facts) return acmeFailed("certificate", facts.error().message);
    for (const auto& host : hosts) {
      const bool named = std::any_of(facts->names.begin(), facts->names.end(),
                                     [&](const std::string& n) { return nameCovers(n, host); });
      if (!named) return acmeFailed("certificate", "the issued certificate does not name " + host);
    }
    return IssuedCertificate{chain->body, csr->key_pem};
  }
};

AcmeClient::AcmeClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
AcmeClient::~AcmeClient() = default;

Result<std::unique_ptr<AcmeClient>> AcmeClient::create(AcmeSettings settings) {
  if (settings.directory_url.rfind("https://", 0) != 0) {
    return invalidField("acme_directory_url", "must be an https:// URL");
  }
  if (settings.account_dir.empty()) return invalidField("account_dir", "is required");
  if (settings.challenge_dir.empty()) return invalidField("challenge_dir", "is required");
  auto impl = std::make_unique<Impl>();
  impl->tls = std::make_unique<net::ssl::context>(net::ssl::context::tls_client);
  SSL_CTX_set_min_proto_version(impl->tls->native_handle(), TLS1_2_VERSION);
  impl->tls->set_verify_mode(net::ssl::verify_peer);
  if (settings.ca_file.empty()) {
    impl->tls->set_default_verify_paths();
  } else {
    auto pem = pki::readFile(settings.ca_file);
    if (!pem) return invalidField("acme_ca_file", "cannot be read: " + pem.error().message);
    boost::system::error_code ec;
    impl->tls->add_certificate_authority(boost::asio::buffer(*pem), ec);
    if (ec) return invalidField("acme_ca_file", "must hold a PEM certificate: " + ec.message());
  }
  // <state_dir>/acme/account: the acme level is created private too when missing.
  const std::string account_parent = std::filesystem::path(settings.account_dir).parent_path().string();
  if (!account_parent.empty() && !std::filesystem::exists(account_parent)) {
    if (auto r = pki::ensurePrivateDirectory(account_parent); !r) return r.error();
  }
  if (auto r = pki::ensurePrivateDirectory(settings.account_dir); !r) return r.error();
  std::error_code ec;
  std::filesystem::create_directories(settings.challenge_dir, ec);
  if (ec) return makeError("write_failed", "cannot create " + settings.challenge_dir + ": " + ec.message());
  ::chmod(settings.challenge_dir.c_str(), 0755);  // nginx's workers read the token files
  const std::string key_path = settings.account_dir + "/account.key";
  if (auto stored = pki::readFile(key_path); stored) {
    impl->account_key_pem = *stored;
  } else {
    impl->account_key_pem = pki::generatePrivateKeyPem();
    if (auto r = pki::writePrivateFile(key_path, impl->account_key_pem); !r) return r.error();
  }
  auto thumbprint = jwkThumbprint(impl->account_key_pem);
  if (!thumbprint) return makeError("bad_key", key_path + ": " + thumbprint.error().message);
  impl->thumbprint = *thumbprint;
  impl->settings = std::move(settings);
  return std::unique_ptr<AcmeClient>(new AcmeClient(std::move(impl)));
}

Result<IssuedCertificate> AcmeClient::issue(const std::vector<std::string>& hosts) { return impl_->issue(hosts); }

std::uint64_t AcmeClient::ordersPlaced() const { return impl_->orders_placed; }

Result<std::string> AcmeClient::accountUrl() {
  if (auto r = impl_->ensureAccount(); !r) return r.error();
  return impl_->account_url;
}

}  // namespace berth::acme
