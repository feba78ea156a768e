// The Traefik adapter: the rendered dynamic configuration written to the file
// Traefik's file provider watches, atomically (temp file, fsync, rename), so
// Traefik never reads half a file. berth does not run Traefik: it is not
// packaged for these machines, and where it is used it usually runs as its
// own service or container, pointed at this file (providers.file.filename).
#pragma once

#include <string>

#include <memory>

#include "helper/host_actions.hpp"
#include "proxy/reverse_proxy.hpp"
#include "proxy/traefik/traefik_render.hpp"

namespace berth::proxy::traefik {

class TraefikProxy : public ReverseProxy {
 public:
  // With `host`, the file is written through it (`berth helper`: it lives under /etc).
  TraefikProxy(TraefikOptions options, std::string dynamic_file, std::shared_ptr<helper::HostActions> host = nullptr);
  std::string name() const override { return "traefik"; }
  // The file's directory must exist: Traefik is expected to watch it.
  Result<void> detect() override;
  Result<void> start() override { return detect(); }
  Result<void> apply(const ProxyState& state) override;
  void stop() override {}
  bool running() override { return detect().ok(); }  // Traefik is its own service: "its directory is there"

 private:
  TraefikOptions options_;
  std::string dynamic_file_;
  std::shared_ptr<helper::HostActions> host_;
};

}  // namespace berth::proxy::traefik
