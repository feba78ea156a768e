#include "proxy/traefik/traefik_proxy.hpp"

#include <filesystem>

#include "pki/sealed_file.hpp"

namespace berth::proxy::traefik {

TraefikProxy::TraefikProxy(TraefikOptions options, std::string dynamic_file, std::shared_ptr<helper::HostActions> host)
    : options_(std::move(options)), dynamic_file_(std::move(dynamic_file)), host_(std::move(host)) {}

Result<void> TraefikProxy::detect() {
  const auto dir = std::filesystem::path(dynamic_file_).parent_path();
  std::error_code ec;
  if (dir.empty() || !std::filesystem::is_directory(dir, ec))
    return makeError("proxy_missing", "the traefik adapter writes " + dynamic_file_ +
                                          ": its directory must exist and Traefik's file provider must watch it "
                                          "(providers.file.filename); Traefik is not packaged for Debian 12");
  return Ok{};
}

Result<void> TraefikProxy::apply(const ProxyState& state) {
  if (auto v = validate(state); !v) return v;
  if (auto d = detect(); !d) return d;
  // JSON is YAML: Traefik reads it from a .yml file as it is.
  if (host_) {
    if (auto w = host_->writeFile(dynamic_file_, renderDynamic(state, options_).dump(2) + "\n"); !w)
      return makeError("proxy_failed", "cannot write " + dynamic_file_ + " through berth helper: " + w.error().message);
    return Ok{};
  }
  if (auto w = pki::writePrivateFile(dynamic_file_, renderDynamic(state, options_).dump(2) + "\n"); !w)
    return makeError("proxy_failed", "cannot write " + dynamic_file_ + ": " + w.error().message);
  return Ok{};
}

}  // namespace berth::proxy::traefik
