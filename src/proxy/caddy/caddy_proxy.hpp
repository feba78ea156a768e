// The Caddy adapter: berth's own Caddy (`caddy start`), configured by loading
// the whole rendered configuration through its admin API (`POST /load`), which
// Caddy validates and applies atomically or refuses, keeping the previous one.
// Caddy 2.6 rebuilds its servers on every load and closes upgraded connections
// (WebSockets) when it does: a route change cuts them (docs/routes.md).
// Upstreams therefore live outside the configuration: the adapter owns a DNS
// responder that Caddy's dynamic upstreams ask, and a change of upstreams only
// (a deploy, a container replaced) updates its table without any load.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "helper/host_actions.hpp"
#include "proxy/caddy/caddy_render.hpp"
#include "proxy/dns/dns_responder.hpp"
#include "proxy/local_http.hpp"
#include "proxy/reverse_proxy.hpp"

namespace berth::proxy::caddy {

class CaddyProxy : public ReverseProxy {
 public:
  // With `host`, `caddy start` goes through it (`berth helper`: the port binding needs privilege).
  CaddyProxy(CaddyOptions options, std::string config_dir, std::string caddy_binary = "/usr/bin/caddy",
             std::shared_ptr<helper::HostActions> host = nullptr);
  std::string name() const override { return "caddy"; }
  Result<void> detect() override;
  Result<void> start() override;
  // Loads the configuration only when routes, hosts or certificates changed;
  // when only upstreams did, switches the responder's table and returns once
  // Caddy's cached lookups (upstream_refresh_ms) have expired, so requests
  // sent after it returns reach the new upstreams. Not thread-safe: one caller.
  Result<void> apply(const ProxyState& state) override;
  void stop() override;
  bool running() override;
  // How many configurations this adapter has posted to /load (tests count them).
  std::uint64_t loadsPosted() const { return loads_posted_; }

 private:
  Result<void> ensureResponder();
  // One request to the admin endpoint (loopback host:port or unix socket); status 0 when unreachable.
  LocalAnswer admin(const std::string& method, const std::string& path, const std::string& body);

  CaddyOptions options_;
  std::string config_dir_;
  std::string binary_;
  std::unique_ptr<dns::DnsResponder> responder_;  // with dynamic_upstreams, from start() or the first apply()
  std::optional<nlohmann::json> loaded_;          // the configuration Caddy took last from this adapter
  std::uint64_t loads_posted_ = 0;
  std::shared_ptr<helper::HostActions> host_;
};

}  // namespace berth::proxy::caddy
