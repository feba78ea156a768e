#include "apps/routes.hpp"

#include <algorithm>
#include <map>
#include <utility>

#include "apps/domains.hpp"

namespace berth::apps {
namespace {

std::string withoutTrailingSlash(const std::string& prefix) {
  return prefix.size() > 1 && prefix.back() == '/' ? prefix.substr(0, prefix.size() - 1) : prefix;
}

}  // namespace

std::vector<AppRoute> computeRoutes(const std::string& app, std::uint16_t port, const std::vector<DomainEntry>& domains,
                                    const std::string& base_domain) {
  if (port == 0) return {};
  std::map<std::pair<std::string, bool>, std::vector<std::string>> grouped;
  for (const auto& d : domains) grouped[{withoutTrailingSlash(d.path_prefix), d.strip_prefix}].push_back(d.domain);
  if (const std::string generated = generatedDomain(app, base_domain); !generated.empty())
    grouped[{"/", false}].push_back(generated);
  std::vector<AppRoute> routes;
  for (auto& [key, hosts] : grouped) {
    std::sort(hosts.begin(), hosts.end());
    hosts.erase(std::unique(hosts.begin(), hosts.end()), hosts.end());
    routes.push_back({std::move(hosts), key.first, key.second && key.first != "/"});
  }
  return routes;
}

nlohmann::json toJson(const std::vector<AppRoute>& routes) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& r : routes)
    out.push_back({{"hosts", r.hosts}, {"path_prefix", r.path_prefix}, {"strip_prefix", r.strip_prefix}});
  return out;
}

Result<std::vector<AppRoute>> routesFromJson(const nlohmann::json& json, const std::string& field) {
  if (!json.is_array()) return invalidField(field, "must be an array");
  if (json.size() > 1000) return invalidField(field, "must hold at most 1000 routes");
  std::vector<AppRoute> routes;
  for (std::size_t i = 0; i < json.size(); ++i) {
    const auto& r = json[i];
    const std::string at = field + "[" + std::to_string(i) + "]";
    if (!r.is_object()) return invalidField(at, "must be an object");
    for (const auto& [key, value] : r.items())
      if (key != "hosts" && key != "path_prefix" && key != "strip_prefix") return invalidField(at + "." + key, "is not a route field");
    AppRoute route;
    if (!r.contains("hosts") || !r["hosts"].is_array() || r["hosts"].empty())
      return invalidField(at + ".hosts", "must be a non-empty array of domains");
    for (const auto& host : r["hosts"]) {
      if (!host.is_string()) return invalidField(at + ".hosts", "must hold strings");
      auto valid = validateDomain(host.get<std::string>(), true, at + ".hosts");
      if (!valid) return valid.error();
      route.hosts.push_back(*valid);
    }
    if (r.contains("path_prefix")) {
      if (!r["path_prefix"].is_string()) return invalidField(at + ".path_prefix", "must be a string");
      auto prefix = validatePathPrefix(r["path_prefix"].get<std::string>(), at + ".path_prefix");
      if (!prefix) return prefix.error();
      route.path_prefix = withoutTrailingSlash(*prefix);
    }
    if (r.contains("strip_prefix")) {
      if (!r["strip_prefix"].is_boolean()) return invalidField(at + ".strip_prefix", "must be true or false");
      route.strip_prefix = r["strip_prefix"].get<bool>();
    }
    routes.push_back(std::move(route));
  }
  return routes;
}

}  // namespace berth::apps
