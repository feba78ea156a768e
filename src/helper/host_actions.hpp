// The host actions the agent needs root (or CAP_NET_ADMIN / CAP_NET_BIND_SERVICE)
// for. By default the agent does them itself; with the `helper_socket` setting
// each one is a request to `berth helper` (helper_client), so the agent can run
// as an unprivileged user. Implementations are thread-safe.
#pragma once

#include <cstdint>
#include <string>

#include "common/result.hpp"

namespace berth::helper {

enum class NginxSignal { Start, Reload, Quit };

class HostActions {
 public:
  virtual ~HostActions() = default;
  // Bandwidth limits (0 = unlimited) on the container whose init process is `pid`:
  // into it on its host-side veth, out of it on its own eth0. Fails
  // "no_interface" when the container has no veth (no network).
  virtual Result<void> shapeTraffic(int pid, std::int64_t in_bps, std::int64_t out_bps) = 0;
  // `nginx -c config` (start), `-s reload` or `-s quit`; a failure's message carries nginx's output.
  virtual Result<void> nginx(NginxSignal signal, const std::string& config) = 0;
  // `caddy start --config config --pidfile pidfile`, its output appended to `log`.
  virtual Result<void> caddyStart(const std::string& config, const std::string& pidfile, const std::string& log) = 0;
  // Replaces a host file (e.g. Traefik's dynamic configuration) with `content`, atomically.
  virtual Result<void> writeFile(const std::string& path, const std::string& content) = 0;
};

}  // namespace berth::helper
