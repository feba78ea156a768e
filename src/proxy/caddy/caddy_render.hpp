// Caddy configuration (the JSON its admin API's /load takes) rendered from a
// ProxyState (pure). Hosts with certificates in the state use those files;
// the others get certificates from Caddy's own ACME issuer at
// `acme_directory_url`. Render only a validated state.
#pragma once

#include <nlohmann/json.hpp>

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
};

nlohmann::json renderConfig(const ProxyState& state, const CaddyOptions& options);

}  // namespace berth::proxy::caddy
