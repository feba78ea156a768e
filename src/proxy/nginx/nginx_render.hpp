// nginx configuration rendered from a ProxyState (pure). One file per host
// (its server blocks: port 80 with the ACME challenge and the redirect, 443
// with its certificate, one location pair per route) and one per app (its
// upstream), because two apps may share a host under different path prefixes.
// Render only a state that proxy::validate() accepted.
#pragma once

#include <map>
#include <string>

#include "proxy/proxy_state.hpp"

namespace berth::proxy::nginx {

struct NginxOptions {
  std::string listen_address;  // empty: every address
  int http_port = 80;
  int https_port = 443;
  std::string config_dir;            // berth's nginx directory: nginx.conf, sites.N/{apps,hosts}, current -> sites.N
  std::string runtime_dir;           // pid file and logs (and temp paths when temp_dir is empty)
  // Request bodies and answers nginx buffers on disk. Its workers write there, and when the master
  // runs as root they run as another user who cannot reach a private state directory (uploads over
  // 16 KiB then get 500): NginxProxy picks a root-owned shared place (see kSharedTempRoot).
  std::string temp_dir;
  int worker_shutdown_timeout_s = 3600;  // how long connections open at a reload may stay on old workers
};

// The main configuration berth runs nginx with (`nginx -c <config_dir>/nginx.conf`);
// it includes the apps/ and hosts/ files under `sites_dir`.
std::string renderMain(const NginxOptions& options, const std::string& sites_dir);

// generation.conf of a set of files: answers `token` at /.berth-generation to
// loopback requests with a Host no app can have ("_berth"), so berth can tell
// when a reload has taken effect. `token`: letters, digits, '.', '-' only.
std::string renderGeneration(const std::string& token);

// File name relative to config_dir ("apps/shop.conf", "hosts/shop.example.com.conf") -> contents.
// `switched`: apps whose upstream is a stable address the kernel forwards (proxy/nat), named
// instead of their containers.
std::map<std::string, std::string> renderSites(const ProxyState& state, const NginxOptions& options,
                                               const std::map<std::string, Upstream>& switched = {});

}  // namespace berth::proxy::nginx
