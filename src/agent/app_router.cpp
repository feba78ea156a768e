#include "agent/app_router.hpp"

#include <algorithm>
#include <set>

#include "common/logging.hpp"

namespace berth::agent {

ProxyRouter::ProxyRouter(std::unique_ptr<proxy::ReverseProxy> proxy, int retry_after_s,
                         std::shared_ptr<CertificateProvider> certificates,
                         std::unique_ptr<proxy::hold::HoldServer> hold)
    : proxy_(std::move(proxy)),
      retry_after_s_(retry_after_s),
      certificates_(std::move(certificates)),
      hold_(std::move(hold)) {}

ProxyRouter::~ProxyRouter() = default;

std::vector<std::string> ProxyRouter::hostsLocked(const std::map<std::string, proxy::AppRoutes>& apps) const {
  std::set<std::string> hosts;
  for (const auto& [name, app] : apps)
    for (const auto& r : app.routes) hosts.insert(r.hosts.begin(), r.hosts.end());
  return {hosts.begin(), hosts.end()};
}

Result<void> ProxyRouter::uploadCertificate(const std::string& host, const std::string& certificate,
                                            const std::string& key) {
  if (!certificates_)
    return makeError("unsupported", "this node serves no HTTPS (tls=off), so a certificate for " + host +
                                        " has nowhere to go");
  if (auto stored = certificates_->upload(host, certificate, key); !stored) return stored;
  std::lock_guard lock(mutex_);
  return applyLocked(apps_);  // served now, whether or not the routes change with it
}

void ProxyRouter::refreshCertificates() {
  if (!certificates_) return;
  std::vector<std::string> hosts;
  {
    std::lock_guard lock(mutex_);
    hosts = hostsLocked(apps_);
  }
  // Issuing blocks (ACME round trips): not under the lock, so routes keep moving meanwhile.
  if (!certificates_->refresh(hosts)) return;
  std::lock_guard lock(mutex_);
  if (auto r = applyLocked(apps_); !r) log::error("new certificates not served", {{"error", r.error().message}});
}

Result<void> ProxyRouter::ensureStartedLocked() {
  if (started_) return Ok{};
  auto ready = proxy_->detect();
  if (ready) ready = proxy_->start();
  if (!ready) {
    if (problem_ != ready.error().message)
      log::error("reverse proxy unavailable: routed apps cannot deploy on this node until it is fixed",
                 {{"adapter", proxy_->name()}, {"problem", ready.error().message}});
    problem_ = ready.error().message;
    return makeError("proxy_unavailable", "this node's " + proxy_->name() + " proxy cannot run: " + problem_);
  }
  if (!problem_.empty()) log::info("reverse proxy running again", {{"adapter", proxy_->name()}});
  problem_.clear();
  started_ = true;
  return Ok{};
}

void ProxyRouter::keepAlive() {
  std::lock_guard lock(mutex_);
  if (started_ && proxy_->running()) {
    if (proxy_->needsReapply())
      if (auto r = applyLocked(apps_); !r) log::error("routes not served anew", {{"error", r.error().message}});
    return;
  }
  if (started_) log::warn("reverse proxy stopped; starting it again", {{"adapter", proxy_->name()}});
  started_ = false;
  if (!ensureStartedLocked()) return;
  // A fresh process may have forgotten what it served (Caddy keeps nothing): serve it again.
  if (auto r = applyLocked(apps_); !r) log::error("routes not restored", {{"error", r.error().message}});
}

Result<void> ProxyRouter::applyLocked(std::map<std::string, proxy::AppRoutes> next) {
  if (auto started = ensureStartedLocked(); !started) return started;
  proxy::ProxyState state;
  state.retry_after_s = retry_after_s_;
  for (const auto& [name, app] : next) state.apps.push_back(app);
  if (certificates_) {
    state.certificates = certificates_->certificatesFor(hostsLocked(next));
    state.acme_challenge_dir = certificates_->challengeDirectory();
  }
  if (hold_) state.hold = hold_->endpoint();
  if (auto applied = proxy_->apply(state); !applied)
    return makeError("proxy_failed", proxy_->name() + ": " + applied.error().message);
  if (hold_) hold_->setTargets(state);  // what held requests now wait for
  apps_ = std::move(next);
  return Ok{};
}

Result<void> ProxyRouter::route(const std::string& app, const std::vector<apps::AppRoute>& routes,
                                const std::vector<proxy::Upstream>& upstreams, bool hsts, int hold_ms) {
  std::lock_guard lock(mutex_);
  auto next = apps_;
  if (routes.empty()) {
    if (!next.erase(app)) return Ok{};  // not routed before, not routed now
    // Forgotten even when the proxy cannot take it now: a proxy started later must not serve it.
    auto applied = applyLocked(next);
    apps_ = std::move(next);
    return applied;
  } else {
    proxy::AppRoutes entry;
    entry.app = app;
    for (const auto& r : routes) entry.routes.push_back({r.hosts, r.path_prefix, r.strip_prefix});
    entry.upstreams = upstreams;
    entry.hsts = hsts;
    entry.hold_ms = hold_ ? hold_ms : 0;
    if (auto it = apps_.find(app); it != apps_.end() && it->second == entry)
      return Ok{};  // already served so: no reload
    next[app] = std::move(entry);
  }
  return applyLocked(std::move(next));
}

Result<void> ProxyRouter::unroute(const std::string& app) { return route(app, {}, {}); }

int ProxyRouter::switchSettleMs() const {
  std::lock_guard lock(mutex_);
  return proxy_->switchSettleMs();
}

nlohmann::json ProxyRouter::describe() const {
  std::lock_guard lock(mutex_);
  nlohmann::json apps = nlohmann::json::object();
  for (const auto& [name, app] : apps_) {
    nlohmann::json hosts = nlohmann::json::array(), upstreams = nlohmann::json::array();
    for (const auto& r : app.routes)
      for (const auto& h : r.hosts) hosts.push_back(r.path_prefix == "/" ? h : h + r.path_prefix);
    for (const auto& u : app.upstreams) upstreams.push_back(u.address + ":" + std::to_string(u.port));
    apps[name] = {{"hosts", hosts}, {"upstreams", upstreams}};
  }
  nlohmann::json out = {{"adapter", proxy_->name()}, {"ready", started_}, {"apps", apps}};
  if (certificates_) out["certificates"] = certificates_->status(hostsLocked(apps_));
  if (!problem_.empty()) out["problem"] = problem_;
  return out;
}

proxy::ProxyState ProxyRouter::applied() const {
  std::lock_guard lock(mutex_);
  proxy::ProxyState state;
  state.retry_after_s = retry_after_s_;
  if (hold_) state.hold = hold_->endpoint();
  for (const auto& [name, app] : apps_) state.apps.push_back(app);
  return state;
}

}  // namespace berth::agent
