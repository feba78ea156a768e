// AppSupervisor: pulling and pinning images, creating and starting replicas,
// health checks, and the deploy verb.
#include "agent/app_supervisor.hpp"
#include "agent/app_supervisor_internal.hpp"

#include <algorithm>
#include <cctype>
#include <set>
#include <thread>

#include "agent/health_probe.hpp"
#include "agent/progress_throttle.hpp"
#include "agent/traffic_control.hpp"
#include "apps/app_key.hpp"
#include "common/logging.hpp"

namespace berth::agent {
using namespace supervisor_internal;

namespace {

// Docker resolves a reference it knows no name for as an image id, or as the prefix of one
// ("sha256:<hex>", "4e1a..."): whatever image has it on the node, pulled by whoever.
bool namesAnImageId(const std::string& reference, const runtime::ImageInfo& found) {
  std::string hex = reference.rfind("sha256:", 0) == 0 ? reference.substr(7) : reference;
  if (hex.empty() || !std::all_of(hex.begin(), hex.end(), [](char c) { return std::isxdigit(static_cast<unsigned char>(c)); }))
    return false;
  if (found.id.rfind("sha256:" + hex, 0) != 0) return false;
  // A repository that happens to be spelled in hex ("cafe") and carries that name is a name.
  for (const auto& tag : found.repo_tags)
    if (tag == reference || tag == reference + ":latest") return false;
  return true;
}

}  // namespace

Result<std::pair<std::string, bool>> AppSupervisor::ensureImage(const std::string& app,
                                                                const apps::DeploymentSpec& spec,
                                                                const std::string& pinned,
                                                                const runtime::PullProgressHandler& on_progress) {
  // One decision at a time per repository: Docker tags a pulled image before the pull ends, so
  // another org's app could otherwise find it on the node before it is recorded below.
  std::lock_guard oneAtATime(repositoryLock(spec.reference.registry + "/" + spec.reference.repository));
  const std::string reference = pinned.empty() ? spec.image : pinned;
  auto present = runtime_.inspectImage(reference);
  if (!present) return present.error();
  if (*present && pinned.empty() && namesAnImageId(reference, **present))
    return invalidField("image", "'" + reference +
                                     "' names an image by its id (Docker takes any image on the node whose id starts "
                                     "so); name a repository with a tag or a digest");
  const std::string before = *present ? (*present)->id : "";
  // Pulled here with another org's credentials: this app's org gets it only by pulling it itself.
  const std::string org = apps::splitAppKey(app).org;
  const bool othersPrivate = *present && !image_access_.allows(before, org);
  // Another app's source build ("web.acme:0123456789ab", or its id) holds that app's code and
  // build arguments: found on the node it is not taken, only pulled (the registry decides who
  // may have it), as with pull "always". A rollback's pinned image is this app's own.
  bool othersBuild = false;
  if (*present && pinned.empty()) {
    const auto builtFor = sourceBuildOf((*present)->labels);
    othersBuild = builtFor && *builtFor != app;
  }
  std::optional<runtime::RegistryCredentials> auth;
  if (spec.registry_auth)
    auth = runtime::RegistryCredentials{spec.registry_auth->username, spec.registry_auth->password,
                                        spec.reference.registry};
  if (othersPrivate) {
    // The registry decides, not a pull: Docker answers a pull of a digest it holds from its own copy.
    if (auto allowed = runtime_.checkRegistryAccess(reference, auth); !allowed)
      return makeError(allowed.error().code, allowed.error().message +
                                                 " (the copy on this node came with another org's registry "
                                                 "credentials, so this app's own must fetch it)");
    if (auto r = image_access_.recordPull(before, org, auth.has_value(), false); !r) return r.error();
  }
  if (!*present || othersBuild || (pinned.empty() && spec.pullAlways())) {
    // Bytes the node held under any name before stay as open as they were: a private repository
    // holding the same image as an open one must not close the open one to other orgs.
    std::set<std::string> held;
    if (auth) {
      auto images = runtime_.listImages({});
      if (!images) return images.error();
      for (const auto& image : *images) held.insert(image.id);
    }
    if (auth) {
      if (auto r = image_access_.beginPull(reference, org); !r) return r.error();
    }
    if (auto pulled = runtime_.pull(reference, auth, on_progress); !pulled) {
      if (auth) (void)image_access_.endPull(reference, org);  // nothing landed (a failed save: the next start looks)
      return pulled.error();
    }
    present = runtime_.inspectImage(reference);
    if (!present) return present.error();
    if (!*present) return makeError("pull_failed", "pull " + reference + ": the image is still missing after the pull");
    const bool new_bytes = (*present)->id != before && !held.count((*present)->id);
    if (auto r = image_access_.recordPull((*present)->id, org, auth.has_value(), new_bytes); !r) {
      // Unrecorded, the bytes would be open to every org after a restart: they do not stay.
      if (new_bytes) {
        auto removed = runtime_.removeImage(reference);
        log::warn("image pulled with credentials removed: its access could not be recorded",
                  {{"image", reference}, {"removed", removed.ok()}, {"error", r.error().message}});
      }
      return r.error();
    }
    if (auth) {
      if (auto r = image_access_.endPull(reference, org); !r) return r.error();
    }
  }
  // Again after the pull: apps of other orgs deploy in parallel with this one.
  if (!image_access_.allows((*present)->id, org))
    return makeError("pull_failed", "image " + reference + " on this node is restricted to another org");
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
  if (options_.host_actions) {  // the helper finds the veth and runs tc as root
    auto shaped = options_.host_actions->shapeTraffic((*info)->pid, limits.net_in_bps, limits.net_out_bps);
    if (!shaped && shaped.error().code == "no_interface" && limits.net_in_bps == 0 && limits.net_out_bps == 0)
      return Ok{};
    if (!shaped && shaped.error().code == "no_interface")
      return makeError("unsupported", "limits.net_in/net_out: " + shaped.error().message);
    return shaped;
  }
  auto dev = hostInterfaceOf((*info)->pid);
  if (!dev) {
    if (limits.net_in_bps == 0 && limits.net_out_bps == 0) return Ok{};  // nothing to shape, nothing lost
    return makeError("unsupported", "limits.net_in/net_out: " + dev.error().message);
  }
  return applyTrafficControl(trafficControlPlan(hostTools(), *dev, (*info)->pid, limits.net_in_bps, limits.net_out_bps));
}

bool supervisor_internal::hasStartupCpuWeight(const runtime::ContainerInfo& c) {
  return c.cpu_shares > 0 && c.cpu_shares != kDefaultCpuShares;
}

Result<void> AppSupervisor::raiseCpuWeight(const std::string& id, const apps::DeploymentSpec& spec) {
  const runtime::Resources normal{spec.limits.memory_bytes, spec.limits.swap_bytes, spec.limits.cpu_millicores,
                                  spec.limits.pids, kDefaultCpuShares};
  return runtime_.update(id, normal);
}

Result<std::string> AppSupervisor::runReplica(const AppRecord& record, const apps::DeploymentSpec& spec, int replica,
                                              std::int64_t cpu_shares) {
  auto wanted = containerSpec(record, spec, replica);
  wanted.cpu_shares = cpu_shares;
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
    // Left at the start-up weight by an attempt that ended before it was routed: not lowered now.
    if (cpu_shares == 0 && hasStartupCpuWeight(**existing))
      if (auto raised = raiseCpuWeight(id, spec); !raised) return raised.error();
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
    // A container just started has a new veth without any shaping: nothing to do without limits.
    const bool shaped = spec.limits.net_in_bps > 0 || spec.limits.net_out_bps > 0;
    if (auto applied = shaped ? applyBandwidth(id, spec.limits) : Result<void>(Ok{}); !applied) return applied.error();
  }
  return id;
}

Result<void> AppSupervisor::waitHealthy(const std::string& id, const apps::DeploymentSpec& spec) {
  const auto started = SteadyClock::now();
  auto pauseFor = [&](std::chrono::milliseconds total) -> Result<void> {
    for (auto slept = std::chrono::milliseconds(0); slept < total; slept += std::chrono::milliseconds(20)) {
      if (stopping_) return makeError("interrupted", "the agent is shutting down");
      std::this_thread::sleep_for(std::min(std::chrono::milliseconds(20), total));
    }
    return Ok{};
  };
  if (!spec.health) {
    if (auto paused = pauseFor(kSettleTime); !paused) return paused.error();
    return probeOnce(id, spec);
  }
  const auto& check = *spec.health;
  // Probed often while it starts (the sooner it is seen healthy, the sooner it takes traffic), but
  // given as long as `retries` failures one interval apart would give it, after its start period.
  const auto budget = std::chrono::milliseconds(check.start_period_ms + check.retries * check.interval_ms);
  const auto pause = std::min(std::chrono::milliseconds(kStartupProbeInterval), std::chrono::milliseconds(check.interval_ms));
  int probes = 0;
  while (true) {
    auto probe = probeOnce(id, spec);
    ++probes;
    if (probe) return Ok{};
    if (probe.error().code != "probe_failed") return probe.error();  // exited, gone, runtime away: waiting will not help
    const auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(SteadyClock::now() - started);
    if (elapsed >= budget)
      return makeError("unhealthy", "health check failed " + std::to_string(check.retries) + " times (" +
                                        std::to_string(probes) + " probes in " + std::to_string(elapsed.count()) +
                                        " ms): " + probe.error().message);
    if (auto paused = pauseFor(pause); !paused) return paused.error();
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
  if (auto parsed = parseRouting(args.value("routing", nlohmann::json::object())); !parsed) return fail(parsed.error());
  auto installed = installCertificates(args.value("routing", nlohmann::json::object()));
  if (!installed) return fail(installed.error());
  const nlohmann::json routing = *installed;
  if (args.contains("downtime") && !args["downtime"].is_boolean())
    return fail("invalid_argument", "field 'args.downtime': must be true or false");
  const std::optional<AppRecord> before = record(app);
  AppRecord next = before.value_or(AppRecord{});
  next.app = app;
  next.deployment = number;
  next.deployment_id = deploymentId;
  next.spec = args["spec"];
  next.running = true;
  next.keep = std::max(1, args.value("keep", 3));
  next.routing = routing;
  auto routes = routesOf(next, *spec);
  if (!routes) return fail(routes.error());
  // Routed apps switch over without downtime; a host port can be bound once, so an app that
  // publishes one (or a deploy the server allowed downtime for) stops the old version first.
  const bool overlap = !routes->empty() && !spec->publish && !args.value("downtime", false);

  Result<std::pair<std::string, bool>> image = makeError("internal", "no image");
  nlohmann::json built = nullptr;
  if (spec->source) {
    // Built here from its commit; the running version keeps serving whatever the build does.
    emit(app, number, "building", "");
    auto b = buildSource(app, number, args);
    if (!b) {
      emit(app, number, "failed", b.error().message);
      VerbOutcome out = fail(b.error());
      if (auto offered = offeredHostKeys(b.error()); !offered.empty()) out.output["offered_host_keys"] = offered;
      return out;
    }
    built = b->toJson();
    image = std::pair{b->image_id.empty() ? b->image : b->image_id, false};  // a local build: never "pulled"
    // The app can tell which commit it runs (as Heroku's SOURCE_VERSION); a value the user set stays.
    if (!b->commit.empty() && !spec->env.count(kCommitEnv)) {
      spec->env[kCommitEnv] = b->commit;
      next.spec["env"][kCommitEnv] = b->commit;
    }
  } else {
    emit(app, number, "pulling", "");
    // "pull_progress" events while layers download: {progress: per-layer state and bytes}, the summary as reason.
    // The last report a throttle held back goes once the pull ends, so a display ends on the final state.
    ProgressThrottle throttle(kPullProgressIntervalMs);
    nlohmann::json heldBack;
    auto report = [&](const nlohmann::json& progress) {
      emit(app, number, "pull_progress", progress.value("summary", std::string()), {{"progress", progress}});
    };
    image = ensureImage(app, *spec, args.value("image", std::string()), [&](const nlohmann::json& progress) {
      if (throttle.due(options_.clock())) {
        heldBack = nullptr;
        report(progress);
      } else {
        heldBack = progress;
      }
    });
    if (heldBack.is_object()) report(heldBack);
  }
  if (!image) {
    emit(app, number, "failed", image.error().message);
    return fail(image.error());
  }
  next.image = image->first;
  bool pulled = image->second;
  for (const auto& h : next.history) pulled |= h.image == next.image && h.pulled;
  emit(app, number, "starting", "image " + next.image);

  auto existing = containersOf(app);
  if (!existing) {
    markUnreachable(app, number, existing.error());
    emit(app, number, "failed", existing.error().message);
    return fail(existing.error());
  }
  std::vector<std::string> stoppedOld;
  if (!overlap && (spec->publish || args.value("downtime", false))) {
    // Out of the route before the old version stops: 503 with Retry-After until the new one is
    // seen healthy, not a 502, nor traffic to a container no probe has passed yet.
    if (!routes->empty() && before) {
      if (auto unserved = routeTo(next, *spec, {}); !unserved) {
        emit(app, number, "failed", unserved.error().message);
        return fail(unserved.error());
      }
      // Requests already on their way to the old version (pooled proxy connections) end first.
      if (const int settle = options_.router ? options_.router->switchSettleMs() : 0; settle > 0)
        std::this_thread::sleep_for(std::chrono::milliseconds(settle));
    }
    for (const auto& c : *existing) {
      if (!isCurrent(c, next) && c.state == "running") {
        (void)runtime_.stop(c.id, options_.stop_timeout_s);
        stoppedOld.push_back(c.id);
      }
    }
  }
  std::vector<std::string> ids;
  Result<void> outcome = Ok{};
  // Beside a serving version, the new one starts at a low CPU weight (SupervisorOptions).
  const std::int64_t startupShares =
      overlap && before && before->running && before->deployment != number ? options_.startup_cpu_shares : 0;
  for (int r = 0; r < spec->replicas && outcome; ++r) {
    auto id = runReplica(next, *spec, r, startupShares);
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
  if (outcome) log::info("new version passed its health check", {{"app", app}, {"deployment", number}});
  // Healthy: the route moves to the new containers (the proxy serves them when this returns).
  if (outcome && (!routes->empty() || (before && !before->routing.empty()))) outcome = routeTo(next, *spec, ids);
  if (outcome && startupShares > 0) {
    // It serves now: the default weight (a failure here is put right by the app's next reconcile).
    for (const auto& id : ids)
      if (auto raised = raiseCpuWeight(id, *spec); !raised)
        log::error("a new version keeps its start-up CPU weight", {{"app", app}, {"container", id}, {"error", raised.error().message}});
  }
  if (!outcome) {
    // The running version stays up: drop what this deployment started, bring back what it stopped.
    for (const auto& id : ids) (void)runtime_.remove(id, true);
    for (const auto& id : stoppedOld) (void)runtime_.start(id);
    if (!stoppedOld.empty() && before) {  // the old version serves again: give it its route back
      if (auto back = apps::parseDeploymentSpec(before->spec); back && waitHealthy(stoppedOld.front(), *back))
        (void)routeTo(*before, *back, stoppedOld);
    }
    emit(app, number, "failed", outcome.error().message);
    return fail(outcome.error().code, outcome.error().message);
  }
  if (next.history.empty() || next.history.back().deployment != number) next.history.push_back({number, next.image, pulled, image->second ? spec->image : ""});
  const std::int64_t now = options_.clock();
  if (next.watch) {
    // A new deploy ends the previous one's watch window: its predecessor goes once drained.
    for (auto& r : next.retiring) {
      if (r.deployment == next.watch->previous.deployment) r.remove_at = std::min(r.remove_at, r.stop_at);
    }
    next.watch.reset();
  }
  std::vector<std::string> replaced;
  for (const auto& c : *existing) {
    const bool current = isCurrent(c, next) && labelInt(c, kReplica) < spec->replicas;
    const bool retiring = std::any_of(next.retiring.begin(), next.retiring.end(), [&](const Retiring& r) { return r.id == c.id; });
    if (!current && !retiring) replaced.push_back(c.id);
  }
  const bool sameDeployment = before && before->deployment == number;
  if (overlap && before && !sameDeployment) {
    // Out of the route now; in-flight requests finish during the drain, then the old version stops
    // and is kept (stopped) until the watch window closes, for a switch back.
    const std::int64_t stopAt = now + spec->drain_ms;
    const std::int64_t removeAt = now + std::max(spec->drain_ms, spec->watch_ms);
    for (const auto& id : replaced) next.retiring.push_back({id, before->deployment, stopAt, removeAt, false});
    if (spec->watch_ms > 0 && before->running && !replaced.empty())
      next.watch = Watch{{before->deployment, before->deployment_id, before->spec, before->image}, now + spec->watch_ms,
                         now, 0, ""};
    replaced.clear();
  }
  if (auto saved = put(app, next); !saved) log::error("app state not saved", {{"error", saved.error().message}});
  emit(app, number, "healthy", "");
  std::lock_guard lock(mutex_);
  deferred_[app].push_back([this, app, replaced] {
    for (const auto& id : replaced) (void)runtime_.remove(id, true);
    pruneImages(app);
  });
  VerbOutcome out;
  out.output = {{"state", "healthy"}, {"image", next.image}, {"containers", ids}, {"routes", apps::toJson(*routes)}};
  if (!built.is_null()) out.output["build"] = built;
  return out;
}

Result<BuiltImage> AppSupervisor::buildSource(const std::string& app, int deployment, const nlohmann::json& args) {
  // A rollback names the image its deployment ran: reused while the node still has it.
  if (const std::string pinned = args.value("image", std::string()); !pinned.empty()) {
    if (auto present = runtime_.inspectImage(pinned); present && *present) {
      BuiltImage reused;
      reused.commit = args.value("commit", std::string());
      reused.image = pinned;
      reused.image_id = (*present)->id;
      reused.reused = true;
      return reused;
    }
  }
  // The server's wire names (spec.source, source_credentials, commit) to the builder's request.
  const nlohmann::json& given = args["spec"]["source"];
  nlohmann::json source = {{"url", given.value("git", std::string())}};
  for (const char* key : {"ref", "dir", "dockerfile", "target", "build_args", "plan", "rebuild"})
    if (given.contains(key)) source[key] = given[key];
  nlohmann::json wire = {{"app", app}, {"source", source}};
  if (args.contains("commit")) wire["commit"] = args["commit"];
  if (args.contains("source_credentials")) wire["credentials"] = args["source_credentials"];
  auto request = parseSourceBuildRequest(wire);
  if (!request) return request.error();
  std::unique_ptr<BuildRegistry::Entry> registered;
  static const std::atomic<bool> kNeverCancelled{false};
  if (options_.builds) registered = options_.builds->start(app);
  BuildObserver observer;
  observer.on_step = [&](const std::string& step) { emit(app, deployment, "building", step); };
  observer.on_line = [&](const std::string& line) {
    if (options_.build_output) options_.build_output(app, deployment, line);
  };
  SourceBuilder builder(runtime_, options_.build, options_.state_dir);
  // On a node holding images this org may not run, no base image is taken from the node; the
  // check below names what it can read of the Dockerfile either way.
  auto barred = holdsImagesBarredFrom(runtime_, image_access_, apps::splitAppKey(app).org);
  if (!barred) return barred.error();
  builder.pullBaseImages(*barred);
  builder.checkBaseImagesWith([&](const std::vector<std::string>& images) {
    return checkBuildBases(runtime_, image_access_, app, images);
  });
  auto result = builder.build(*request, observer, registered ? registered->cancel() : kNeverCancelled);
  if (result) {
    // Older build images of this app go with the deployments that no longer hold them.
    std::set<std::string> keep = {result->image, result->image_id};
    if (auto r = record(app)) {
      keep.insert(r->image);
      for (const auto& h : r->history) keep.insert(h.image);
    }
    (void)builder.prune(app, keep);
  }
  return result;
}

}  // namespace berth::agent
