// AppSupervisor: pulling and pinning images, creating and starting replicas,
// health checks, and the deploy verb.
#include "agent/app_supervisor.hpp"
#include "agent/app_supervisor_internal.hpp"

#include <algorithm>
#include <cctype>
#include <thread>

#include "agent/health_probe.hpp"
#include "agent/traffic_control.hpp"
#include "common/logging.hpp"

namespace berth::agent {
using namespace supervisor_internal;

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

}  // namespace berth::agent
