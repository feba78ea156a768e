// The Caddy adapter: berth's own Caddy (`caddy start`), configured by loading
// the whole rendered configuration through its admin API (`POST /load`), which
// Caddy validates and applies atomically or refuses, keeping the previous one.
// Caddy 2.6 rebuilds its servers on every load and closes upgraded connections
// (WebSockets) when it does: a route change cuts them (docs/routes.md).
#pragma once

#include <string>

#include "proxy/caddy/caddy_render.hpp"
#include "proxy/local_http.hpp"
#include "proxy/reverse_proxy.hpp"

namespace berth::proxy::caddy {

class CaddyProxy : public ReverseProxy {
 public:
  CaddyProxy(CaddyOptions options, std::string config_dir, std::string caddy_binary = "/usr/bin/caddy");
  std::string name() const override { return "caddy"; }
  Result<void> detect() override;
  Result<void> start() override;
  Result<void> apply(const ProxyState& state) override;
  void stop() override;
  bool running() override;

 private:
  // One request to the admin endpoint (loopback host:port or unix socket); status 0 when unreachable.
  LocalAnswer admin(const std::string& method, const std::string& path, const std::string& body);

  CaddyOptions options_;
  std::string config_dir_;
  std::string binary_;
};

}  // namespace berth::proxy::caddy
