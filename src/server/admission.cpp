#include "server/admission.hpp"

#include <algorithm>
#include <map>
#include <vector>

namespace berth::server {

auth::Usage claimOf(const apps::DeploymentSpec& spec) {
  auth::Usage u;
  const std::int64_t replicas = spec.replicas;
  u.cpu_millicores = spec.limits.cpu_millicores * replicas;
  u.memory_bytes = spec.limits.memory_bytes * replicas;
  u.disk_bytes = spec.limits.disk_bytes * replicas;
  return u;
}

namespace {

// The claim of one deployment of the app (none when it is gone or unreadable).
Result<auth::Usage> deploymentClaim(store::Store& store, const std::string& app, int number) {
  if (number < 1) return auth::Usage{};
  auto d = store.getDeployment(app, number);
  if (!d) return d.error();
  if (!*d) return auth::Usage{};
  auto spec = apps::parseDeploymentSpec((*d)->spec);
  return spec ? claimOf(*spec) : auth::Usage{};
}

// Live limit changes the nodes have not answered yet, per app: the full
// limits each asks for (the args of its open app.limits command).
using PendingLimits = std::map<std::string, std::vector<nlohmann::json>>;

Result<PendingLimits> pendingLimits(store::Store& store) {
  auto open = store.listOpenCommands();
  if (!open) return open.error();
  PendingLimits out;
  for (const auto& c : *open)
    if (c.verb == "app.limits" && c.args.contains("app") && c.args["app"].is_string() && c.args.contains("limits"))
      out[c.args["app"].get<std::string>()].push_back(c.args["limits"]);
  return out;
}

void raiseTo(auth::Usage& u, const auth::Usage& other) {
  u.cpu_millicores = std::max(u.cpu_millicores, other.cpu_millicores);
  u.memory_bytes = std::max(u.memory_bytes, other.memory_bytes);
  u.disk_bytes = std::max(u.disk_bytes, other.disk_bytes);
}

// What an app holds: per resource, the largest of its newest deployment's
// claim (a pending one counts: two deploys queued back to back must not both
// slip under a quota), the running one's (a newer deployment that failed with
// small limits must not free the quota while the big one keeps running) and
// the running one's with each live limit change still in flight (raises sent
// at once must not all pass before the first is confirmed; a lowering the
// node may yet refuse frees nothing until it is done).
Result<auth::Usage> appClaim(store::Store& store, const store::App& app, const PendingLimits& pending) {
  auto newest = deploymentClaim(store, app.name, app.next_deployment - 1);
  if (!newest) return newest.error();
  auth::Usage u = *newest;
  if (app.current_deployment != app.next_deployment - 1) {
    auto running = deploymentClaim(store, app.name, app.current_deployment);
    if (!running) return running.error();
    raiseTo(u, *running);
  }
  auto changes = pending.find(app.name);
  if (changes == pending.end() || app.current_deployment < 1) return u;
  auto d = store.getDeployment(app.name, app.current_deployment);
  if (!d) return d.error();
  if (!*d) return u;
  for (const auto& limits : changes->second) {
    nlohmann::json spec = (*d)->spec;
    spec["limits"] = limits;
    if (auto parsed = apps::parseDeploymentSpec(spec)) raiseTo(u, claimOf(*parsed));
  }
  return u;
}

}  // namespace

Result<store::OrgLimits> Admission::stored(const std::string& org) {
  auto row = store_.getOrgLimits(org);
  if (!row) return row.error();
  if (*row) return **row;
  store::OrgLimits fresh;
  fresh.org = org;
  fresh.quotas = auth::quotasJson({});
  fresh.policy = auth::containerPolicyJson({});
  return fresh;
}

Result<OrgLimitsView> Admission::limits(const std::string& org) {
  auto row = stored(org);
  if (!row) return row.error();
  auto quotas = auth::quotasFromJson(row->quotas);
  if (!quotas) return quotas.error();
  auto policy = auth::containerPolicyFromJson(row->policy);
  if (!policy) return policy.error();
  return OrgLimitsView{*quotas, *policy};
}

Result<auth::Usage> Admission::usage(const std::string& org) {
  auth::Usage u;
  auto pending = pendingLimits(store_);
  if (!pending) return pending.error();
  auto apps = store_.listOrgApps(org);
  if (!apps) return apps.error();
  u.apps = static_cast<std::int64_t>(apps->size());
  for (const auto& app : *apps) {
    auto claim = appClaim(store_, app, *pending);
    if (!claim) return claim.error();
    u.cpu_millicores += claim->cpu_millicores;
    u.memory_bytes += claim->memory_bytes;
    u.disk_bytes += claim->disk_bytes;
    auto domains = store_.listAppDomains(app.name);
    if (!domains) return domains.error();
    u.domains += static_cast<std::int64_t>(domains->size());
  }
  auto deployments = store_.countOrgDeploymentsSince(org, clock_() - kHourMs);
  if (!deployments) return deployments.error();
  u.deployments_last_hour = *deployments;
  return u;
}

Result<void> Admission::admitApp(const std::string& org) {
  auto l = limits(org);
  if (!l) return l.error();
  if (!l->quotas.apps) return Ok{};
  auto u = usage(org);
  if (!u) return u.error();
  auth::Request request;
  request.adding.apps = 1;
  return auth::admit(org, l->quotas, *u, request);
}

Result<void> Admission::admitDeployment(const store::App& app, const apps::DeploymentSpec& spec, bool new_deployment) {
  auto l = limits(app.org);
  if (!l) return l.error();
  if (auto r = auth::checkContainer(app.org, spec.capabilities, spec.user, l->policy, config_.allowed_capabilities); !r)
    return r;
  // The org's use costs a read of each of its apps: only worth it when a quota can refuse.
  const auto& q = l->quotas;
  if (!q.cpu_millicores && !q.memory_bytes && !q.disk_bytes && !q.deployments_per_hour) return Ok{};
  auto u = usage(app.org);
  if (!u) return u.error();
  auth::Request request;
  request.deployment = true;
  request.adding = claimOf(spec);
  request.adding.deployments_last_hour = new_deployment ? 1 : 0;
  auto pending = pendingLimits(store_);
  if (!pending) return pending.error();
  auto released = appClaim(store_, app, *pending);
  if (!released) return released.error();
  request.releasing = *released;
  request.declares_cpu = spec.limits.cpu_millicores > 0;
  request.declares_memory = spec.limits.memory_bytes > 0;
  request.declares_disk = spec.limits.disk_bytes > 0;
  return auth::admit(app.org, l->quotas, *u, request);
}

Result<void> Admission::admitStart(const store::App& app, const apps::DeploymentSpec& spec) {
  auto l = limits(app.org);
  if (!l) return l.error();
  return auth::checkContainer(app.org, spec.capabilities, spec.user, l->policy, config_.allowed_capabilities);
}

Result<void> Admission::admitDomain(const std::string& org) {
  auto l = limits(org);
  if (!l) return l.error();
  if (!l->quotas.domains) return Ok{};
  auto u = usage(org);
  if (!u) return u.error();
  auth::Request request;
  request.adding.domains = 1;
  return auth::admit(org, l->quotas, *u, request);
}

Result<void> Admission::admitBuild(const std::string& org, std::int64_t running) {
  auto l = limits(org);
  if (!l) return l.error();
  auth::Usage u;
  u.builds_running = running;
  auth::Request request;
  request.adding.builds_running = 1;
  return auth::admit(org, l->quotas, u, request);
}

Result<void> Admission::recordDeployment(const std::string& org) {
  const auto now = clock_();
  return store_.recordOrgDeployment(org, now, now - kHourMs);
}

Result<nlohmann::json> Admission::describe(const std::string& org) {
  auto l = limits(org);
  if (!l) return l.error();
  auto u = usage(org);
  if (!u) return u.error();
  return nlohmann::json{{"org", org},
                        {"quotas", auth::quotasJson(l->quotas)},
                        {"usage", auth::usageJson(*u)},
                        {"policy", auth::containerPolicyJson(l->policy)},
                        {"server_allowed_capabilities", config_.allowed_capabilities}};
}

Result<nlohmann::json> Admission::setQuotas(const std::string& org, const nlohmann::json& body) {
  auto row = stored(org);
  if (!row) return row.error();
  auto current = auth::quotasFromJson(row->quotas);
  if (!current) return current.error();
  auto merged = auth::mergeQuotas(*current, body);
  if (!merged) return merged.error();
  row->quotas = auth::quotasJson(*merged);
  row->updated_at = clock_();
  if (auto r = store_.putOrgLimits(*row); !r) return r.error();
  return describe(org);
}

Result<nlohmann::json> Admission::setPolicy(const std::string& org, const nlohmann::json& body) {
  auto row = stored(org);
  if (!row) return row.error();
  auto current = auth::containerPolicyFromJson(row->policy);
  if (!current) return current.error();
  auto merged = auth::mergeContainerPolicy(*current, body, config_.allowed_capabilities);
  if (!merged) return merged.error();
  row->policy = auth::containerPolicyJson(*merged);
  row->updated_at = clock_();
  if (auto r = store_.putOrgLimits(*row); !r) return r.error();
  return describe(org);
}

}  // namespace berth::server
