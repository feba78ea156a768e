// An app's routes as the server sends them to its node with every deploy,
// scale, stop/start, rollback and delete (docs/routes.md "Flow"): its custom
// domains grouped by path prefix, plus `<app>.<base_domain>` at "/". Pure.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/result.hpp"

namespace berth::apps {

struct DomainEntry {
  std::string domain;  // validated, lower-case
  std::string path_prefix = "/";
  bool strip_prefix = false;
};

struct AppRoute {
  std::vector<std::string> hosts;  // sorted
  std::string path_prefix = "/";   // "/" or without a trailing slash
  bool strip_prefix = false;
  bool operator==(const AppRoute&) const = default;
};

// The routes of an app listening on `port` (0: none, the app is not routable).
// Domains sharing a prefix and strip flag become one route; the generated
// domain (when `base_domain` is set) joins the "/" route. Ordered by prefix.
std::vector<AppRoute> computeRoutes(const std::string& app, std::uint16_t port, const std::vector<DomainEntry>& domains,
                                    const std::string& base_domain);

nlohmann::json toJson(const std::vector<AppRoute>& routes);
// Refuses, naming the field, anything that is not a route list this server could have sent.
Result<std::vector<AppRoute>> routesFromJson(const nlohmann::json& json, const std::string& field = "routes");

}  // namespace berth::apps
