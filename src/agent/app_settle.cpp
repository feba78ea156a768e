// AppSupervisor: routes and the settling of a zero-downtime update — what the
// proxy serves for an app, the old version draining and then stopping, and
// the watch window that switches back to it when the new one turns unhealthy
// (docs/routes.md "Zero-downtime updates").
#include "agent/app_supervisor.hpp"
#include "agent/app_supervisor_internal.hpp"

#include <algorithm>
#include <set>

#include "agent/health_probe.hpp"
#include "apps/domains.hpp"
#include "common/logging.hpp"

namespace berth::agent {
using namespace supervisor_internal;

Result<std::pair<std::vector<apps::DomainEntry>, std::string>> parseRouting(const nlohmann::json& routing) {
  if (routing.is_null()) return std::pair<std::vector<apps::DomainEntry>, std::string>{};
  if (!routing.is_object()) return invalidField("args.routing", "must be an object");
  std::vector<apps::DomainEntry> domains;
  std::string base;
  if (auto b = routing.find("base_domain"); b != routing.end() && !b->is_null()) {
    if (!b->is_string()) return invalidField("args.routing.base_domain", "must be a string");
    if (!b->get<std::string>().empty()) {
      auto valid = apps::validateBaseDomain(b->get<std::string>(), "args.routing.base_domain");
      if (!valid) return valid.error();
      base = *valid;
    }
  }
  if (auto list = routing.find("domains"); list != routing.end() && !list->is_null()) {
    if (!list->is_array()) return invalidField("args.routing.domains", "must be an array");
    if (list->size() > apps::kMaxDomainsPerApp)
      return invalidField("args.routing.domains", "must hold at most " + std::to_string(apps::kMaxDomainsPerApp) + " domains");
    for (std::size_t i = 0; i < list->size(); ++i) {
      const auto& d = (*list)[i];
      const std::string field = "args.routing.domains[" + std::to_string(i) + "]";
      if (!d.is_object() || !d.contains("domain") || !d["domain"].is_string())
        return invalidField(field, "must be an object with a string 'domain'");
      apps::DomainEntry entry;
      // The server allowed wildcards or not; the agent only refuses what no proxy file may hold.
      auto domain = apps::validateDomain(d["domain"].get<std::string>(), true, field + ".domain");
      if (!domain) return domain.error();
      entry.domain = *domain;
      if (d.contains("path_prefix")) {
        if (!d["path_prefix"].is_string()) return invalidField(field + ".path_prefix", "must be a string");
        auto prefix = apps::validatePathPrefix(d["path_prefix"].get<std::string>(), field + ".path_prefix");
        if (!prefix) return prefix.error();
        entry.path_prefix = *prefix;
      }
      if (d.contains("strip_prefix")) {
        if (!d["strip_prefix"].is_boolean()) return invalidField(field + ".strip_prefix", "must be true or false");
        entry.strip_prefix = d["strip_prefix"].get<bool>();
      }
      domains.push_back(std::move(entry));
    }
  }
  if (auto certs = routing.find("certificates"); certs != routing.end() && !certs->is_null()) {
    if (!certs->is_object()) return invalidField("args.routing.certificates", "must be an object of domain -> {certificate, key}");
    for (const auto& [host, pair] : certs->items()) {
      const std::string field = "args.routing.certificates." + host;
      if (std::none_of(domains.begin(), domains.end(), [&](const apps::DomainEntry& d) { return d.domain == host; }))
        return invalidField(field, "is not one of the app's domains");
      if (!pair.is_object() || !pair.contains("certificate") || !pair["certificate"].is_string() ||
          !pair.contains("key") || !pair["key"].is_string())
        return invalidField(field, "must be {certificate, key} PEM strings");
    }
  }
  return std::pair{std::move(domains), std::move(base)};
}

Result<nlohmann::json> AppSupervisor::installCertificates(nlohmann::json routing) {
  if (!routing.is_object() || !routing.contains("certificates")) return routing;
  for (const auto& [host, pair] : routing["certificates"].items()) {
    if (!options_.router) return makeError("unsupported", "this node runs no proxy: no certificate for " + host);
    if (auto r = options_.router->uploadCertificate(host, pair["certificate"], pair["key"]); !r)
      return invalidField("args.routing.certificates." + host, r.error().message);
  }
  routing.erase("certificates");  // kept once, in the certificate store (0600), not in the app's record
  return routing;
}

Result<std::vector<apps::AppRoute>> AppSupervisor::routesOf(const AppRecord& record,
                                                            const apps::DeploymentSpec& spec) const {
  auto parsed = parseRouting(record.routing);
  if (!parsed) return parsed.error();
  const std::string& base = options_.base_domain.empty() ? parsed->second : options_.base_domain;
  return apps::computeRoutes(record.app, spec.port, parsed->first, base);
}

std::vector<proxy::Upstream> AppSupervisor::upstreamsOf(const std::vector<std::string>& ids, std::uint16_t port) {
  std::vector<proxy::Upstream> out;
  for (const auto& id : ids) {
    auto info = runtime_.inspect(id);
    if (info && *info && (*info)->state == "running" && !(*info)->ip_address.empty())
      out.push_back({(*info)->ip_address, port});
  }
  return out;
}

Result<void> AppSupervisor::routeTo(const AppRecord& record, const apps::DeploymentSpec& spec,
                                    const std::vector<std::string>& ids) {
  if (!options_.router) return Ok{};
  auto routes = routesOf(record, spec);
  if (!routes) return routes.error();
  // A running app's requests wait while no container can take them; a stopped app's get 503 at once.
  return options_.router->route(record.app, *routes,
                                routes->empty() ? std::vector<proxy::Upstream>{} : upstreamsOf(ids, spec.port), spec.hsts,
                                record.running ? spec.hold_ms : 0);
}

std::vector<std::string> AppSupervisor::runningIdsOf(const AppRecord& record) {
  std::vector<std::string> ids;
  auto all = containersOf(record.app);
  if (!all) return ids;
  auto spec = apps::parseDeploymentSpec(record.spec);
  const int replicas = spec ? spec->replicas : 0;
  for (const auto& c : *all) {
    if (c.state == "running" && isCurrent(c, record) && labelInt(c, kReplica) < replicas) ids.push_back(c.id);
  }
  return ids;
}

VerbOutcome AppSupervisor::setRouting(const std::string& app, const nlohmann::json& given) {
  if (auto parsed = parseRouting(given); !parsed) return fail(parsed.error());
  auto found = current(app);
  if (!found) return fail(found.error());
  auto& [record, spec] = *found;
  auto routing = installCertificates(given);
  if (!routing) return fail(routing.error());
  record.routing = *routing;
  auto routes = routesOf(record, spec);
  if (!routes) return fail(routes.error());
  if (auto routed = routeTo(record, spec, record.running ? runningIdsOf(record) : std::vector<std::string>{}); !routed) {
    emit(app, record.deployment, "route_failed", routed.error().message);
    return fail(routed.error());
  }
  if (auto saved = put(app, record); !saved) return fail(saved.error());
  VerbOutcome out;
  out.output = {{"routes", apps::toJson(*routes)}};
  return out;
}

void AppSupervisor::restoreRoutes() {
  if (!options_.router) return;
  for (const auto& app : appNames()) {
    auto found = current(app);
    if (!found) continue;
    auto& [record, spec] = *found;
    if (auto r = routeTo(record, spec, record.running ? runningIdsOf(record) : std::vector<std::string>{}); !r)
      log::warn("app not routed", {{"app", app}, {"error", r.error().message}});
  }
}

std::vector<std::string> AppSupervisor::retiringApps() const {
  std::lock_guard lock(mutex_);
  std::vector<std::string> out;
  for (const auto& [name, r] : apps_) {
    if (!r.retiring.empty()) out.push_back(name);
  }
  return out;
}

std::vector<std::string> AppSupervisor::watchedApps() const {
  std::lock_guard lock(mutex_);
  std::vector<std::string> out;
  for (const auto& [name, r] : apps_) {
    if (r.watch) out.push_back(name);
  }
  return out;
}

Result<void> AppSupervisor::probeOnce(const std::string& id, const apps::DeploymentSpec& spec) {
  auto info = runtime_.inspect(id);
  if (!info) return info.error();
  if (!*info) return makeError("container_gone", "the container was removed");
  if ((*info)->state != "running")
    return makeError("exited", "the container " + (*info)->state + " with exit code " + std::to_string((*info)->exit_code));
  if (!spec.health) return Ok{};
  const auto& check = *spec.health;
  const int timeout = static_cast<int>(check.timeout_ms);
  std::string ip = (*info)->ip_address;
  std::uint16_t port = check.port;
  if (ip.empty() && spec.publish) ip = "127.0.0.1", port = spec.publish;  // no bridge: through the host port
  switch (check.kind) {
    case apps::HealthCheckKind::Http:
      return ip.empty() ? makeError("probe_failed", "the container has no IP address") : probeHttp(ip, port, check.path, timeout);
    case apps::HealthCheckKind::Tcp:
      return ip.empty() ? makeError("probe_failed", "the container has no IP address") : probeTcp(ip, port, timeout);
    case apps::HealthCheckKind::Command: {
      auto code = runtime_.exec(id, check.command, timeout);
      if (!code) return makeError("probe_failed", code.error().message);
      if (*code != 0) return makeError("probe_failed", "command exited " + std::to_string(*code));
      return Ok{};
    }
  }
  return Ok{};
}

void AppSupervisor::watchStep(const std::string& app) {
  auto found = record(app);
  if (!found || !found->watch) return;
  AppRecord rec = std::move(*found);
  const std::int64_t now = options_.clock();
  if (now >= rec.watch->until) {
    // The window closed with the new version healthy: the old one is not needed for a switch back.
    {
      std::lock_guard lock(mutex_);
      auto it = apps_.find(app);
      if (it == apps_.end() || it->second.deployment != rec.deployment || !it->second.watch) return;
      for (auto& r : it->second.retiring) {
        if (r.deployment == rec.watch->previous.deployment) r.remove_at = std::min(r.remove_at, r.stop_at);
      }
      it->second.watch.reset();
      if (auto saved = saveLocked(); !saved) log::error("app state not saved", {{"error", saved.error().message}});
    }
    emit(app, rec.deployment, "watch_passed", "healthy through the watch window");
    return;
  }
  if (now < rec.watch->next_probe) return;
  auto spec = apps::parseDeploymentSpec(rec.spec);
  const auto ids = runningIdsOf(rec);
  Result<void> outcome = Ok{};
  if (!spec) outcome = spec.error();
  else if (static_cast<int>(ids.size()) < spec->replicas)
    outcome = makeError("exited", std::to_string(spec->replicas - static_cast<int>(ids.size())) + " of " +
                                      std::to_string(spec->replicas) + " replicas are not running");
  for (const auto& id : ids) {
    if (!outcome) break;
    outcome = probeOnce(id, *spec);
  }
  rec.watch->next_probe = now + (spec && spec->health ? spec->health->interval_ms : 1000);
  if (outcome) {
    rec.watch->failures = 0;
  } else {
    rec.watch->failures++;
    rec.watch->last_failure = outcome.error().message;
    if (rec.watch->failures >= (spec && spec->health ? spec->health->retries : 1)) {
      const std::string reason = "unhealthy " + std::to_string(rec.watch->failures) +
                                 " times inside the watch window: " + rec.watch->last_failure;
      return switchBack(std::move(rec), reason);
    }
  }
  // Probe bookkeeping lives in memory only: a restart starts the count again.
  std::lock_guard lock(mutex_);
  if (auto it = apps_.find(app); it != apps_.end() && it->second.watch && it->second.deployment == rec.deployment)
    *it->second.watch = *rec.watch;
}

void AppSupervisor::retire(const std::string& app) {
  auto found = record(app);
  if (!found || found->retiring.empty()) return;
  const std::int64_t now = options_.clock();
  // Runs beside the app's own work (a stop may wait out its timeout): what it did is merged back by
  // container id, so a deploy that changed the list meanwhile loses nothing.
  std::set<std::string> stopped, removed;
  for (const auto& r : found->retiring) {
    if (!r.stopped && now >= r.stop_at) {
      auto done = runtime_.stop(r.id, options_.stop_timeout_s);
      if (!done && done.error().code != "not_found") continue;  // the runtime did not answer: next pass
      stopped.insert(r.id);
    }
    if (now >= r.remove_at) {
      auto done = runtime_.remove(r.id, true);
      if (!done && done.error().code != "not_found") continue;
      removed.insert(r.id);
    }
  }
  if (stopped.empty() && removed.empty()) return;
  bool empty = false;
  {
    std::lock_guard lock(mutex_);
    auto it = apps_.find(app);
    if (it == apps_.end()) return;
    auto& list = it->second.retiring;
    for (auto& r : list) r.stopped |= stopped.count(r.id) > 0;
    std::erase_if(list, [&](const Retiring& r) { return removed.count(r.id) > 0; });
    empty = list.empty() && !it->second.watch;
    if (auto saved = saveLocked(); !saved) log::error("app state not saved", {{"error", saved.error().message}});
  }
  if (empty) pruneImages(app);
}

void AppSupervisor::switchBack(AppRecord rec, const std::string& reason) {
  const std::string app = rec.app;
  const int failed = rec.deployment;
  const Version previous = rec.watch->previous;
  AppRecord back = rec;
  back.deployment = previous.deployment;
  back.deployment_id = previous.deployment_id;
  back.spec = previous.spec;
  back.image = previous.image;
  back.watch.reset();
  auto spec = apps::parseDeploymentSpec(back.spec);
  Result<void> outcome = spec ? Result<void>(Ok{}) : Result<void>(spec.error());
  std::vector<std::string> ids;
  for (int r = 0; outcome && r < spec->replicas; ++r) {
    auto id = runReplica(back, *spec, r);  // adopts the stopped old container and starts it again
    if (!id) outcome = id.error();
    else ids.push_back(*id);
  }
  for (const auto& id : ids) {
    if (!outcome) break;
    outcome = waitHealthy(id, *spec);
  }
  if (outcome) outcome = routeTo(back, *spec, ids);
  if (!outcome) {
    // Nothing better to go back to: the new version stays, and says so.
    rec.watch.reset();
    {
      std::lock_guard lock(mutex_);
      if (auto it = apps_.find(app); it != apps_.end()) it->second.watch.reset();
      (void)saveLocked();
    }
    emit(app, failed, "rollback_failed", reason + "; switching back failed: " + outcome.error().message);
    return;
  }
  const std::int64_t now = options_.clock();
  // The previous version serves again: it is no longer retiring; the failed one is.
  std::erase_if(back.retiring, [&](const Retiring& r) { return r.deployment == previous.deployment; });
  for (const auto& id : runningIdsOf(rec)) back.retiring.push_back({id, failed, now + spec->drain_ms, now + spec->drain_ms, false});
  if (auto saved = put(app, back); !saved) log::error("app state not saved", {{"error", saved.error().message}});
  emit(app, failed, "rolled_back", reason, {{"rolled_back_to", previous.deployment}});
}

}  // namespace berth::agent
