// AppSupervisor: start/stop/restart, delete, live limits, status, and the
// reconcile pass that repairs drift.
#include "agent/app_supervisor.hpp"
#include "agent/app_supervisor_internal.hpp"

#include <algorithm>

#include "common/logging.hpp"

namespace berth::agent {
using namespace supervisor_internal;

VerbOutcome AppSupervisor::setRunning(const std::string& app, bool running, bool restart) {
  auto found = current(app);
  if (!found) return fail(found.error());
  auto& [record, parsed] = *found;
  const auto* spec = &parsed;
  const bool changed = record.running != running;
  record.running = running;
  auto all = containersOf(app);
  if (!all) {
    markUnreachable(app, record.deployment, all.error());
    return fail(all.error());
  }
  if (auto saved = put(app, record); !saved) return fail(saved.error());
  std::vector<std::string> ids;
  if (!running || restart) {
    // Out of the route first: while nothing runs the proxy answers 503 with Retry-After, not 502.
    // A proxy that cannot take the change must not keep an app from stopping.
    if (auto routed = routeTo(record, *spec, {}); !routed)
      log::warn("app stops without its route changed", {{"app", app}, {"error", routed.error().message}});
  }
  for (const auto& c : *all) {
    if (!isCurrent(c, record)) continue;
    if (!running || restart) {
      if (auto r = runtime_.stop(c.id, options_.stop_timeout_s); !r) return fail(r.error());
    }
  }
  if (running) {
    for (int r = 0; r < spec->replicas; ++r) {
      auto id = runReplica(record, *spec, r);
      if (!id) {
        if (id.error().code == "runtime_unavailable") markUnreachable(app, record.deployment, id.error());
        return fail(id.error());
      }
      ids.push_back(*id);
    }
    for (const auto& id : ids) {
      if (auto healthy = waitHealthy(id, *spec); !healthy) {
        emit(app, record.deployment, "failed", healthy.error().message);
        return fail(healthy.error());
      }
    }
    if (auto routed = routeTo(record, *spec, ids); !routed) {
      emit(app, record.deployment, "route_failed", routed.error().message);
      return fail(routed.error());
    }
  }
  const std::string state = running ? "healthy" : "stopped";
  if (changed || restart) emit(app, record.deployment, state, restart ? "restarted" : "");
  VerbOutcome out;
  out.output = {{"state", state}, {"changed", changed || restart}, {"containers", ids}};
  return out;
}

VerbOutcome AppSupervisor::remove(const std::string& app, bool volumes, const std::vector<std::string>& declared) {
  auto found = record(app);
  std::set<std::string> volumeNames;
  for (const auto& name : declared) volumeNames.insert(volumeName(app, name));  // every deployment's, from the server
  if (found) {
    if (auto spec = apps::parseDeploymentSpec(found->spec)) {
      for (const auto& [name, path] : spec->volumes) volumeNames.insert(volumeName(app, name));
    }
  }
  if (options_.router) {  // a broken proxy must not keep an app from being deleted
    if (auto unrouted = options_.router->unroute(app); !unrouted)
      log::warn("app deleted without its route removed", {{"app", app}, {"error", unrouted.error().message}});
  }
  int removed = 0;
  auto all = containersOf(app);
  if (!all) return fail(all.error());
  for (const auto& c : *all) {
    if (auto r = runtime_.remove(c.id, true); !r) return fail(r.error());
    ++removed;
  }
  nlohmann::json removedVolumes = nlohmann::json::array();
  if (volumes) {
    for (const auto& v : volumeNames) {
      if (auto r = runtime_.removeVolume(v); !r) return fail(r.error());
      removedVolumes.push_back(v);
    }
  }
  if (found) {
    if (auto saved = put(app, std::nullopt); !saved) return fail(saved.error());
    for (const auto& h : found->history) releaseImage(h);
    emit(app, found->deployment, "deleted", "");
  }
  VerbOutcome out;
  out.output = {{"state", "deleted"}, {"containers_removed", removed}, {"volumes_removed", removedVolumes}};
  return out;
}

VerbOutcome AppSupervisor::limits(const std::string& app, const nlohmann::json& wanted) {
  auto found = current(app);
  if (!found) return fail(found.error());
  auto& [record, parsed] = *found;
  const auto* spec = &parsed;
  auto next = apps::parseLimits(wanted, apps::Limits{});
  if (!next) return fail(next.error());
  if (next->disk_bytes != spec->limits.disk_bytes)
    return fail("invalid_argument", "field 'limits.disk': cannot change on a running container; deploy again");
  runtime::Resources resources{next->memory_bytes, next->swap_bytes, next->cpu_millicores, next->pids};
  nlohmann::json ids = nlohmann::json::array();
  auto all = containersOf(app);
  if (!all) return fail(all.error());
  for (const auto& c : *all) {
    if (!isCurrent(c, record)) continue;
    if (auto r = runtime_.update(c.id, resources); !r) return fail(r.error());
    if (c.state == "running" && (next->net_in_bps != spec->limits.net_in_bps || next->net_out_bps != spec->limits.net_out_bps)) {
      if (auto r = applyBandwidth(c.id, *next); !r) return fail(r.error());
    }
    ids.push_back(c.id);
  }
  record.spec["limits"] = wanted;
  if (auto saved = put(app, record); !saved) return fail(saved.error());
  emit(app, record.deployment, "limits_changed", wanted.dump());
  VerbOutcome out;
  out.output = {{"limits", apps::toJson(*next)}, {"containers", ids}};
  return out;
}

VerbOutcome AppSupervisor::status(const std::string& app) {
  nlohmann::json containers = nlohmann::json::array();
  auto all = containersOf(app);
  if (!all) return fail(all.error());
  for (const auto& c : *all) {
    containers.push_back({{"id", c.id},
                          {"name", c.name},
                          {"state", c.state},
                          {"started_at", c.started_at},
                          {"deployment", labelInt(c, kDeployment)},
                          {"deployment_id", c.labels.count(kDeploymentId) ? c.labels.at(kDeploymentId) : ""},
                          {"replica", labelInt(c, kReplica)},
                          {"ip", c.ip_address}});
  }
  VerbOutcome out;
  auto found = record(app);
  out.output = {{"app", app},
                {"deployment", found ? found->deployment : 0},
                {"running", found && found->running},
                {"image", found ? found->image : ""},
                {"containers", containers}};
  return out;
}

void AppSupervisor::reconcile() {
  for (const auto& app : appNames()) reconcileApp(app);
  reportUnknown();
}

void AppSupervisor::reconcileApp(const std::string& app) {
  auto found = current(app);
  if (!found) return;
  const auto& [record, parsed] = *found;
  const auto* spec = &parsed;
  auto all = containersOf(app);
  if (!all) {  // not "every container was removed": the runtime is not answering
    markUnreachable(app, record.deployment, all.error());
    return;
  }
  bool wasUnreachable = false;
  {
    std::lock_guard lock(mutex_);
    wasUnreachable = unreachable_.erase(app) > 0;
  }
  std::map<int, runtime::ContainerInfo> current;
  for (const auto& c : *all) {
    const int replica = labelInt(c, kReplica);
    const bool retiring = std::any_of(record.retiring.begin(), record.retiring.end(),
                                      [&](const Retiring& r) { return r.id == c.id; });
    if (retiring) continue;  // an old version draining or kept for a switch back: settle() owns it
    if (!isCurrent(c, record) || replica < 0 || replica >= spec->replicas) {
      if (auto removed = runtime_.remove(c.id, true); !removed) {
        if (removed.error().code == "runtime_unavailable") return markUnreachable(app, record.deployment, removed.error());
        continue;
      }
      emit(app, record.deployment, "drift", "removed leftover container " + c.name);
      continue;
    }
    current[replica] = c;
  }
  int running = 0;
  std::vector<std::string> serving;
  for (int r = 0; r < spec->replicas; ++r) {
    auto it = current.find(r);
    if (!record.running) {
      if (it != current.end() && it->second.state == "running") {
        (void)runtime_.stop(it->second.id, options_.stop_timeout_s);
        emit(app, record.deployment, "drift", "stopped " + it->second.name + ": the app is stopped");
      }
      continue;
    }
    if (it != current.end() && it->second.state == "running") {
      ++running;
      serving.push_back(it->second.id);
      // The current version serves (deploys of this app never overlap this): a start-up weight
      // left by a raise that failed, or by an agent stopped before it, goes now.
      if (hasStartupCpuWeight(it->second)) {
        auto raised = raiseCpuWeight(it->second.id, *spec);
        emit(app, record.deployment, "drift",
             "gave " + it->second.name + " the default CPU weight" + (raised ? "" : " failed: " + raised.error().message));
      }
      continue;
    }
    const std::string why = it == current.end()
                                ? "recreated " + containerName(app, record.deployment, r) + ": the container was removed"
                                : "started " + it->second.name + ": it was " + it->second.state;
    auto id = runReplica(record, *spec, r);
    if (!id && id.error().code == "runtime_unavailable") return markUnreachable(app, record.deployment, id.error());
    if (id) ++running, serving.push_back(*id);
    emit(app, record.deployment, "drift", id ? why : why + " failed: " + id.error().message);
  }
  // The route follows what runs (a recreated container has a new address); no change, no reload.
  if (auto routed = routeTo(record, *spec, record.running ? serving : std::vector<std::string>{}); !routed)
    log::warn("app route not updated", {{"app", app}, {"error", routed.error().message}});
  if (wasUnreachable) {
    // Back after an outage: say what runs now, so a command refused meanwhile does not leave a stale state.
    const std::string derived = !record.running ? "stopped" : running == spec->replicas ? "healthy" : "degraded";
    emit(app, record.deployment, "runtime_reachable",
         "runtime reachable again; " + std::to_string(running) + "/" + std::to_string(spec->replicas) +
             " replicas running",
         {{"derived", derived}});
  }
}

void AppSupervisor::reportUnknown() {
  auto all = runtime_.list({{kManaged, "1"}, {kNode, options_.node_id}});
  if (!all) return;
  for (const auto& id : *all) {
    {
      std::lock_guard lock(mutex_);
      if (reported_unknown_.count(id)) continue;
    }
    auto info = runtime_.inspect(id);
    if (!info || !*info) continue;
    const auto app = (*info)->labels[kApp];
    {
      std::lock_guard lock(mutex_);
      if (apps_.count(app) || active_.count(app)) continue;
      reported_unknown_.insert(id);
    }
    emit(app, labelInt(**info, kDeployment), "unknown_container",
         "container " + (*info)->name + " carries berth labels but no app wants it; left alone");
  }
}

}  // namespace berth::agent
