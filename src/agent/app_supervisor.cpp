#include "agent/app_supervisor.hpp"

#include "apps/app_key.hpp"
#include "agent/app_supervisor_internal.hpp"
#include "common/json.hpp"

#include "common/logging.hpp"
#include "pki/sealed_file.hpp"

namespace berth::agent {
using namespace supervisor_internal;

bool adoptable(const std::map<std::string, std::string>& labels, const std::string& wanted_id, bool image_matches) {
  auto it = labels.find(kDeploymentId);
  if (it != labels.end()) return !wanted_id.empty() && it->second == wanted_id;
  return wanted_id.empty() && image_matches;
}

std::string containerName(const std::string& app, int deployment, int replica) {
  return "berth-" + app + "-d" + std::to_string(deployment) + "-" + std::to_string(replica);
}

std::string volumeName(const std::string& app, const std::string& volume) {
  // The default org keeps today's "berth-<app>-<volume>". Those names are not
  // unique ("my" + "app.acme-data" and "my-app.acme" + "data" give one name),
  // so another org's key ("<app>.<org>", no '_' in it) is set apart by a prefix
  // no default name has and ends at the first '_': "berth.web.acme_data".
  if (app.find('.') == std::string::npos) return "berth-" + app + "-" + volume;
  return "berth." + app + "_" + volume;
}

AppSupervisor::AppSupervisor(runtime::ContainerRuntime& runtime, SupervisorOptions options, AppEventSink events)
    : runtime_(runtime),
      options_(std::move(options)),
      events_(std::move(events)),
      image_access_(options_.state_dir.empty() ? "" : options_.state_dir + "/image_access.json") {}

Result<void> AppSupervisor::load() {
  if (auto r = image_access_.load(); !r) return r.error();
  // Pulls with credentials an agent killed mid-deploy left unrecorded: what they brought is
  // restricted to their org (fail closed: whether the bytes were new is not known any more).
  for (const auto& [reference, org] : image_access_.pullsUnderWay()) {
    auto present = runtime_.inspectImage(reference);
    if (!present) return present.error();
    if (*present) {
      if (auto r = image_access_.recordPull((*present)->id, org, true, true); !r) return r.error();
    }
    if (auto r = image_access_.endPull(reference, org); !r) return r.error();
  }
  // Before any build: what a build killed with the agent left (its checkout and deploy key).
  if (const int left = SourceBuilder::removeLeftoverBuilds(options_.state_dir); left > 0)
    log::info("removed what interrupted source builds left", {{"directories", left}});
  const std::string path = options_.state_dir + "/apps.sealed";
  auto text = pki::readFile(path);
  if (!text) {  // first start: nothing desired yet
    if (image_access_.kept()) return Ok{};
    return image_access_.keep();
  }
  auto plain = pki::unseal(*text, options_.sealing_key);
  if (!plain) return plain.error();
  auto j = parseJsonOrDiscarded(*plain);
  if (!j.is_array()) return makeError("bad_state", path + " is not a JSON array");
  for (const auto& a : j) {
    AppRecord r;
    r.app = a.value("app", std::string());
    r.deployment = a.value("deployment", 0);
    r.deployment_id = a.value("deployment_id", std::string());
    r.spec = a.value("spec", nlohmann::json::object());
    r.image = a.value("image", std::string());
    r.running = a.value("running", true);
    r.keep = a.value("keep", 3);
    for (const auto& h : a.value("history", nlohmann::json::array()))
      r.history.push_back({h.value("deployment", 0), h.value("image", std::string()), h.value("pulled", false),
                           h.value("reference", std::string())});
    r.routing = a.value("routing", nlohmann::json::object());
    for (const auto& x : a.value("retiring", nlohmann::json::array()))
      r.retiring.push_back({x.value("id", std::string()), x.value("deployment", 0), x.value("stop_at", std::int64_t{0}),
                            x.value("remove_at", std::int64_t{0}), x.value("stopped", false)});
    if (const auto w = a.value("watch", nlohmann::json()); w.is_object()) {
      const auto p = w.value("previous", nlohmann::json::object());
      r.watch = Watch{{p.value("deployment", 0), p.value("deployment_id", std::string()),
                       p.value("spec", nlohmann::json::object()), p.value("image", std::string())},
                      w.value("until", std::int64_t{0}), 0, 0, ""};
    }
    std::lock_guard lock(mutex_);
    if (!r.app.empty()) apps_[r.app] = std::move(r);
  }
  log::info("app desired state loaded", {{"apps", appNames().size()}});
  if (!image_access_.kept()) {
    // Not kept yet: tried again at the next start (dockerd may be briefly unreachable now).
    if (auto r = recordEarlierPulls(); !r)
      log::warn("images pulled with credentials before the image access record are not restricted yet",
                {{"error", r.error().message}});
  }
  return Ok{};
}

Result<void> AppSupervisor::recordEarlierPulls() {
  // Agents from before the record pulled private images without noting who may run them: the
  // images this node's apps pulled with credentials go to those apps' orgs, once. An image that
  // was open before such a pull is closed too (fail closed: other orgs then ask the registry).
  std::vector<std::pair<std::string, std::string>> pulled;  // reference, org
  {
    std::lock_guard lock(mutex_);
    for (const auto& [name, r] : apps_) {
      if (!r.spec.is_object() || !r.spec.contains("registry_auth")) continue;
      for (const auto& h : r.history)
        if (h.pulled) pulled.emplace_back(h.image, apps::splitAppKey(name).org);
    }
  }
  for (const auto& [reference, org] : pulled) {
    auto present = runtime_.inspectImage(reference);
    if (!present) return present.error();
    if (!*present) continue;
    if (auto r = image_access_.recordPull((*present)->id, org, true, true); !r) return r.error();
  }
  if (!pulled.empty()) log::info("images pulled with credentials before this agent kept a record", {{"images", pulled.size()}});
  return image_access_.keep();
}

std::optional<AppSupervisor::AppRecord> AppSupervisor::record(const std::string& app) const {
  std::lock_guard lock(mutex_);
  auto it = apps_.find(app);
  return it == apps_.end() ? std::nullopt : std::optional<AppRecord>(it->second);
}

Result<void> AppSupervisor::put(const std::string& app, const std::optional<AppRecord>& record) {
  std::lock_guard lock(mutex_);
  if (record) apps_[app] = *record;
  else apps_.erase(app);
  return saveLocked();
}

std::mutex& AppSupervisor::repositoryLock(const std::string& repository) {
  std::lock_guard lock(mutex_);
  auto& slot = repository_locks_[repository];
  if (!slot) slot = std::make_unique<std::mutex>();
  return *slot;
}

Result<std::pair<AppSupervisor::AppRecord, apps::DeploymentSpec>> AppSupervisor::current(const std::string& app) const {
  auto found = record(app);
  if (!found) return makeError("not_found", "app " + app + " has no deployment on this node");
  auto spec = apps::parseDeploymentSpec(found->spec);
  if (!spec) return spec.error();
  return std::pair{std::move(*found), std::move(*spec)};
}

std::vector<std::string> AppSupervisor::appNames() const {
  std::lock_guard lock(mutex_);
  std::vector<std::string> out;
  for (const auto& [name, r] : apps_) out.push_back(name);
  return out;
}

Result<void> AppSupervisor::saveLocked() {
  nlohmann::json j = nlohmann::json::array();
  for (const auto& [name, r] : apps_) {
    nlohmann::json history = nlohmann::json::array();
    for (const auto& h : r.history) history.push_back({{"deployment", h.deployment}, {"image", h.image}, {"pulled", h.pulled}, {"reference", h.reference}});
    nlohmann::json retiring = nlohmann::json::array();
    for (const auto& x : r.retiring)
      retiring.push_back({{"id", x.id}, {"deployment", x.deployment}, {"stop_at", x.stop_at},
                          {"remove_at", x.remove_at}, {"stopped", x.stopped}});
    nlohmann::json watch;
    if (r.watch)
      watch = {{"previous", {{"deployment", r.watch->previous.deployment},
                             {"deployment_id", r.watch->previous.deployment_id},
                             {"spec", r.watch->previous.spec},
                             {"image", r.watch->previous.image}}},
               {"until", r.watch->until}};
    j.push_back({{"app", r.app},
                 {"deployment", r.deployment},
                 {"deployment_id", r.deployment_id},
                 {"spec", r.spec},
                 {"image", r.image},
                 {"running", r.running},
                 {"keep", r.keep},
                 {"history", history},
                 {"routing", r.routing},
                 {"retiring", retiring},
                 {"watch", watch}});
  }
  return pki::writePrivateFile(options_.state_dir + "/apps.sealed", pki::seal(j.dump(), options_.sealing_key));
}

void AppSupervisor::emit(const std::string& app, int deployment, const std::string& state, const std::string& reason,
                         const nlohmann::json& extra) {
  if (state != "pull_progress")  // several a second while a pull runs: not for the agent's log
    log::info("app event", {{"app", app}, {"deployment", deployment}, {"state", state}, {"reason", reason}});
  nlohmann::json event = {{"app", app}, {"deployment", deployment}, {"state", state}, {"reason", reason}};
  if (extra.is_object()) event.update(extra);
  if (events_) events_(event);
}

void AppSupervisor::markUnreachable(const std::string& app, int deployment, const Error& error) {
  {
    std::lock_guard lock(mutex_);
    if (!unreachable_.insert(app).second) return;  // said once for this outage
  }
  emit(app, deployment, "runtime_unreachable",
       "runtime unreachable (" + error.message + "); the agent retries quietly and looks again when it is back");
}

bool AppSupervisor::isCurrent(const runtime::ContainerInfo& c, const AppRecord& record) {
  if (labelInt(c, kDeployment) != record.deployment) return false;
  if (c.labels.count(kDeploymentId)) return adoptable(c.labels, record.deployment_id, false);
  if (!record.deployment_id.empty()) return false;
  // From before deployment ids: the same image as the deployment pinned, or it is not ours.
  bool sameImage = c.image_id == record.image;
  if (!sameImage && !record.image.empty()) {
    auto image = runtime_.inspectImage(record.image);
    sameImage = image && *image && (*image)->id == c.image_id;
  }
  return sameImage;
}

VerbOutcome AppSupervisor::handle(const std::string& verb, const nlohmann::json& args) {
  const std::string app = appArg(args);
  if (app.empty()) return fail("invalid_argument", "field 'args.app': is required");
  if (auto r = apps::validateAppKey("args.app", app); !r) return fail(r.error());
  {
    std::lock_guard lock(mutex_);
    active_.insert(app);
  }
  struct Done {
    AppSupervisor& self;
    std::string app;
    ~Done() {
      std::lock_guard lock(self.mutex_);
      self.active_.erase(app);
    }
  } done{*this, app};
  if (verb == "app.deploy") return deploy(args);
  if (verb == "app.start") return setRunning(app, true, false);
  if (verb == "app.stop") return setRunning(app, false, false);
  if (verb == "app.restart") return setRunning(app, true, true);
  if (verb == "app.delete") {
    // Every volume any deployment declared (the server knows them all).
    std::vector<std::string> declared;
    if (auto list = args.find("volume_names"); list != args.end() && list->is_array()) {
      for (const auto& item : *list) {
        if (!item.is_string()) return fail("invalid_args", "field 'args.volume_names': must be an array of strings");
        const std::string name = item.get<std::string>();
        if (auto r = apps::validateVolumeName("args.volume_names", name); !r) return fail(r.error());
        declared.push_back(name);
      }
    }
    return remove(app, args.value("volumes", false), declared);
  }
  if (verb == "app.limits") return limits(app, args.value("limits", nlohmann::json::object()));
  if (verb == "app.status") return status(app);
  if (verb == "app.routes") return setRouting(app, args.value("routing", nlohmann::json::object()));
  return fail("verb_not_allowed", "unknown app verb " + verb);
}

Result<std::vector<runtime::ContainerInfo>> AppSupervisor::containersOf(const std::string& app) {
  std::vector<runtime::ContainerInfo> out;
  auto ids = runtime_.list({{kApp, app}, {kNode, options_.node_id}});
  if (!ids) return ids.error();  // unknown is not "none": callers must not act as if they were removed
  for (const auto& id : *ids) {
    auto info = runtime_.inspect(id);
    if (!info) return info.error();
    if (*info) out.push_back(**info);
  }
  return out;
}

void AppSupervisor::runDeferred(const std::string& app) {
  std::vector<std::function<void()>> tasks;
  {
    std::lock_guard lock(mutex_);
    auto it = deferred_.find(app);
    if (it == deferred_.end()) return;
    tasks = std::move(it->second);
    deferred_.erase(it);
  }
  for (auto& task : tasks) task();
}

void AppSupervisor::pruneImages(const std::string& app) {
  std::vector<History> dropped;
  {
    std::lock_guard lock(mutex_);
    auto it = apps_.find(app);
    if (it == apps_.end()) return;
    auto& history = it->second.history;
    while (static_cast<int>(history.size()) > it->second.keep + 1) {
      dropped.push_back(history.front());
      history.erase(history.begin());
    }
    if (dropped.empty()) return;
    if (auto saved = saveLocked(); !saved) log::error("app state not saved", {{"error", saved.error().message}});
  }
  for (const auto& h : dropped) releaseImage(h);
}

void AppSupervisor::releaseImage(const History& dropped) {
  if (!dropped.pulled) return;
  {
    std::lock_guard lock(mutex_);
    for (const auto& [name, other] : apps_) {
      for (const auto& h : other.history) {
        if (h.image == dropped.image) return;
      }
    }
  }
  auto removed = runtime_.removeImage(dropped.image);
  if (removed && !dropped.reference.empty()) removed = runtime_.removeImage(dropped.reference);
  log::info("image cleanup", {{"deployment", dropped.deployment}, {"image", dropped.image}, {"removed", removed.ok()}});
}

std::optional<std::vector<RunningContainer>> AppSupervisor::runningContainers() {
  std::vector<RunningContainer> out;
  for (const auto& app : appNames()) {
    auto all = containersOf(app);
    if (!all) return std::nullopt;
    for (const auto& c : *all) {
      if (c.state == "running") out.push_back({c.id, app, labelInt(c, kDeployment), labelInt(c, kReplica)});
    }
  }
  return out;
}

nlohmann::json AppSupervisor::containerStats(const std::vector<RunningContainer>& running) {
  nlohmann::json out = nlohmann::json::array();
  std::map<std::string, runtime::ContainerStats> seen;
  for (const auto& c : running) {
    auto s = runtime_.stats(c.id);
    std::optional<runtime::ContainerStats> previous;
    {
      std::lock_guard lock(mutex_);
      if (auto it = last_stats_.find(c.id); it != last_stats_.end()) previous = it->second;
    }
    if (!s) {
      // A slow or failed stats call does not make a running container vanish
      // from what the node reports (app show lists it): last figures, or none.
      if (previous) s = *previous;
      else {
        out.push_back({{"app", c.app}, {"deployment", c.deployment}, {"replica", c.replica}, {"stats", "unavailable"}});
        continue;
      }
    } else if (previous) {
      const auto used = s->cpu_total_ns - previous->cpu_total_ns;
      const auto host = s->system_total_ns - previous->system_total_ns;
      if (used >= 0 && host > 0) s->cpu_percent = 100.0 * static_cast<double>(used) / static_cast<double>(host) * s->online_cpus;
    }
    seen[c.id] = *s;
    out.push_back({{"app", c.app},
                   {"deployment", c.deployment},
                   {"replica", c.replica},
                   {"cpu_percent", s->cpu_percent},
                   {"memory_bytes", s->memory_bytes},
                   {"net_rx_bytes", s->net_rx_bytes},
                   {"net_tx_bytes", s->net_tx_bytes},
                   {"block_read_bytes", s->block_read_bytes},
                   {"block_write_bytes", s->block_write_bytes}});
  }
  std::lock_guard lock(mutex_);
  last_stats_ = std::move(seen);
  return out;
}

}  // namespace berth::agent
