// One interface for the reverse proxy in front of a node's apps; adapters in
// proxy/nginx, proxy/caddy and proxy/traefik. The agent holds the desired
// ProxyState and hands the whole of it to apply() on every change.
#pragma once

#include <string>

#include "common/result.hpp"
#include "proxy/proxy_state.hpp"

namespace berth::proxy {

class ReverseProxy {
 public:
  virtual ~ReverseProxy() = default;
  virtual std::string name() const = 0;
  // Nothing when this adapter can run here; else an error saying what it needs
  // (a missing binary and the package that has it, an unsupported version).
  virtual Result<void> detect() = 0;
  // Starts the proxy when berth manages its process; idempotent.
  virtual Result<void> start() = 0;
  // Makes the proxy serve `state`: validated, rendered, checked, activated. On
  // any failure the previous configuration keeps serving and the error says why.
  virtual Result<void> apply(const ProxyState& state) = 0;
  virtual void stop() = 0;
  // After apply() returns, how long the proxy may still send requests over connections it opened
  // before (pooled upstream connections): what to wait before stopping a version taken out.
  virtual int switchSettleMs() const { return 0; }
  // Whether what the last apply() served from has changed outside it (nginx: the address its
  // upstreams are switched on), so the same state must be applied again. Asked now and then.
  virtual bool needsReapply() const { return false; }
  // Whether the proxy process berth manages is up (one run elsewhere: whether it is reachable).
  virtual bool running() = 0;
};

}  // namespace berth::proxy
