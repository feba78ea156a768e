// Caddy configuration (the JSON its admin API's /load takes) rendered from a
// ProxyState (pure). Hosts with certificates in the state use those files;
// the others get certificates from Caddy's own ACME issuer at
// `acme_directory_url`. Render only a validated state.
//
// With `upstream_resolver` set, an app's upstreams are not in the configuration:
// its reverse_proxy looks them up at request time (dynamic upstreams, source
// `a`) under a name in berth.internal that the adapter's DNS responder answers
// from upstreamRecords(state). Two states differing only in upstream addresses
// then render the same configuration, and Caddy need not load anything.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>

#include "proxy/dns/dns_message.hpp"
#include "proxy/proxy_state.hpp"

namespace berth::proxy::caddy {

struct CaddyOptions {
  std::string admin_listen = "unix//run/berth/caddy-admin.sock";  // Caddy's syntax for a unix socket
  std::string listen_address;                                      // empty: every address
  int http_port = 80;
  int https_port = 443;
  std::string acme_directory_url;    // empty: Caddy's default (Let's Encrypt)
  std::string acme_email;
  std::string acme_trusted_root;     // PEM file the ACME server's TLS certificate chains to (Pebble); empty: system
  std::string storage_dir;           // where Caddy keeps its certificates and ACME account (under the agent's state)
  // CaddyProxy runs a DNS responder for upstreams on upstream_dns_listen:upstream_dns_port (0: a
  // free port) and sets upstream_resolver; false: upstream addresses in the configuration.
  bool dynamic_upstreams = true;
  std::string upstream_dns_listen = "127.0.0.1";
  int upstream_dns_port = 0;
  // "udp/127.0.0.1:port" of that responder (set by CaddyProxy); empty: upstream addresses in the configuration.
  std::string upstream_resolver;
  // How long Caddy keeps a lookup: a moved upstream is used at most this long after the table changed.
  int upstream_refresh_ms = 250;
};

inline constexpr const char* kUpstreamZone = "berth.internal";

nlohmann::json renderConfig(const ProxyState& state, const CaddyOptions& options);

// The name under which Caddy looks up `app`'s upstreams on `port`:
// "<app>.berth.internal" when all its upstreams share one port (the usual
// case), else "p<port>.<app>.berth.internal", one name per port.
std::string upstreamName(const AppRoutes& app, std::uint16_t port);

// The responder's table for `state`: every upstream name -> its addresses.
dns::Records upstreamRecords(const ProxyState& state);

}  // namespace berth::proxy::caddy
