#include "server/placement_ledger.hpp"

namespace berth::server {

void PlacementLedger::touch(const std::string& app) {
  std::lock_guard lock(mutex_);
  dirty_.insert(app);
}

void PlacementLedger::addLocked(const std::string& app, const Entry& entry, int sign) {
  auto& sum = sums_[entry.node];
  sum.cpu_millicores += sign * entry.claim.cpu_millicores;
  sum.memory_bytes += sign * entry.claim.memory_bytes;
  if (sign > 0) entries_[app] = entry;
  else entries_.erase(app);
}

Result<std::optional<PlacementLedger::Entry>> PlacementLedger::read(const std::string& app, const std::string& node,
                                                                    int deployment) {
  if (node.empty() || deployment == 0) return std::optional<Entry>();
  auto d = store_.getDeployment(app, deployment);
  if (!d) return d.error();
  if (!*d) return std::optional<Entry>();
  auto spec = apps::parseDeploymentSpec((*d)->spec);
  if (!spec) return std::optional<Entry>();  // an unreadable spec claims nothing
  return std::optional<Entry>(Entry{node, apps::claimOf(app, *spec)});
}

Result<void> PlacementLedger::reloadLocked() {
  auto placed = store_.listAppPlacements();
  if (!placed) return placed.error();
  entries_.clear();
  sums_.clear();
  for (const auto& p : *placed) {
    auto entry = read(p.name, p.node_id, p.current_deployment);
    if (!entry) return entry.error();
    if (*entry) addLocked(p.name, **entry, +1);
  }
  dirty_.clear();
  loaded_at_ = clock_();
  return Ok{};
}

Result<void> PlacementLedger::refreshLocked() {
  if (loaded_at_ < 0 || clock_() - loaded_at_ > kReloadMs || clock_() < loaded_at_) return reloadLocked();
  for (const auto& app : dirty_) {
    if (auto it = entries_.find(app); it != entries_.end()) addLocked(app, Entry(it->second), -1);
    auto row = store_.getApp(app);
    if (!row) return row.error();
    if (!*row) continue;  // deleted
    auto entry = read(app, (*row)->node_id, (*row)->current_deployment);
    if (!entry) return entry.error();
    if (*entry) addLocked(app, **entry, +1);
  }
  dirty_.clear();
  return Ok{};
}

Result<std::map<std::string, apps::Claim>> PlacementLedger::claimsByNode(const std::string& except) {
  std::lock_guard lock(mutex_);
  if (auto r = refreshLocked(); !r) {
    loaded_at_ = -1;  // start over next time
    return r.error();
  }
  std::map<std::string, apps::Claim> out;
  for (const auto& [node, sum] : sums_) out[node] = apps::Claim{"", sum.cpu_millicores, sum.memory_bytes};
  if (auto it = entries_.find(except); it != entries_.end()) {
    auto& own = out[it->second.node];
    own.cpu_millicores -= it->second.claim.cpu_millicores;
    own.memory_bytes -= it->second.claim.memory_bytes;
  }
  return out;
}

}  // namespace berth::server
