// Traefik dynamic configuration (file provider) rendered from a ProxyState
// (pure). Written as JSON, which Traefik's YAML reader accepts, into a .yml
// file. Traefik is not packaged for these machines: this adapter is tested on
// the generated structure only (docs/routes.md). Render only a validated state.
#pragma once

#include <nlohmann/json.hpp>

#include "proxy/proxy_state.hpp"

namespace berth::proxy::traefik {

struct TraefikOptions {
  std::string http_entry_point = "web";
  std::string https_entry_point = "websecure";
};

nlohmann::json renderDynamic(const ProxyState& state, const TraefikOptions& options);

}  // namespace berth::proxy::traefik
