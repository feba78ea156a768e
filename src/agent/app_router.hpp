// Where a node's apps are served: the supervisor tells the router an app's
// routes and the addresses of its healthy containers, and the router hands
// the node's whole desired proxy state to the reverse proxy adapter
// (proxy::ReverseProxy). Thread-safe: apps are worked on in parallel.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "apps/routes.hpp"
#include "common/result.hpp"
#include "proxy/hold/hold_server.hpp"
#include "proxy/reverse_proxy.hpp"

namespace berth::agent {

// Where HTTPS certificates for routed hosts come from (berth's ACME client, a
// local CA for `berth dev`, uploaded files). The router asks on every change;
// the answer must be quick (files already on disk): issuing happens in
// refresh(), which the agent calls on a worker now and then, and which
// returns true when a certificate was added or replaced (the router then
// serves it). Thread-safe.
class CertificateProvider {
 public:
  virtual ~CertificateProvider() = default;
  // The certificate files held for any of `hosts` (hosts without one are served on HTTP).
  virtual std::map<std::string, proxy::CertificateFiles> certificatesFor(const std::vector<std::string>& hosts) = 0;
  // Issues or renews what `hosts` need, blocking; true when anything changed.
  virtual bool refresh(const std::vector<std::string>& hosts) = 0;
  // The directory the proxy serves at /.well-known/acme-challenge/ ("" none).
  virtual std::string challengeDirectory() const { return ""; }
  // Per host: {issuer, not_after, state, last_error, next_try}, for `berth app show`, the API and /metrics.
  virtual nlohmann::json status(const std::vector<std::string>& hosts) = 0;
  // An uploaded certificate (checked again here) that replaces what the provider would get itself.
  virtual Result<void> upload(const std::string& host, const std::string&, const std::string&) {
    return makeError("unsupported", "this node's certificates for " + host + " cannot be replaced by an upload");
  }
};

class AppRouter {
 public:
  virtual ~AppRouter() = default;
  // Serves `app` at `routes` through `upstreams` (empty: answered 503 with
  // Retry-After, or held up to `hold_ms` for an upstream where the router can
  // hold). Done when the proxy serves it; on failure the proxy keeps serving
  // what it served before and the error says why.
  virtual Result<void> route(const std::string& app, const std::vector<apps::AppRoute>& routes,
                             const std::vector<proxy::Upstream>& upstreams, bool hsts = false, int hold_ms = 0) = 0;
  // The app is no longer served (deleted).
  virtual Result<void> unroute(const std::string& app) = 0;
  // The node's proxy, for status: {adapter, ready, problem?, apps}.
  virtual nlohmann::json describe() const = 0;
  // Called now and then: starts the proxy again if it died, with what it served.
  virtual void keepAlive() {}
  // How long after route() the proxy may still reach the containers it served before.
  virtual int switchSettleMs() const { return 0; }
  // Called now and then on a worker: issues and renews certificates for the
  // routed hosts, and serves new ones.
  virtual void refreshCertificates() {}
  // Stores an uploaded certificate for `host` (served at the next route change).
  virtual Result<void> uploadCertificate(const std::string& host, const std::string&, const std::string&) {
    return makeError("unsupported", "this node serves no HTTPS (proxy none), so a certificate for " + host +
                                        " has nowhere to go");
  }
};

// A node without a proxy (setting proxy=none): routes are not served, and
// saying so is not an error (the operator chose it).
class NoRouter final : public AppRouter {
 public:
  Result<void> route(const std::string&, const std::vector<apps::AppRoute>&, const std::vector<proxy::Upstream>&,
                     bool, int) override {
    return Ok{};
  }
  Result<void> unroute(const std::string&) override { return Ok{}; }
  nlohmann::json describe() const override { return {{"adapter", "none"}, {"ready", false}}; }
};

// The router over a real adapter. The proxy is detected and started on first
// use and again after a failure; while it cannot run here (nginx missing, port
// 80 taken, ...) every route() fails saying what the node needs, so a routed
// deployment fails clearly instead of pretending.
class ProxyRouter final : public AppRouter {
 public:
  // `hold`: where requests of an app without a ready upstream wait (nullptr: answered 503 at once).
  ProxyRouter(std::unique_ptr<proxy::ReverseProxy> proxy, int retry_after_s,
              std::shared_ptr<CertificateProvider> certificates = nullptr,
              std::unique_ptr<proxy::hold::HoldServer> hold = nullptr);
  ~ProxyRouter() override;
  void keepAlive() override;
  void refreshCertificates() override;
  Result<void> uploadCertificate(const std::string& host, const std::string& certificate,
                                 const std::string& key) override;
  Result<void> route(const std::string& app, const std::vector<apps::AppRoute>& routes,
                     const std::vector<proxy::Upstream>& upstreams, bool hsts = false, int hold_ms = 0) override;
  Result<void> unroute(const std::string& app) override;
  nlohmann::json describe() const override;
  int switchSettleMs() const override;
  // The state last applied successfully (tests, status).
  proxy::ProxyState applied() const;

 private:
  Result<void> applyLocked(std::map<std::string, proxy::AppRoutes> next);
  Result<void> ensureStartedLocked();
  std::vector<std::string> hostsLocked(const std::map<std::string, proxy::AppRoutes>& apps) const;

  std::unique_ptr<proxy::ReverseProxy> proxy_;
  std::string problem_;  // why it could not start, as last seen
  bool started_ = false;
  int retry_after_s_;
  std::shared_ptr<CertificateProvider> certificates_;
  std::unique_ptr<proxy::hold::HoldServer> hold_;
  mutable std::mutex mutex_;  // one apply at a time, in the order asked
  std::map<std::string, proxy::AppRoutes> apps_;  // as last applied
};

}  // namespace berth::agent
