#include "proxy/proxy_state.hpp"

#include <arpa/inet.h>

#include <set>
#include <utility>

#include "apps/domains.hpp"
#include "apps/app_key.hpp"
#include "apps/spec.hpp"
#include "apps/validation.hpp"

namespace berth::proxy {
namespace {

bool onlyFrom(const std::string& text, const char* allowed) {
  return !text.empty() && text.find_first_not_of(allowed) == std::string::npos;
}

// Absolute file paths the proxy reads (certificates, the challenge directory).
constexpr const char* kFileCharacters = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._/";

bool isIpAddress(const std::string& text) {
  unsigned char buffer[16];
  return ::inet_pton(AF_INET, text.c_str(), buffer) == 1 || ::inet_pton(AF_INET6, text.c_str(), buffer) == 1;
}

// The same rules as when the domain was stored (apps/domains), and already in the stored spelling.
Result<void> validateHost(const std::string& field, const std::string& host) {
  auto normal = apps::validateDomain(host, true, field);
  if (!normal) return normal.error();
  if (*normal != host) return invalidField(field, "'" + host + "' must be given lower-case");
  return Ok{};
}

Result<void> validatePrefix(const std::string& field, const std::string& prefix) {
  if (auto r = apps::validatePathPrefix(prefix, field); !r) return r.error();
  if (prefix.size() > 1 && prefix.back() == '/') return invalidField(field, "must not end with '/' (the routes drop it)");
  return Ok{};
}

Result<void> validateFile(const std::string& field, const std::string& path) {
  if (path.empty() || path.front() != '/' || !onlyFrom(path, kFileCharacters) || path.find("..") != std::string::npos)
    return invalidField(field, "must be an absolute path of A-Z a-z 0-9 - . _ / without '..'");
  return Ok{};
}

}  // namespace

Result<void> validate(const ProxyState& state) {
  std::set<std::string> apps;
  std::map<std::pair<std::string, std::string>, std::string> servedBy;  // (host, prefix) -> app
  for (std::size_t a = 0; a < state.apps.size(); ++a) {
    const auto& app = state.apps[a];
    const std::string at = "apps[" + std::to_string(a) + "]";
    if (auto r = apps::validateAppKey(at + ".app", app.app); !r) return r;
    if (!apps.insert(app.app).second) return invalidField(at + ".app", "app '" + app.app + "' is listed twice");
    for (std::size_t r = 0; r < app.routes.size(); ++r) {
      const auto& route = app.routes[r];
      const std::string rf = at + ".routes[" + std::to_string(r) + "]";
      if (route.hosts.empty()) return invalidField(rf + ".hosts", "must name at least one host");
      if (auto v = validatePrefix(rf + ".path_prefix", route.path_prefix); !v) return v;
      for (const auto& host : route.hosts) {
        if (auto v = validateHost(rf + ".hosts", host); !v) return v;
        auto [it, fresh] = servedBy.emplace(std::make_pair(host, route.path_prefix), app.app);
        if (!fresh)
          return invalidField(rf + ".hosts", host + route.path_prefix + " is already served by app '" + it->second + "'");
      }
    }
    for (std::size_t u = 0; u < app.upstreams.size(); ++u) {
      const auto& upstream = app.upstreams[u];
      const std::string uf = at + ".upstreams[" + std::to_string(u) + "]";
      if (!isIpAddress(upstream.address)) return invalidField(uf + ".address", "must be an IP address");
      if (upstream.port == 0) return invalidField(uf + ".port", "must be between 1 and 65535");
    }
    if (app.hold_ms < 0 || app.hold_ms > apps::kMaxHoldMs)
      return invalidField(at + ".hold_ms", "must be between 0 and " + std::to_string(apps::kMaxHoldMs));
  }
  for (const auto& [host, files] : state.certificates) {
    if (auto v = validateHost("certificates", host); !v) return v;
    if (auto r = validateFile("certificates." + host + ".certificate_path", files.certificate_path); !r) return r;
    if (auto r = validateFile("certificates." + host + ".key_path", files.key_path); !r) return r;
  }
  if (!state.acme_challenge_dir.empty())
    if (auto r = validateFile("acme_challenge_dir", state.acme_challenge_dir); !r) return r;
  if (state.retry_after_s < 1 || state.retry_after_s > 3600)
    return invalidField("retry_after_s", "must be between 1 and 3600");
  if (state.hold.port != 0 && (!isIpAddress(state.hold.address) || state.hold.address.rfind("127.", 0) != 0))
    return invalidField("hold.address", "must be a 127.x.x.x address (the agent's hold server listens on loopback)");
  return Ok{};
}

}  // namespace berth::proxy
