// The agent inside `berth dev`: its settings (a few agent settings as flags,
// the rest fixed for one workstation), its nginx on 127.0.0.1 with HTTPS on
// 443 or 8443 (HTTP on 80 or 8080) whichever this machine lets it bind, and
// HTTPS certificates from a local CA under <data_dir>/local-ca/ for
// https://<app>.localhost.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "agent/agent.hpp"
#include "agent/local_ca_certificates.hpp"

namespace berth::composition {

// The agent settings `berth dev` takes (as --flags and BERTH_* variables).
const std::vector<std::string>& devAgentKeys();

struct DevPorts {
  int http = 0, https = 0;
  std::vector<std::string> warnings;  // a port neither choice could have
};

// Pure. A port given in `settings` (proxy_http_port, proxy_https_port) is kept
// as given; otherwise the preferred port (80, 443) when `usable` says so, else
// the fallback (8080, 8443), which is also kept when neither is usable (with
// a warning: the proxy then reports why it cannot start).
DevPorts chooseDevPorts(std::optional<int> http_given, std::optional<int> https_given,
                        const std::function<bool(int)>& usable);

// Pure. An app's URL, e.g. "https://hello.localhost:8443" (no port for 443);
// devAppUrl("<app>", port) is the pattern `berth dev` prints.
std::string devAppUrl(const std::string& app, int https_port);

// Pure. What `berth dev` prints about HTTPS: the URL pattern, the CA root and
// how to trust it (system store, curl).
std::string devHttpsBanner(int https_port, const std::string& root_path);

struct DevAgent {
  agent::AgentConfig config;
  std::shared_ptr<agent::LocalCaCertificates> certificates;  // null when proxy=none
  DevPorts ports;
};

// The dev agent's settings under `data_dir` (state in <data_dir>/agent) from
// the environment and `flags` over the dev defaults, its ports chosen by
// trying to bind 127.0.0.1 (the ports our own nginx from an earlier run holds,
// as recorded in <data_dir>/agent/dev-proxy.json, count as free), and its
// local CA. Errors: an invalid setting ("invalid_config"), an unusable
// local-CA directory.
Result<DevAgent> prepareDevAgent(const std::string& data_dir, const std::map<std::string, std::string>& flags,
                                 const std::map<std::string, std::string>& environment);

// Whether a TCP listener can be bound on 127.0.0.1:`port` now.
bool canBindLoopback(int port);

}  // namespace berth::composition
