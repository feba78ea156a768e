// Where an app runs: the nodes placement may choose from (those serving the
// app's org, with the claims other apps hold on them from the placement
// ledger) and the choice itself (apps::place). Part of AppService.
#include "apps/placement.hpp"
#include "server/app_service.hpp"

namespace berth::server {

Result<std::vector<apps::NodeCandidate>> AppService::placementCandidates(const store::App& app) {
  const std::string& app_name = app.name;
  auto nodes = store_.listNodes();
  if (!nodes) return nodes.error();
  auto claims = ledger_.claimsByNode(app_name);
  if (!claims) return claims.error();
  std::vector<apps::NodeCandidate> out;
  out.reserve(nodes->size());
  for (const auto& n : *nodes) {
    if (!nodeServes(n, app.org)) continue;  // an org's apps run on its own nodes or platform nodes
    apps::NodeCandidate c;
    c.id = n.id;
    c.online = n.status == store::NodeStatus::Online;
    c.revoked = n.status == store::NodeStatus::Revoked;
    if (n.labels.is_object()) {
      for (const auto& [k, v] : n.labels.items()) {
        if (v.is_string()) c.labels[k] = v.get<std::string>();
      }
    }
    if (n.capacity.is_object() && n.capacity.contains("allocatable_cpu_millicores")) {
      c.allocatable = apps::Allocatable{n.capacity.value("allocatable_cpu_millicores", std::int64_t{0}),
                                        n.capacity.value("allocatable_memory_bytes", std::int64_t{0})};
    }
    if (auto it = claims->find(n.id); it != claims->end()) c.claims.push_back(it->second);
    out.push_back(std::move(c));
  }
  return out;
}

Result<std::string> AppService::placeApp(const store::App& app, const apps::DeploymentSpec& spec,
                                        const std::optional<apps::Claim>& overlapping) {
  auto candidates = placementCandidates(app);
  if (!candidates) return candidates.error();
  if (overlapping) {
    // During a zero-downtime update the old version runs beside the new one on its node.
    for (auto& c : *candidates)
      if (c.id == app.node_id) c.claims.push_back(*overlapping);
  }
  apps::PlacementRequest request;
  request.claim = apps::claimOf(app.name, spec);
  request.pinned_node = app.node_id;
  for (const auto& [k, v] : app.selector.items()) {
    if (v.is_string()) request.selector[k] = v.get<std::string>();
  }
  auto chosen = apps::place(*candidates, request);
  if (!chosen) return chosen.error();
  return chosen->front();
}

}  // namespace berth::server
