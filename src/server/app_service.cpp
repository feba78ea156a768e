#include "server/app_service.hpp"

#include "apps/app_key.hpp"

#include "common/clock.hpp"
#include "common/json.hpp"

#include <boost/asio/post.hpp>

#include "common/ids.hpp"
#include "common/logging.hpp"
#include "pki/sealed_file.hpp"
#include "server/audit_log.hpp"

namespace berth::server {
namespace asio = boost::asio;
namespace {

constexpr int kAppCommandTtlS = 3600;  // an app command waits up to an hour for an offline node

}  // namespace

nlohmann::json deploymentJson(const store::Deployment& d) {
  return {{"app", d.app},         {"number", d.number},         {"spec", d.spec},
          {"image", d.image},     {"state", deploymentStateName(d.state)},           {"reason", d.reason},
          {"command_id", d.command_id}, {"source", d.source},   {"created_at", d.created_at},
          {"updated_at", d.updated_at}, {"secrets_sealed", !d.sealed_secrets.empty()},
          {"deployment_id", d.deployment_id}, {"source_ref", d.source_ref}, {"commit", d.source_commit},
          {"built_image", d.built_image}, {"build_plan", d.build_plan}};
}

AppService::AppService(store::Store& store, CommandService& commands, Metrics& metrics, Clock clock,
                       const ServerConfig& config, std::string secrets_key, asio::any_io_executor executor)
    : store_(store),
      commands_(commands),
      metrics_(metrics),
      clock_(std::move(clock)),
      config_(config),
      secrets_key_(std::move(secrets_key)),
      executor_(executor) {}

Result<store::App> AppService::findApp(const std::string& name) {
  // Words name the app as its org knows it: never another org's key.
  const auto shown = apps::splitAppKey(name).name;
  if (auto r = apps::validateAppKey("name", name); !r) return makeError("not_found", "no app named " + shown);
  auto app = store_.getApp(name);
  if (!app) return app.error();
  if (!*app || (*app)->org != apps::splitAppKey(name).org) return makeError("not_found", "no app named " + shown);
  return **app;
}

Result<store::App> AppService::create(const std::string& org, const nlohmann::json& b) {
  if (!b.is_object()) return invalidField("body", "must be a JSON object");
  if (!b.contains("name") || !b["name"].is_string()) return invalidField("name", "is required");
  const std::string name = b["name"];
  if (auto r = apps::validateAppName("name", name); !r) return r.error();
  store::App app;
  app.org = org.empty() ? apps::kDefaultOrg : org;
  app.name = apps::appKey(app.org, name);
  auto existing = store_.getApp(app.name);
  if (!existing) return existing.error();
  if (*existing) return makeError("conflict", "field 'name': an app named " + name + " exists");
  if (b.contains("node") && !b["node"].is_null()) {
    if (!b["node"].is_string()) return invalidField("node", "must be a node id");
    auto node = store_.getNode(b["node"]);
    if (!node) return node.error();
    // Another org's node reads as a missing one.
    if (!*node || !nodeServes(**node, app.org)) return invalidField("node", "no node " + b["node"].get<std::string>());
    app.node_id = b["node"];
  }
  if (b.contains("labels")) {
    if (!b["labels"].is_object()) return invalidField("labels", "must be an object of strings");
    for (const auto& [k, v] : b["labels"].items()) {
      if (!v.is_string()) return invalidField("labels." + k, "must be a string");
    }
    app.selector = b["labels"];
  }
  app.keep = config_.deployments_kept;
  if (b.contains("keep")) {
    if (!b["keep"].is_number_integer() || b["keep"] < 1 || b["keep"] > 100) return invalidField("keep", "must be 1-100");
    app.keep = b["keep"];
  }
  if (auto r = admission_.admitApp(app.org); !r) return r.error();
  app.created_at = app.updated_at = clock_();
  ledger_.touch(app.name);
  if (auto r = store_.upsertApp(app); !r) return r.error();
  event(app.name, 0, "created", app.node_id.empty() ? "" : "on node " + app.node_id);
  return app;
}

bool nodeServes(const store::Node& node, const std::string& org) { return node.org.empty() || node.org == org; }

Result<std::string> AppService::submit(const store::App& app, const std::string& verb, nlohmann::json args) {
  SubmitRequest request;
  request.node_id = app.node_id;
  request.internal = true;
  request.body = {{"verb", verb}, {"args", std::move(args)}, {"ttl_s", kAppCommandTtlS}};
  auto outcome = commands_.submit(request);
  if (!outcome) return outcome.error();
  return outcome->command.id;
}

Result<AppCall> AppService::startDeployment(store::App app, nlohmann::json specBody, const std::string& sealed,
                                            const std::string& pinned, const std::string& source,
                                            const std::string& commit) {
  // A new build takes the app's stored plan override; a rollback or scale keeps its own spec.
  if (pinned.empty()) {
    if (auto r = fillSourceDefaults(app.name, specBody); !r) return r.error();
  }
  auto spec = apps::parseDeploymentSpec(specBody);
  if (!spec) return spec.error();
  // Checked here, not only at deploy: a rollback or scale re-runs an older spec
  // under today's settings, the org's container policy and its quotas.
  if (auto r = admission_.admitDeployment(app, *spec); !r) return r.error();
  if (spec->source && pinned.empty()) {  // a build: the org's builds_running quota
    auto running = runningBuilds(app.org);
    if (!running) return running.error();
    if (auto r = admission_.admitBuild(app.org, *running); !r) return r.error();
  }
  // A routed app with a version running updates without downtime: both versions must fit.
  std::optional<apps::Claim> overlapping;
  bool downtime = false;
  auto routing = routingArgs(app);
  if (!routing) return routing.error();
  const bool routed = !(*routing)["domains"].empty() || !config_.base_domain.empty();
  if (routed && spec->port && !spec->publish && app.current_deployment > 0 && app.desired == AppDesired::Running &&
      !app.node_id.empty()) {
    auto running = store_.getDeployment(app.name, app.current_deployment);
    if (!running) return running.error();
    if (*running) {
      if (auto old = apps::parseDeploymentSpec((*running)->spec)) {
        overlapping = apps::claimOf(app.name + "#previous", *old);  // another name: counted, not replaced
      }
    }
  }
  auto node = placeApp(app, *spec, overlapping);
  if (!node && overlapping && node.error().code == "over_capacity") {
    if (!spec->allow_downtime)
      return makeError("over_capacity", node.error().message +
                                            " (during a zero-downtime update the old and the new version run together;"
                                            " allow_downtime / --allow-downtime stops the old one first)");
    downtime = true;
    node = placeApp(app, *spec, std::nullopt);
  }
  if (!node) return node.error();
  app.node_id = *node;
  store::Deployment d;
  d.app = app.name;
  d.number = app.next_deployment++;
  d.spec = specBody;
  d.sealed_secrets = sealed;
  d.image = pinned;
  d.source = source;
  d.created_at = d.updated_at = clock_();
  d.deployment_id = "dep_" + randomHex(12);
  if (spec->source) {
    d.source_ref = spec->source->ref;
    d.source_commit = commit;  // else the agent reports the commit the ref resolved to
  }
  nlohmann::json args = {{"app", app.name},
                         {"deployment", d.number},
                         {"deployment_id", d.deployment_id},
                         {"spec", specBody},
                         {"keep", app.keep}};
  if (!pinned.empty()) args["image"] = pinned;
  if (!sealed.empty()) args["sealed"] = sealed;
  if (spec->source) {
    if (!commit.empty()) args["commit"] = commit;
    auto credentials = sealedSourceCredentials(app.name);
    if (!credentials) return credentials.error();
    if (!credentials->empty()) args["sealed_source"] = *credentials;
  }
  args["routing"] = *routing;
  if (downtime) args["downtime"] = true;
  auto certificates = sealedCertificates(app);
  if (!certificates) return certificates.error();
  if (!certificates->empty()) args["sealed_certificates"] = *certificates;
  auto id = submit(app, "app.deploy", args);
  if (!id) return id.error();
  if (auto r = admission_.recordDeployment(app.org); !r) return r.error();
  d.command_id = *id;
  app.desired = AppDesired::Running;
  app.updated_at = d.created_at;
  ledger_.touch(d.app);
  if (auto r = store_.upsertDeployment(d); !r) return r.error();
  ledger_.touch(app.name);
  if (auto r = store_.upsertApp(app); !r) return r.error();
  event(app.name, d.number, "pending", source);
  return AppCall{"app.deploy", app, d.number, *id};
}

Result<AppCall> AppService::deploy(const std::string& name, const nlohmann::json& body) {
  auto app = findApp(name);
  if (!app) return app.error();
  if (app->desired == AppDesired::Deleting) return makeError("conflict", "app " + name + " is being deleted");
  auto spec = apps::parseDeploymentSpec(body);  // refuse bad input before anything is stored
  if (!spec) return spec.error();
  nlohmann::json specBody = body;
  nlohmann::json secret = nlohmann::json::object();
  for (const char* key : {"secrets", "registry_auth"}) {
    if (specBody.contains(key)) {
      secret[key] = specBody[key];
      specBody.erase(key);
    }
  }
  const std::string sealed = secret.empty() ? "" : pki::seal(secret.dump(), secrets_key_);
  return startDeployment(*app, specBody, sealed, "", "deploy");
}

Result<AppCall> AppService::rollback(const std::string& name, int to) {
  auto app = findApp(name);
  if (!app) return app.error();
  auto all = store_.listDeployments(name);
  if (!all) return all.error();
  const store::Deployment* target = nullptr;
  for (const auto& d : *all) {  // newest first
    if (to > 0 ? d.number == to
               : d.number < app->current_deployment && ranHealthy(d.state) &&
                     !d.image.empty()) {
      target = &d;
      break;
    }
  }
  if (!target) {
    return to > 0 ? invalidField("to", "app " + name + " has no deployment " + std::to_string(to))
                  : makeError("not_found", "app " + name + " has no earlier healthy deployment to roll back to");
  }
  if (target->image.empty())
    return invalidField("to", "deployment " + std::to_string(target->number) + " never resolved an image (it failed to pull)");
  return startDeployment(*app, target->spec, target->sealed_secrets, target->image,
                         "rollback to " + std::to_string(target->number), target->source_commit);
}

Result<AppCall> AppService::scale(const std::string& name, int replicas) {
  if (replicas < 0 || replicas > 100) return invalidField("replicas", "must be between 0 and 100");
  auto app = findApp(name);
  if (!app) return app.error();
  auto current = store_.getDeployment(name, app->current_deployment);
  if (!current) return current.error();
  if (!*current) return makeError("conflict", "app " + name + " has no running deployment to scale");
  nlohmann::json spec = (*current)->spec;
  spec["replicas"] = replicas;
  return startDeployment(*app, spec, (*current)->sealed_secrets, (*current)->image,
                         "scale to " + std::to_string(replicas), (*current)->source_commit);
}

Result<AppCall> AppService::lifecycle(const std::string& name, const std::string& verb) {
  auto app = findApp(name);
  if (!app) return app.error();
  if (app->current_deployment == 0 || app->node_id.empty())
    return makeError("conflict", "app " + name + " has no healthy deployment yet; deploy first");
  if (verb != "app.stop") {
    // What runs again must still pass the org's container policy.
    auto current = store_.getDeployment(name, app->current_deployment);
    if (!current) return current.error();
    if (*current) {
      auto spec = apps::parseDeploymentSpec((*current)->spec);
      if (!spec) return spec.error();
      if (auto r = admission_.admitStart(*app, *spec); !r) return r.error();
    }
  }
  auto id = submit(*app, verb, {{"app", name}});
  if (!id) return id.error();
  app->desired = verb == "app.stop" ? AppDesired::Stopped : AppDesired::Running;
  app->updated_at = clock_();
  ledger_.touch(app->name);
  if (auto r = store_.upsertApp(*app); !r) return r.error();
  return AppCall{verb, *app, app->current_deployment, *id};
}

Result<AppCall> AppService::remove(const std::string& name, bool volumes, bool force) {
  auto app = findApp(name);
  if (!app) return app.error();
  pull_reports_.erase(name);
  if (app->node_id.empty()) {  // never placed: nothing runs anywhere
    ledger_.touch(name);
    if (auto r = store_.deleteApp(name); !r) return r.error();
    return AppCall{"app.delete", *app, 0, ""};
  }
  nlohmann::json args = {{"app", name}, {"volumes", volumes}};
  if (volumes) {  // every named volume any deployment declared, not only the current one's
    auto all = store_.listDeployments(name);
    if (!all) return all.error();
    std::set<std::string> names;
    for (const auto& d : *all) {
      const auto declared = d.spec.value("volumes", nlohmann::json::object());
      if (!declared.is_object()) continue;
      for (const auto& [volume, path] : declared.items()) names.insert(volume);
    }
    args["volume_names"] = names;
  }
  auto id = submit(*app, "app.delete", args);
  if (force) {
    if (!id) log::warn("app forgotten without telling its node", {{"app", name}, {"error", id.error().message}});
    ledger_.touch(name);
    if (auto r = store_.deleteApp(name); !r) return r.error();
    event(name, app->current_deployment, "forgotten", "deleted with --force");
    return AppCall{"app.delete", *app, app->current_deployment, id ? *id : ""};
  }
  if (!id) return id.error();
  app->desired = AppDesired::Deleting;
  app->updated_at = clock_();
  ledger_.touch(app->name);
  if (auto r = store_.upsertApp(*app); !r) return r.error();
  return AppCall{"app.delete", *app, app->current_deployment, *id};
}

Result<AppCall> AppService::setLimits(const std::string& name, const nlohmann::json& limits) {
  auto app = findApp(name);
  if (!app) return app.error();
  if (!limits.is_object() || limits.empty()) return invalidField("limits", "must be an object with at least one limit");
  auto current = store_.getDeployment(name, app->current_deployment);
  if (!current) return current.error();
  if (!*current) return makeError("conflict", "app " + name + " has no running deployment");
  nlohmann::json merged = (*current)->spec.value("limits", nlohmann::json::object());
  for (const auto& [k, v] : limits.items()) merged[k] = v;
  nlohmann::json spec = (*current)->spec;
  spec["limits"] = merged;
  auto parsed = apps::parseDeploymentSpec(spec);
  if (!parsed) return parsed.error();
  if (parsed->limits.disk_bytes != apps::parseDeploymentSpec((*current)->spec)->limits.disk_bytes)
    return invalidField("limits.disk", "cannot change on a running container; deploy again");
  if (auto r = admission_.admitDeployment(*app, *parsed, false); !r) return r.error();
  if (auto r = placeApp(*app, *parsed, std::nullopt); !r) return r.error();  // its node, with the new claim
  auto id = submit(*app, "app.limits", {{"app", name}, {"limits", merged}});
  if (!id) return id.error();
  return AppCall{"app.limits", *app, app->current_deployment, *id};
}

Result<nlohmann::json> AppService::show(const std::string& name) {
  auto app = findApp(name);
  if (!app) return app.error();
  auto deployments = store_.listDeployments(name);
  if (!deployments) return deployments.error();
  nlohmann::json list = nlohmann::json::array();
  nlohmann::json current;
  for (const auto& d : *deployments) {
    list.push_back(deploymentJson(d));
    if (d.number == app->current_deployment) current = deploymentJson(d);
  }
  auto domains = this->domains(name);
  if (!domains) return domains.error();
  // What runs now, as the node's latest telemetry reported it.
  nlohmann::json running = nlohmann::json::array();
  nlohmann::json routes = nullptr;
  std::int64_t reportedAt = 0;
  if (!app->node_id.empty()) {
    if (auto samples = store_.telemetryHistory(app->node_id, 1); samples && !samples->empty()) {
      reportedAt = samples->front().at;
      for (const auto& c : samples->front().data.value("containers", nlohmann::json::array())) {
        if (c.value("app", std::string()) == name) running.push_back(c);
      }
      routes = servedRoutes(samples->front().data, name);
    }
  }
  return nlohmann::json{{"name", apps::splitAppKey(app->name).name},
                        {"org", app->org},
                        {"containers", running},
                        {"containers_reported_at", reportedAt},
                        {"node_id", app->node_id},
                        {"labels", app->selector},
                        {"desired", appDesiredName(app->desired)},
                        {"current_deployment", app->current_deployment},
                        {"keep", app->keep},
                        {"created_at", app->created_at},
                        {"updated_at", app->updated_at},
                        {"current", current},
                        {"commit", current.is_object() ? current.value("commit", std::string()) : ""},
                        {"domains", *domains},
                        {"routes", routes},
                        {"deployments", list}};
}

Result<nlohmann::json> AppService::list(const std::string& org) {
  auto apps = store_.listOrgApps(org.empty() ? apps::kDefaultOrg : org);
  if (!apps) return apps.error();
  nlohmann::json out = nlohmann::json::array();
  for (const auto& a : *apps) {
    std::string state = "new", image;
    if (a.current_deployment > 0) {
      if (auto d = store_.getDeployment(a.name, a.current_deployment); d && *d) {
        state = deploymentStateName((*d)->state);
        image = (*d)->spec.value("image", std::string());
      }
    }
    out.push_back({{"name", apps::splitAppKey(a.name).name},
                   {"node_id", a.node_id},
                   {"desired", appDesiredName(a.desired)},
                   {"current_deployment", a.current_deployment},
                   {"state", state},
                   {"image", image}});
  }
  return out;
}

Result<nlohmann::json> AppService::deployment(const std::string& name, int number) {
  auto d = store_.getDeployment(name, number);
  if (!d) return d.error();
  if (!*d) return makeError("not_found", "app " + name + " has no deployment " + std::to_string(number));
  auto out = deploymentJson(**d);
  if (auto r = pull_reports_.find(name); r != pull_reports_.end() && r->second.deployment == number) {
    out["pull_progress"] = r->second.progress;
    out["pull_progress"]["at"] = r->second.at;
  }
  return out;
}

Result<nlohmann::json> AppService::events(const std::string& name, std::size_t limit) {
  if (auto app = findApp(name); !app) return app.error();
  auto events = store_.listAppEvents(name, limit);
  if (!events) return events.error();
  nlohmann::json out = nlohmann::json::array();
  for (const auto& e : *events) {
    out.push_back({{"id", e.id}, {"deployment", e.deployment}, {"at", e.at}, {"state", e.state}, {"reason", e.reason}});
  }
  return out;
}

void AppService::event(const std::string& app, int deployment, const std::string& state, const std::string& reason) {
  if (auto r = store_.appendAppEvent({0, app, deployment, clock_(), state, reason}); !r)
    log::error("app event not stored", {{"app", app}, {"error", r.error().message}});
  else
    ++metrics_.app_events_total;
}

Result<void> AppService::auditAgentEvent(const store::App& app, const std::string& actor, const std::string& action,
                                         const std::string& outcome, const std::string& detail) {
  store::AuditRecord record;
  record.at = clock_();
  record.actor = actor;
  record.org = app.org;
  record.action = action;
  record.target = app.name;
  record.outcome = outcome;
  record.detail = detail;
  auto appended = appendAudit(store_, std::move(record));
  if (!appended) return appended.error();
  return Ok{};
}

void AppService::setDeploymentState(const std::string& app, int number, DeploymentState state,
                                    const std::string& reason, const std::string& image) {
  auto d = store_.getDeployment(app, number);
  if (!d || !*d) return;
  auto updated = **d;
  updated.state = state;
  updated.reason = reason;
  if (!image.empty()) updated.image = image;
  updated.updated_at = clock_();
  ledger_.touch(updated.app);
  (void)store_.upsertDeployment(updated);
}

void AppService::onCommandFinished(const store::Command& c) {
  if (c.verb.rfind("app.", 0) != 0) return;
  const std::string name = c.args.value("app", std::string());
  auto found = store_.getApp(name);
  if (!found || !*found) return;
  auto app = **found;
  const bool ok = c.state == store::CommandState::Succeeded;
  const std::string reason = ok ? "" : c.error.empty() ? "command " + store::commandStateName(c.state) : c.error;
  // The app's change and its audit record commit together.
  auto apply = [&]() -> Result<void> {
    if (c.verb == "app.deploy") {
      const int number = c.args.value("deployment", 0);
      ++metrics_.deployments_finished_total[ok ? "healthy" : "failed"];
      if (auto r = recordBuildResult(app, number, c.result); !r) return r;
      if (!ok) {
        setDeploymentState(name, number, DeploymentState::Failed, reason);
        event(name, number, "failed", reason);
        return Ok{};
      }
      if (app.current_deployment > 0 && app.current_deployment != number)
        setDeploymentState(name, app.current_deployment, DeploymentState::Superseded, "replaced by " + std::to_string(number));
      const auto ran = c.result.find("image");  // the agent's word: a string or nothing
      setDeploymentState(name, number, DeploymentState::Healthy, "",
                         ran != c.result.end() && ran->is_string() ? ran->get<std::string>() : std::string());
      app.current_deployment = number;
      app.desired = AppDesired::Running;
      event(name, number, "healthy", "");
    } else if (c.verb == "app.routes") {
      event(name, app.current_deployment, ok ? "routes_changed" : "route_failed", ok ? "" : reason);
      return Ok{};
    } else if (c.verb == "app.delete") {
      if (ok) {
        ledger_.touch(name);
        return store_.deleteApp(name);
      }
      event(name, app.current_deployment, "delete_failed", reason);
      return Ok{};
    } else if (c.verb == "app.limits") {
      if (ok) {
        if (auto d = store_.getDeployment(name, app.current_deployment); d && *d) {
          auto updated = **d;
          updated.spec["limits"] = c.args.value("limits", nlohmann::json::object());
          updated.updated_at = clock_();
          ledger_.touch(updated.app);
          if (auto r = store_.upsertDeployment(updated); !r) return r;
        }
      }
      event(name, app.current_deployment, ok ? "limits_changed" : "limits_failed",
            ok ? c.args.value("limits", nlohmann::json::object()).dump() : reason);
      return Ok{};
    } else {  // start, stop, restart
      const auto state = c.verb == "app.stop" ? DeploymentState::Stopped : DeploymentState::Healthy;
      if (ok) setDeploymentState(name, app.current_deployment, state, c.verb == "app.restart" ? "restarted" : "");
      else setDeploymentState(name, app.current_deployment, DeploymentState::Failed, reason);
      event(name, app.current_deployment, deploymentStateName(ok ? state : DeploymentState::Failed),
            ok ? c.verb.substr(4) : reason);
    }
    app.updated_at = clock_();
    ledger_.touch(app.name);
    return store_.upsertApp(app);
  };
  auto result = store_.transaction([&]() -> Result<void> {
    if (auto r = apply(); !r) return r;
    const std::string actor = c.state == store::CommandState::Expired || c.error == "no RESULT within the command timeout"
                                  ? "server"
                                  : "node:" + c.node_id;
    return auditAgentEvent(app, actor, "app " + c.verb.substr(4) + (ok ? " done" : " failed"), ok ? "ok" : "failed",
                           "deployment " + std::to_string(c.args.value("deployment", app.current_deployment)) +
                               ", command " + c.id);
  });
  if (!result) log::error("app outcome not stored", {{"app", name}, {"error", result.error().message}});
  // A domain added or removed while the app's first deploy ran was not pushed (no version ran
  // yet), and that deploy carried the list from when it was submitted: the node learns it now.
  // Posted: this runs inside CommandService's completion, which a new submit must not re-enter.
  if (result && ok && c.verb == "app.deploy") {
    boost::asio::post(executor_, [this, name, number = c.args.value("deployment", 0),
                                  sent = c.args.value("routing", nlohmann::json())] {
      auto now = store_.getApp(name);
      if (!now || !*now || (*now)->current_deployment != number) return;
      auto routing = routingArgs(**now);
      if (!routing || *routing == sent) return;
      if (auto pushed = pushRoutes(**now); !pushed)
        log::error("routes not sent after a deploy", {{"app", name}, {"error", pushed.error().message}});
    });
  }
}

void AppService::onAgentFrame(const std::string& node_id, const protocol::AppFrame& frame) {
  const auto* appEvent = std::get_if<protocol::AppEventFrame>(&frame);
  const std::string name = appEvent ? appEvent->app : std::get<protocol::LogFrame>(frame).app;
  auto found = store_.getApp(name);
  if (!found || !*found || (*found)->node_id != node_id) {
    if (appEvent && appEvent->state == "unknown_container")
      log::warn("agent reports an unknown berth container", {{"node_id", node_id}, {"reason", appEvent->reason}});
    return;
  }
  if (appEvent) {
    const std::string& state = appEvent->state;
    const int number = appEvent->deployment;
    if (state == "pull_progress") {
      // The newest report replaces the one before (an older deployment's never replaces a newer's),
      // and only for a deployment the app has: a number from nowhere cannot shut out the real ones.
      if (!appEvent->progress.is_object() || number < 1 || number >= (*found)->next_deployment) return;
      auto& kept = pull_reports_[name];
      if (number < kept.deployment) return;
      kept = PullReport{number, clock_(), appEvent->progress};
      return;
    }
    if (state == "healthy" || state == "failed" || state == "stopped" || state == "deleted" ||
        state == "limits_changed")
      return;  // recorded from the command's RESULT, which carries the outcome durably
    (void)store_.transaction([&]() -> Result<void> {
      event(name, number, state, appEvent->reason);
      if (state == "rolled_back") {
        // The new version failed inside its watch window; the node serves the previous one again.
        const auto& app = **found;
        const int to = appEvent->rolled_back_to;
        auto back = to > 0 ? store_.getDeployment(name, to) : Result<std::optional<store::Deployment>>(std::nullopt);
        if (number == app.current_deployment && back && *back) {
          setDeploymentState(name, number, DeploymentState::RolledBack, appEvent->reason);
          setDeploymentState(name, to, DeploymentState::Healthy, "switched back to from " + std::to_string(number));
          auto updated = app;
          updated.current_deployment = to;
          updated.updated_at = clock_();
          ledger_.touch(updated.name);
          if (auto r = store_.upsertApp(updated); !r) return r;
          ++metrics_.deployments_finished_total["rolled_back"];
          if (auto r = auditAgentEvent(app, "node:" + node_id, "app rolled back", "ok",
                                       "deployment " + std::to_string(number) + " to " + std::to_string(to));
              !r)
            return r;
        }
      }
      if (state == "runtime_reachable") {
        // The agent looked again after an outage: what runs now is the truth, whatever a
        // command refused during the outage left recorded.
        const auto derived = parseDeploymentState(appEvent->derived);
        const auto& app = **found;
        if (number == app.current_deployment &&
            (derived == DeploymentState::Healthy || derived == DeploymentState::Stopped)) {
          auto d = store_.getDeployment(name, number);
          if (d && *d && (*d)->state != *derived) {
            setDeploymentState(name, number, *derived, "runtime reachable again");
            if (auto r = auditAgentEvent(app, "node:" + node_id, "app state from runtime", "ok",
                                         "deployment " + std::to_string(number) + " " +
                                             deploymentStateName(*derived));
                !r)
              return r;
          }
        }
      }
      const auto progress = parseDeploymentState(state);
      if (progress == DeploymentState::Pulling || progress == DeploymentState::Starting) {
        auto d = store_.getDeployment(name, number);
        if (d && *d && !isSettled((*d)->state)) setDeploymentState(name, number, *progress, "");
      }
      return Ok{};
    });
    return;
  }
  const auto& logs = std::get<protocol::LogFrame>(frame);
  std::vector<store::LogRecord> records;
  records.reserve(logs.lines.size() + 1);
  for (const auto& l : logs.lines) records.push_back({0, name, l.deployment, l.replica, l.at, l.stream, l.text});
  if (logs.dropped > 0) {
    const std::string dropped = std::to_string(logs.dropped);
    records.push_back({0, name, 0, 0, clock_(), "berth",
                       "[berth] the agent dropped " + dropped + " lines it could not ship"});
    event(name, (*found)->current_deployment, "logs_dropped", dropped + " log lines dropped");
  }
  if (records.empty()) return;
  if (auto r = store_.appendLogs(records); !r) {
    log::error("log lines not stored", {{"app", name}, {"error", r.error().message}});
    return;
  }
  metrics_.app_log_lines_total += records.size();
  auto [begin, end] = streams_.equal_range(name);
  for (auto it = begin; it != end;) {
    if (auto s = it->second.lock()) {
      s->wake();
      ++it;
    } else {
      it = streams_.erase(it);
    }
  }
}

Result<nlohmann::json> AppService::dispatchArgs(const store::Command& c) {
  nlohmann::json args = c.args;
  if ((c.verb == "app.deploy" || c.verb == "app.routes") && args.contains("sealed_certificates")) {
    auto plain = pki::unseal(args["sealed_certificates"].get<std::string>(), secrets_key_);
    if (!plain)
      return makeError("secrets_unavailable", "the uploaded certificates cannot be opened with this server's key (" +
                                                  plain.error().message + ")");
    args.erase("sealed_certificates");
    args["routing"]["certificates"] = parseJsonOrDiscarded(*plain);
  }
  if (c.verb == "app.deploy" && args.contains("sealed_source")) {
    auto plain = pki::unseal(args["sealed_source"].get<std::string>(), secrets_key_);
    if (!plain)  // never fetch without the credentials the user gave
      return makeError("secrets_unavailable", "the app's source credentials cannot be opened with this server's key (" +
                                                  plain.error().message + ")");
    args.erase("sealed_source");
    args["source_credentials"] = parseJsonOrDiscarded(*plain);
  }
  if (c.verb != "app.deploy" || !args.contains("sealed")) return args;
  auto plain = pki::unseal(args["sealed"].get<std::string>(), secrets_key_);
  if (!plain) {  // never deploy without the secrets the user gave
    return makeError("secrets_unavailable",
                     "the deployment's sealed secrets cannot be opened with this server's key (" +
                         plain.error().message + ")");
  }
  args.erase("sealed");
  auto secret = parseJsonOrDiscarded(*plain);
  if (secret.is_object()) {
    for (const auto& [k, v] : secret.items()) args["spec"][k] = v;
  }
  return args;
}

}  // namespace berth::server
