// Admission: the one place that decides whether an org may take more
// (quotas) and what its containers may do (container policy). AppService
// calls it on every path that creates an app, starts a deployment (deploy,
// rollback, scale), changes limits or adds a domain, so the API, the CLI
// (a REST client) and later webhooks and the catalog all pass through it.
// The decisions are pure (auth/quotas.hpp, auth/container_policy.hpp); this
// class gathers an org's use from the store. Callers run it inside the
// request's transaction, so a refusal leaves nothing half-applied.
// Single-threaded: the server's service thread.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "apps/spec.hpp"
#include "auth/container_policy.hpp"
#include "auth/quotas.hpp"
#include "common/clock.hpp"
#include "common/result.hpp"
#include "server/server_config.hpp"
#include "store/store.hpp"

namespace berth::server {

struct OrgLimitsView {
  auth::Quotas quotas;
  auth::ContainerPolicy policy;
};

class Admission {
 public:
  Admission(store::Store& store, const ServerConfig& config, Clock clock)
      : store_(store), config_(config), clock_(std::move(clock)) {}

  Result<OrgLimitsView> limits(const std::string& org);
  // What the org holds now: apps, deployments started in the last hour, the
  // cpu/memory/disk its apps' newest deployments claim, custom domains.
  Result<auth::Usage> usage(const std::string& org);

  Result<void> admitApp(const std::string& org);
  // A deployment of `app` with `spec`: container policy, then quotas (the
  // app's newest deployment's claim is given back). `new_deployment` false
  // (a live limits change) does not count towards deployments per hour.
  Result<void> admitDeployment(const store::App& app, const apps::DeploymentSpec& spec, bool new_deployment = true);
  // Container policy only: starting or restarting the deployment that is
  // current (its quotas were counted when it was deployed, but a capability or
  // root may have been withdrawn since).
  Result<void> admitStart(const store::App& app, const apps::DeploymentSpec& spec);
  Result<void> admitDomain(const std::string& org);
  // For builds (not yet on main): `running` is how many of the org's builds run now.
  Result<void> admitBuild(const std::string& org, std::int64_t running);
  // Counts an admitted deployment towards deployments per hour.
  Result<void> recordDeployment(const std::string& org);

  // {quotas, usage, policy} as GET /orgs/{org}/limits answers.
  Result<nlohmann::json> describe(const std::string& org);
  // A platform admin's change (merge semantics; null clears a quota).
  Result<nlohmann::json> setQuotas(const std::string& org, const nlohmann::json& body);
  Result<nlohmann::json> setPolicy(const std::string& org, const nlohmann::json& body);

 private:
  Result<store::OrgLimits> stored(const std::string& org);

  store::Store& store_;
  const ServerConfig& config_;
  Clock clock_;
};

// What one deployment spec claims: limits x replicas.
auth::Usage claimOf(const apps::DeploymentSpec& spec);

}  // namespace berth::server
