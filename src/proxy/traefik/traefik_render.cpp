#include "proxy/traefik/traefik_render.hpp"

#include <fmt/format.h>

namespace berth::proxy::traefik {
namespace {

std::string matcher(const std::string& host, const std::string& prefix) {
  if (prefix == "/") return fmt::format("Host(`{}`)", host);
  // PathPrefix(`/api`) alone would also match "/apix".
  return fmt::format("Host(`{}`) && (Path(`{}`) || PathPrefix(`{}/`))", host, prefix, prefix);
}

// Traefik ranks routers by rule length by default; longer prefixes must win, so say it.
int priorityOf(const std::string& host, const std::string& prefix) {
  return static_cast<int>(host.size() + prefix.size()) + 1000;
}

}  // namespace

nlohmann::json renderDynamic(const ProxyState& state, const TraefikOptions& o) {
  nlohmann::json routers = nlohmann::json::object(), services = nlohmann::json::object(),
                 middlewares = nlohmann::json::object();
  middlewares["berth-redirect-https"] = {{"redirectScheme", {{"scheme", "https"}, {"permanent", true}}}};
  for (const auto& app : state.apps) {
    const std::string service = "berth-" + app.app;
    nlohmann::json servers = nlohmann::json::array();
    for (const auto& up : app.upstreams) {
      const bool v6 = up.address.find(':') != std::string::npos;
      servers.push_back({{"url", fmt::format("http://{}{}{}:{}", v6 ? "[" : "", up.address, v6 ? "]" : "", up.port)}});
    }
    // No servers: Traefik answers 503 itself; the header says when to come back.
    services[service] = {{"loadBalancer", {{"servers", servers}, {"passHostHeader", true}}}};
    nlohmann::json appMiddlewares = nlohmann::json::array();
    if (app.upstreams.empty()) {
      middlewares[service + "-retry-after"] = {
          {"headers", {{"customResponseHeaders", {{"Retry-After", std::to_string(state.retry_after_s)}}}}}};
      appMiddlewares.push_back(service + "-retry-after");
    }
    if (app.hsts) middlewares[service + "-hsts"] = {{"headers", {{"stsSeconds", 31536000}}}};
    for (std::size_t r = 0; r < app.routes.size(); ++r) {
      const auto& route = app.routes[r];
      nlohmann::json routeMiddlewares = appMiddlewares;
      if (route.strip_prefix && route.path_prefix != "/") {
        const std::string strip = fmt::format("{}-{}-strip", service, r);
        middlewares[strip] = {{"stripPrefix", {{"prefixes", {route.path_prefix}}}}};
        routeMiddlewares.push_back(strip);
      }
      for (std::size_t h = 0; h < route.hosts.size(); ++h) {
        const auto& host = route.hosts[h];
        const std::string name = fmt::format("{}-{}-{}", service, r, h);
        const bool https = state.certificates.count(host) > 0;
        nlohmann::json plain = {{"rule", matcher(host, route.path_prefix)},
                                {"entryPoints", {o.http_entry_point}},
                                {"service", service},
                                {"priority", priorityOf(host, route.path_prefix)}};
        if (https) {
          plain["middlewares"] = {"berth-redirect-https"};
          nlohmann::json secure = plain;
          secure["entryPoints"] = {o.https_entry_point};
          secure["middlewares"] = routeMiddlewares;
          if (app.hsts) secure["middlewares"].push_back(service + "-hsts");
          secure["tls"] = nlohmann::json::object();
          routers[name + "-https"] = secure;
        } else {
          plain["middlewares"] = routeMiddlewares;
        }
        routers[name] = plain;
      }
    }
  }
  nlohmann::json certificates = nlohmann::json::array();
  for (const auto& [host, files] : state.certificates)
    certificates.push_back({{"certFile", files.certificate_path}, {"keyFile", files.key_path}});
  nlohmann::json out = {{"http", {{"routers", routers}, {"services", services}, {"middlewares", middlewares}}}};
  if (!certificates.empty()) out["tls"] = {{"certificates", certificates}};
  return out;
}

}  // namespace berth::proxy::traefik
