#include "proxy/caddy/caddy_render.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <set>
#include <vector>

namespace berth::proxy::caddy {
namespace {

std::set<std::uint16_t> caddyPortsOf(const AppRoutes& app) {
  std::set<std::uint16_t> ports;
  for (const auto& up : app.upstreams) ports.insert(up.port);
  return ports;
}

// reverse_proxy's dynamic_upstreams: one `a` source per port the app's upstreams use.
nlohmann::json caddyDynamicUpstreams(const AppRoutes& app, const CaddyOptions& o) {
  nlohmann::json sources = nlohmann::json::array();
  for (const auto port : caddyPortsOf(app))
    sources.push_back({{"source", "a"},
                       {"name", upstreamName(app, port)},
                       {"port", std::to_string(port)},
                       {"refresh", fmt::format("{}ms", o.upstream_refresh_ms)},
                       {"resolver", {{"addresses", {o.upstream_resolver}}}}});
  if (sources.size() == 1) return sources[0];
  return {{"source", "multi"}, {"sources", sources}};
}

std::string caddyDial(const Upstream& up) {
  const bool v6 = up.address.find(':') != std::string::npos;
  return fmt::format("{}{}{}:{}", v6 ? "[" : "", up.address, v6 ? "]" : "", up.port);
}

nlohmann::json handlersFor(const AppRoutes& app, const Route& route, const ProxyState& state, const CaddyOptions& o) {
  const bool held = app.hold_ms > 0 && state.hold.port != 0;
  nlohmann::json steps = nlohmann::json::array();
  if (route.strip_prefix && route.path_prefix != "/")
    steps.push_back({{"handle", {{{"handler", "rewrite"}, {"strip_path_prefix", route.path_prefix}}}}});
  if (app.hsts)
    steps.push_back({{"handle",
                      {{{"handler", "headers"},
                        {"response", {{"set", {{"Strict-Transport-Security", {"max-age=31536000"}}}}}}}}}});
  if (app.upstreams.empty() && held) {
    // Nothing runs yet: the hold server waits for the app's first upstream.
    steps.push_back({{"handle",
                      {{{"handler", "reverse_proxy"},
                        {"upstreams", {{{"dial", caddyDial(state.hold)}}}},
                        {"headers", {{"request", {{"set", {{"X-Berth-App", {app.app}}}}}}}}}}}});
  } else if (app.upstreams.empty()) {
    steps.push_back({{"handle",
                      {{{"handler", "static_response"},
                        {"status_code", 503},
                        {"headers", {{"Retry-After", {std::to_string(state.retry_after_s)}}}}}}}});
  } else {
    nlohmann::json proxy = {{"handler", "reverse_proxy"}};
    if (!o.upstream_resolver.empty()) {
      proxy["dynamic_upstreams"] = caddyDynamicUpstreams(app, o);
    } else {
      nlohmann::json upstreams = nlohmann::json::array();
      for (const auto& up : app.upstreams) upstreams.push_back({{"dial", caddyDial(up)}});
      proxy["upstreams"] = upstreams;
    }
    // Held: a container refusing connections is tried again (the table may move meanwhile) for
    // as long as the app's hold, instead of a 502 at once.
    if (held)
      proxy["load_balancing"] = {{"try_duration", fmt::format("{}ms", app.hold_ms)}, {"try_interval", "100ms"}};
    steps.push_back({{"handle", {proxy}}});
  }
  return {{"handler", "subroute"}, {"routes", steps}};
}

struct Entry {
  std::string host;
  const AppRoutes* app;
  const Route* route;
};

}  // namespace

nlohmann::json renderConfig(const ProxyState& state, const CaddyOptions& o) {
  std::vector<Entry> entries;
  std::set<std::string> hosts;
  for (const auto& app : state.apps)
    for (const auto& route : app.routes)
      for (const auto& host : route.hosts) {
        entries.push_back({host, &app, &route});
        hosts.insert(host);
      }
  // Caddy tries routes in order: the longest prefix of a host first.
  std::stable_sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return a.route->path_prefix.size() > b.route->path_prefix.size();
  });
  nlohmann::json routes = nlohmann::json::array();
  for (const auto& e : entries) {
    nlohmann::json match = {{"host", {e.host}}};
    if (e.route->path_prefix != "/") match["path"] = {e.route->path_prefix, e.route->path_prefix + "/*"};
    routes.push_back({{"match", {match}},
                      {"handle", {handlersFor(*e.app, *e.route, state, o)}},
                      {"terminal", true}});
  }
  const std::string address = o.listen_address.find(':') != std::string::npos ? "[" + o.listen_address + "]"
                                                                               : o.listen_address;
  nlohmann::json server = {
      {"listen", {fmt::format("{}:{}", address, o.http_port), fmt::format("{}:{}", address, o.https_port)}},
      {"routes", routes}};
  nlohmann::json loaded = nlohmann::json::array(), skip = nlohmann::json::array();
  for (const auto& [host, files] : state.certificates) {
    loaded.push_back({{"certificate", files.certificate_path}, {"key", files.key_path}});
    skip.push_back(host);
  }
  // Hosts with berth's certificates are not given to Caddy's ACME issuer.
  if (!skip.empty()) server["automatic_https"] = {{"skip_certificates", skip}};
  nlohmann::json config = {
      // berth holds the desired state; Caddy need not save its own copy.
      {"admin", {{"listen", o.admin_listen}, {"config", {{"persist", false}}}}},
      {"apps",
       {{"http", {{"http_port", o.http_port}, {"https_port", o.https_port}, {"servers", {{"berth", server}}}}}}}};
  nlohmann::json issuer = {{"module", "acme"}};
  if (!o.acme_directory_url.empty()) issuer["ca"] = o.acme_directory_url;
  if (!o.acme_email.empty()) issuer["email"] = o.acme_email;
  if (!o.acme_trusted_root.empty()) issuer["trusted_roots_pem_files"] = {o.acme_trusted_root};
  nlohmann::json tls = {{"automation", {{"policies", {{{"issuers", {issuer}}}}}}}};
  if (!loaded.empty()) tls["certificates"] = {{"load_files", loaded}};
  config["apps"]["tls"] = tls;
  if (!o.storage_dir.empty()) config["storage"] = {{"module", "file_system"}, {"root", o.storage_dir}};
  return config;
}

std::string upstreamName(const AppRoutes& app, std::uint16_t port) {
  const std::string name = app.app + "." + kUpstreamZone;
  return caddyPortsOf(app).size() > 1 ? fmt::format("p{}.{}", port, name) : name;
}

dns::Records upstreamRecords(const ProxyState& state) {
  dns::Records records;
  for (const auto& app : state.apps)
    for (const auto& up : app.upstreams) records[upstreamName(app, up.port)].push_back(up.address);
  return records;
}

}  // namespace berth::proxy::caddy
