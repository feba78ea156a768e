#include "agent/app_supervisor.hpp"
#include "common/json.hpp"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <thread>

#include "agent/health_probe.hpp"
#include "agent/traffic_control.hpp"
#include "common/logging.hpp"
#include "pki/sealed_file.hpp"

namespace berth::agent {
namespace {

using SteadyClock = std::chrono::steady_clock;
constexpr const char* kManaged = "berth.managed";
constexpr const char* kApp = "berth.app";
constexpr const char* kDeployment = "berth.deployment";
constexpr const char* kDeploymentId = "berth.deployment_id";
constexpr const char* kReplica = "berth.replica";
constexpr const char* kNode = "berth.node";
// Without a health check a container counts as healthy once it has stayed up this long.
constexpr auto kSettleTime = std::chrono::milliseconds(1000);

VerbOutcome fail(const std::string& code, const std::string& message) {
  VerbOutcome out;
  out.ok = false;
  out.exit_code = 1;
  out.error_code = code;
  out.error_message = message;
  return out;
}

VerbOutcome fail(const Error& error) { return fail(error.code, error.message); }

int labelInt(const runtime::ContainerInfo& c, const char* key) {
  auto it = c.labels.find(key);
  if (it == c.labels.end()) return -1;
  try {
    return std::stoi(it->second);
  } catch (...) {
    return -1;
  }
}

std::string appArg(const nlohmann::json& args) {
  return args.is_object() && args.contains("app") && args["app"].is_string() ? args["app"].get<std::string>() : "";
}

}  // namespace

bool adoptable(const std::map<std::string, std::string>& labels, const std::string& wanted_id, bool image_matches) {
  auto it = labels.find(kDeploymentId);
  if (it != labels.end()) return !wanted_id.empty() && it->second == wanted_id;
  return wanted_id.empty() && image_matches;
}

std::string containerName(const std::string& app, int deployment, int replica) {
  return "berth-" + app + "-d" + std::to_string(deployment) + "-" + std::to_string(replica);
}

std::string volumeName(const std::string& app, const std::string& volume) { return "berth-" + app + "-" + volume; }

AppSupervisor::AppSupervisor(runtime::ContainerRuntime& runtime, SupervisorOptions options, AppEventSink events)
    : runtime_(runtime), options_(std::move(options)), events_(std::move(events)) {}

Result<void> AppSupervisor::load() {
  const std::string path = options_.state_dir + "/apps.sealed";
  auto text = pki::readFile(path);
  if (!text) return Ok{};  // first start: nothing desired yet
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
    std::lock_guard lock(mutex_);
    if (!r.app.empty()) apps_[r.app] = std::move(r);
  }
  log::info("app desired state loaded", {{"apps", appNames().size()}});
  return Ok{};
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
    j.push_back({{"app", r.app},
                 {"deployment", r.deployment},
                 {"deployment_id", r.deployment_id},
                 {"spec", r.spec},
                 {"image", r.image},
                 {"running", r.running},
                 {"keep", r.keep},
                 {"history", history}});
  }
  return pki::writePrivateFile(options_.state_dir + "/apps.sealed", pki::seal(j.dump(), options_.sealing_key));
}

void AppSupervisor::emit(const std::string& app, int deployment, const std::string& state, const std::string& reason,
                         const nlohmann::json& extra) {
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
  if (auto r = apps::validateAppName("args.app", app); !r) return fail(r.error());
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

Result<std::pair<std::string, bool>> AppSupervisor::ensureImage(const apps::DeploymentSpec& spec,
                                                                const std::string& pinned) {
  const std::string reference = pinned.empty() ? spec.image : pinned;
  auto present = runtime_.inspectImage(reference);
  if (!present) return present.error();
  const std::string before = *present ? (*present)->id : "";
  if (!*present || (pinned.empty() && spec.pullAlways())) {
    std::optional<runtime::RegistryCredentials> auth;
    if (spec.registry_auth)
      auth = runtime::RegistryCredentials{spec.registry_auth->username, spec.registry_auth->password,
                                          spec.reference.registry};
    if (auto pulled = runtime_.pull(reference, auth); !pulled) return pulled.error();
    present = runtime_.inspectImage(reference);
    if (!present) return present.error();
    if (!*present) return makeError("pull_failed", "pull " + reference + ": the image is still missing after the pull");
  }
  // Brought here by berth: the bytes were not on the node before (cleanup may remove them later).
  const bool pulled = (*present)->id != before;
  if (!pinned.empty()) return std::pair{pinned, pulled};
  // Pin what runs to exact bytes: the registry digest when there is one, else the local image id.
  const std::string repo = spec.reference.registry == "docker.io"
                               ? spec.reference.repository
                               : spec.reference.registry + "/" + spec.reference.repository;
  for (const auto& d : (*present)->repo_digests) {
    auto at = d.find('@');
    if (at == std::string::npos) continue;
    const std::string name = d.substr(0, at);
    if (name == repo || name == "docker.io/" + repo || "docker.io/" + name == repo) return std::pair{d, pulled};
  }
  return std::pair{(*present)->id, pulled};
}

runtime::ContainerSpec AppSupervisor::containerSpec(const AppRecord& record, const apps::DeploymentSpec& spec,
                                                    int replica) const {
  runtime::ContainerSpec c;
  c.name = containerName(record.app, record.deployment, replica);
  c.image = record.image;
  c.command = spec.command;
  c.env = spec.env;
  for (const auto& [k, v] : spec.secrets) c.env[k] = v;
  c.labels = {{kManaged, "1"},
              {kApp, record.app},
              {kDeployment, std::to_string(record.deployment)},
              {kReplica, std::to_string(replica)},
              {kNode, options_.node_id}};
  if (!record.deployment_id.empty()) c.labels[kDeploymentId] = record.deployment_id;
  c.add_capabilities = spec.capabilities;
  c.read_only_root = spec.read_only;
  c.user = spec.user;
  c.memory_bytes = spec.limits.memory_bytes;
  c.memory_swap_bytes = spec.limits.swap_bytes;
  c.cpu_millicores = spec.limits.cpu_millicores;
  c.pids_limit = spec.limits.pids;
  c.disk_bytes = spec.limits.disk_bytes;
  c.network = options_.network;
  c.container_port = spec.port;
  c.host_port = spec.publish;
  c.host_ip = spec.publish_public ? "" : "127.0.0.1";  // loopback unless the deployment asks for every address
  c.log_max_size = options_.container_log_max_size;
  c.log_max_files = options_.container_log_max_files;
  for (const auto& [name, path] : spec.volumes) c.volumes[volumeName(record.app, name)] = path;
  return c;
}

Result<void> AppSupervisor::applyBandwidth(const std::string& id, const apps::Limits& limits) {
  auto info = runtime_.inspect(id);
  if (!info) return info.error();
  if (!*info) return makeError("not_found", "container " + id + " is gone");
  auto dev = hostInterfaceOf((*info)->pid);
  if (!dev) {
    if (limits.net_in_bps == 0 && limits.net_out_bps == 0) return Ok{};  // nothing to shape, nothing lost
    return makeError("unsupported", "limits.net_in/net_out: " + dev.error().message);
  }
  return applyTrafficControl(trafficControlPlan(hostTools(), *dev, (*info)->pid, limits.net_in_bps, limits.net_out_bps));
}

Result<std::string> AppSupervisor::runReplica(const AppRecord& record, const apps::DeploymentSpec& spec, int replica) {
  const auto wanted = containerSpec(record, spec, replica);
  std::string id;
  auto existing = runtime_.inspect(wanted.name);
  if (!existing) return existing.error();
  if (*existing && !isCurrent(**existing, record)) {
    // The right name but another deployment's container (a number reused after a lost write, a
    // leftover): never the running version. Replaced, not adopted.
    log::warn("replacing a container that is not this deployment's",
              {{"container", wanted.name}, {"wanted_id", record.deployment_id},
               {"found_id", (*existing)->labels.count(kDeploymentId) ? (*existing)->labels.at(kDeploymentId) : ""}});
    if (auto removed = runtime_.remove((*existing)->id, true); !removed) return removed.error();
    *existing = std::nullopt;
  }
  if (*existing) {
    id = (*existing)->id;  // adopt: the same deployment was started before (redelivery, agent restart)
  } else {
    auto created = runtime_.create(wanted);
    if (!created) {
      std::string why = created.error().message;
      std::transform(why.begin(), why.end(), why.begin(), [](unsigned char ch) { return std::tolower(ch); });
      if (spec.limits.disk_bytes > 0 && (why.find("storage") != std::string::npos || why.find("quota") != std::string::npos))
        return makeError("unsupported", "limits.disk: unsupported on this storage driver (" +
                                            created.error().message + ")");
      return created.error();
    }
    id = *created;
  }
  const bool wasRunning = *existing && (*existing)->state == "running";
  if (!wasRunning) {
    if (auto started = runtime_.start(id); !started) return started.error();
    if (auto shaped = applyBandwidth(id, spec.limits); !shaped) return shaped.error();
  }
  return id;
}

Result<void> AppSupervisor::waitHealthy(const std::string& id, const apps::DeploymentSpec& spec) {
  const auto started = SteadyClock::now();
  auto stillRunning = [&]() -> Result<runtime::ContainerInfo> {
    auto info = runtime_.inspect(id);
    if (!info) return info.error();
    if (!*info) return makeError("container_gone", "the container was removed while starting");
    if ((*info)->state != "running")
      return makeError("exited", "the container " + (*info)->state + " with exit code " +
                                     std::to_string((*info)->exit_code));
    return **info;
  };
  if (!spec.health) {
    std::this_thread::sleep_for(kSettleTime);
    auto info = stillRunning();
    if (!info) return info.error();
    return Ok{};
  }
  const auto& check = *spec.health;
  int failures = 0;
  std::string lastReason;
  while (true) {
    auto info = stillRunning();
    if (!info) return info.error();
    Result<void> probe = Ok{};
    const int timeout = static_cast<int>(check.timeout_ms);
    std::string ip = info->ip_address;
    std::uint16_t port = check.port;
    if (ip.empty() && spec.publish) ip = "127.0.0.1", port = spec.publish;  // no bridge: go through the host port
    switch (check.kind) {
      case apps::HealthCheckKind::Http:
        probe = ip.empty() ? makeError("probe_failed", "the container has no IP address") : probeHttp(ip, port, check.path, timeout);
        break;
      case apps::HealthCheckKind::Tcp:
        probe = ip.empty() ? makeError("probe_failed", "the container has no IP address") : probeTcp(ip, port, timeout);
        break;
      case apps::HealthCheckKind::Command: {
        auto code = runtime_.exec(id, check.command, timeout);
        if (!code) probe = makeError("probe_failed", code.error().message);
        else if (*code != 0) probe = makeError("probe_failed", "command exited " + std::to_string(*code));
        break;
      }
    }
    if (probe) return Ok{};
    lastReason = probe.error().message;
    const bool inStartPeriod = SteadyClock::now() - started < std::chrono::milliseconds(check.start_period_ms);
    if (!inStartPeriod && ++failures >= check.retries) {
      return makeError("unhealthy", "health check failed " + std::to_string(failures) + " times: " + lastReason);
    }
    for (auto slept = std::chrono::milliseconds(0); slept < std::chrono::milliseconds(check.interval_ms);
         slept += std::chrono::milliseconds(50)) {
      if (stopping_) return makeError("interrupted", "the agent is shutting down");
      std::this_thread::sleep_for(std::min<std::chrono::milliseconds>(std::chrono::milliseconds(50),
                                                                       std::chrono::milliseconds(check.interval_ms)));
    }
  }
}

VerbOutcome AppSupervisor::deploy(const nlohmann::json& args) {
  const std::string app = appArg(args);
  if (!args.contains("deployment") || !args["deployment"].is_number_integer() || args["deployment"].get<int>() < 1)
    return fail("invalid_argument", "field 'args.deployment': must be a positive integer");
  const int number = args["deployment"].get<int>();
  std::string deploymentId;
  if (args.contains("deployment_id")) {
    const auto& v = args["deployment_id"];
    if (!v.is_string() || v.get<std::string>().empty() || v.get<std::string>().size() > 64 ||
        v.get<std::string>().find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") !=
            std::string::npos)
      return fail("invalid_argument", "field 'args.deployment_id': must be 1-64 of letters, digits, '_' and '-'");
    deploymentId = v.get<std::string>();
  }
  auto spec = apps::parseDeploymentSpec(args.value("spec", nlohmann::json::object()));
  if (!spec) return fail(spec.error());
  AppRecord next = record(app).value_or(AppRecord{});
  next.app = app;
  next.deployment = number;
  next.deployment_id = deploymentId;
  next.spec = args["spec"];
  next.running = true;
  next.keep = std::max(1, args.value("keep", 3));

  emit(app, number, "pulling", "");
  auto image = ensureImage(*spec, args.value("image", std::string()));
  if (!image) {
    emit(app, number, "failed", image.error().message);
    return fail(image.error());
  }
  next.image = image->first;
  bool pulled = image->second;
  for (const auto& h : next.history) pulled |= h.image == next.image && h.pulled;
  emit(app, number, "starting", "image " + next.image);

  auto before = containersOf(app);
  if (!before) {
    markUnreachable(app, number, before.error());
    emit(app, number, "failed", before.error().message);
    return fail(before.error());
  }
  std::vector<std::string> stoppedOld;
  if (spec->publish) {  // the host port can be bound once: the old version steps aside first
    for (const auto& c : *before) {
      if (!isCurrent(c, next) && c.state == "running") {
        (void)runtime_.stop(c.id, options_.stop_timeout_s);
        stoppedOld.push_back(c.id);
      }
    }
  }
  std::vector<std::string> ids;
  Result<void> outcome = Ok{};
  for (int r = 0; r < spec->replicas && outcome; ++r) {
    auto id = runReplica(next, *spec, r);
    if (!id) {
      outcome = id.error();
      break;
    }
    ids.push_back(*id);
  }
  for (const auto& id : ids) {
    if (!outcome) break;
    outcome = waitHealthy(id, *spec);
  }
  if (!outcome) {
    // The running version stays up: drop what this deployment started, bring back what it stopped.
    for (const auto& id : ids) (void)runtime_.remove(id, true);
    for (const auto& id : stoppedOld) (void)runtime_.start(id);
    emit(app, number, "failed", outcome.error().message);
    return fail(outcome.error().code, outcome.error().message);
  }
  if (next.history.empty() || next.history.back().deployment != number) next.history.push_back({number, next.image, pulled, image->second ? spec->image : ""});
  if (auto saved = put(app, next); !saved) log::error("app state not saved", {{"error", saved.error().message}});
  emit(app, number, "healthy", "");
  const int replicas = spec->replicas;
  std::lock_guard lock(mutex_);
  deferred_[app].push_back([this, app, next, replicas] {
    auto all = containersOf(app);
    for (const auto& c : all ? *all : std::vector<runtime::ContainerInfo>{}) {
      const bool current = isCurrent(c, next) && labelInt(c, kReplica) < replicas;
      if (!current) (void)runtime_.remove(c.id, true);
    }
    pruneImages(app);
  });
  VerbOutcome out;
  out.output = {{"state", "healthy"}, {"image", next.image}, {"containers", ids}};
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
      continue;
    }
    const std::string why = it == current.end()
                                ? "recreated " + containerName(app, record.deployment, r) + ": the container was removed"
                                : "started " + it->second.name + ": it was " + it->second.state;
    auto id = runReplica(record, *spec, r);
    if (!id && id.error().code == "runtime_unavailable") return markUnreachable(app, record.deployment, id.error());
    if (id) ++running;
    emit(app, record.deployment, "drift", id ? why : why + " failed: " + id.error().message);
  }
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

std::vector<RunningContainer> AppSupervisor::runningContainers() {
  std::vector<RunningContainer> out;
  for (const auto& app : appNames()) {
    auto all = containersOf(app);
    if (!all) continue;
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
    if (!s) continue;
    std::optional<runtime::ContainerStats> previous;
    {
      std::lock_guard lock(mutex_);
      if (auto it = last_stats_.find(c.id); it != last_stats_.end()) previous = it->second;
    }
    if (previous) {
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
