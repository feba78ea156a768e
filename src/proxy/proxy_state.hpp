// What a node's reverse proxy should serve: for each app its routes (hosts,
// path prefix) and its upstreams (the addresses of its healthy containers).
// Pure data plus the check every adapter runs before rendering, so nothing
// that could end a line, a block or a directive reaches a proxy's configuration.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/result.hpp"

namespace berth::proxy {

struct Upstream {
  std::string address;  // the container's IP address on the berth network
  std::uint16_t port = 0;
  bool operator==(const Upstream&) const = default;
};

struct Route {
  std::vector<std::string> hosts;  // validated domains (apps/domains), lower-case
  std::string path_prefix = "/";   // "/" or "/a/b" (no trailing slash)
  bool strip_prefix = false;       // the upstream sees the path without the prefix
  bool operator==(const Route&) const = default;
};

struct AppRoutes {
  std::string app;
  std::vector<Route> routes;
  std::vector<Upstream> upstreams;  // empty: answered 503 with Retry-After, or held (below)
  bool hsts = false;                // with HTTPS: Strict-Transport-Security on every answer
  // While no upstream can take a request (none yet, or one refusing connections), requests wait
  // up to this long for one, through the state's hold server, then get 503 with Retry-After.
  // 0: 503 at once (the app is stopped). Only with ProxyState::hold set.
  int hold_ms = 0;
  bool operator==(const AppRoutes&) const = default;
};

// Certificate and key files for one host, already on the node.
struct CertificateFiles {
  std::string certificate_path;  // PEM chain
  std::string key_path;
};

struct ProxyState {
  std::vector<AppRoutes> apps;
  // Hosts with a certificate are served on HTTPS and their HTTP answers redirect there;
  // hosts without one are served on HTTP until one is issued.
  std::map<std::string, CertificateFiles> certificates;
  // Where berth's ACME client puts http-01 challenge files (served under
  // /.well-known/acme-challenge/ on port 80 for every host); empty: not served.
  std::string acme_challenge_dir;
  int retry_after_s = 10;  // told to clients while an app has no upstream
  // The agent's hold server (proxy/hold) on loopback, where the proxy sends requests of apps with
  // hold_ms that have no upstream able to take them; port 0: none, nothing is held.
  Upstream hold;
};

// Refuses, naming the field, anything an adapter must not render: names, hosts,
// prefixes or paths outside their character sets, a host+prefix served by two
// apps, upstreams that are not IP addresses.
Result<void> validate(const ProxyState& state);

}  // namespace berth::proxy
