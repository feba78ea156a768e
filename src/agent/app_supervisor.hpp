// The agent's side of apps: desired state (which deployment of which app
// should run, and whether it should be running), persisted sealed in the
// state directory because it holds secrets, and driven into the container
// runtime. Thread-safe for different apps: calls that concern one app must
// not overlap (the agent runs them on KeyedWorkers keyed by app name), calls
// for different apps may run in parallel; shared state is behind a mutex
// that is never held across a runtime call.
//
// Containers are named berth-<app>-d<deployment>-<replica> and labelled with
// app, deployment, replica and node, so a restarted agent adopts what is
// running instead of restarting it.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "agent/image_access.hpp"
#include "agent/app_router.hpp"
#include "agent/build_registry.hpp"
#include "agent/source_builder.hpp"
#include "agent/verbs.hpp"
#include "apps/spec.hpp"
#include "common/clock.hpp"
#include "helper/host_actions.hpp"
#include "runtime/container_runtime.hpp"

namespace berth::agent {

struct SupervisorOptions {
  std::string node_id;
  std::string state_dir;
  std::string network;      // docker network for app containers ("" = the daemon's default)
  std::string sealing_key;  // for <state_dir>/apps.sealed
  int stop_timeout_s = 10;
  std::string container_log_max_size = "10m";  // Docker json-file rotation of each container's log
  int container_log_max_files = 3;
  AppRouter* router = nullptr;  // where routed apps are served; null: no proxy on this node
  std::string base_domain;      // this node's own base domain, over the server's
  Clock clock = systemNowMs;    // drain and watch deadlines (wall clock: they survive a restart)
  // Host actions through `berth helper` (setting helper_socket); null: the agent runs tc itself.
  std::shared_ptr<helper::HostActions> host_actions = nullptr;
  // Apps from source (issue 11): how builds run, where a running build
  // registers for app.build.cancel, and where its output goes (the app's
  // log with stream "build"). Called on the deploying worker.
  BuildSettings build;
  BuildRegistry* builds = nullptr;
  std::function<void(const std::string& app, int deployment, const std::string& line)> build_output;
  // CPU weight of a new version's containers while the version before it still serves (zero-downtime
  // updates): its start-up (JIT warm-up, caches) takes only what the serving version leaves, so the
  // update does not show in the serving version's latency. Raised to the default (1024) when the
  // route moves to it. 0: no lowering.
  int startup_cpu_shares = 0;
};

// An app state change worth telling the server: {app, deployment, state, reason}.
using AppEventSink = std::function<void(const nlohmann::json& event)>;

struct RunningContainer {
  std::string id;
  std::string app;
  int deployment = 0;
  int replica = 0;
};

// Whether a container found under a deployment's name may be adopted as that
// deployment's. A container labelled berth.deployment_id is adopted only by
// the deployment with that id; one from before ids existed (no such label)
// only when the wanted deployment has no id either and it runs the image the
// deployment pinned. Anything else is replaced.
bool adoptable(const std::map<std::string, std::string>& labels, const std::string& wanted_id, bool image_matches);

inline const std::set<std::string>& appVerbs() {
  static const std::set<std::string> verbs = {"app.deploy", "app.start",  "app.stop",   "app.restart",
                                              "app.delete", "app.limits", "app.status", "app.routes"};
  return verbs;
}

class AppSupervisor {
 public:
  AppSupervisor(runtime::ContainerRuntime& runtime, SupervisorOptions options, AppEventSink events);
  // Reads the desired state written by an earlier run.
  Result<void> load();
  VerbOutcome handle(const std::string& verb, const nlohmann::json& args);
  // Repairs one app's drift: recreates removed containers, starts stopped
  // ones that should run, stops ones that should not, removes leftovers.
  void reconcileApp(const std::string& app);
  // Reports (once each) berth-labelled containers no app wants.
  void reportUnknown();
  // Every app, then the unknown containers, in this thread.
  void reconcile();
  std::vector<std::string> appNames() const;
  // Work that may follow a verb's answer for `app` (removing the replaced
  // version's containers, image cleanup), so the answer does not wait for it.
  void runDeferred(const std::string& app);
  // Nullopt when the runtime could not list some app's containers: a failed
  // look is not "nothing runs" (logs would stop being followed, app show would empty).
  std::optional<std::vector<RunningContainer>> runningContainers();
  // The agent is shutting down: health waits end early (the command is not
  // answered and runs again when the server redelivers it).
  void stop() { stopping_ = true; }
  // Per-container CPU, memory, network and block I/O of `running`, for telemetry.
  nlohmann::json containerStats(const std::vector<RunningContainer>& running);
  // Apps with old containers draining or kept for a switch back; apps in a watch window.
  std::vector<std::string> retiringApps() const;
  std::vector<std::string> watchedApps() const;
  // Stops `app`'s old containers whose drain is over and removes those no
  // longer needed for a switch back. May run beside the app's own work (on
  // another worker key): a stop can take its whole timeout.
  void retire(const std::string& app);
  // One step of `app`'s watch window, on the app's own worker key: probes the
  // new version when due and switches back when it turns unhealthy.
  void watchStep(const std::string& app);
  // Serves every app's routes at once (after a start: one proxy change, not one per app).
  void restoreRoutes();


 private:
  struct History {
    int deployment = 0;
    std::string image;
    bool pulled = false;    // only images berth pulled are removed by cleanup; local builds stay
    std::string reference;  // the tag it was pulled by, removed with it
  };
  // An old container of a replaced version: out of the route, still finishing
  // its requests until stop_at, kept (stopped) for a switch back until remove_at.
  struct Retiring {
    std::string id;
    int deployment = 0;
    std::int64_t stop_at = 0;
    std::int64_t remove_at = 0;
    bool stopped = false;
  };
  // The version a watch window switches back to.
  struct Version {
    int deployment = 0;
    std::string deployment_id;
    nlohmann::json spec;
    std::string image;
  };
  struct Watch {
    Version previous;
    std::int64_t until = 0;
    std::int64_t next_probe = 0;
    int failures = 0;
    std::string last_failure;
  };
  struct AppRecord {
    std::string app;
    int deployment = 0;
    std::string deployment_id;  // the server's unique id ("" for deployments from before ids)
    nlohmann::json spec;  // the deployment body as the API took it, secrets included
    std::string image;    // what runs: a repo digest or an image id
    bool running = true;
    int keep = 3;
    std::vector<History> history;  // newest last, for image cleanup
    nlohmann::json routing = nlohmann::json::object();  // {domains, base_domain} as the server sent them
    std::vector<Retiring> retiring;
    std::optional<Watch> watch;
  };

  VerbOutcome deploy(const nlohmann::json& args);
  VerbOutcome setRunning(const std::string& app, bool running, bool restart);
  VerbOutcome remove(const std::string& app, bool volumes, const std::vector<std::string>& declared_volumes);
  VerbOutcome limits(const std::string& app, const nlohmann::json& limits);
  VerbOutcome status(const std::string& app);
  VerbOutcome setRouting(const std::string& app, const nlohmann::json& routing);

  // The routes `record` is served at (empty: not routed), from the server's
  // domains and base domain, or this node's base domain when it has one.
  Result<std::vector<apps::AppRoute>> routesOf(const AppRecord& record, const apps::DeploymentSpec& spec) const;
  // The proxy upstreams for containers `ids` (their address on the network, the app's port).
  std::vector<proxy::Upstream> upstreamsOf(const std::vector<std::string>& ids, std::uint16_t port);
  // Hands the uploaded certificates in `routing` to the router's store; `routing` without them.
  Result<nlohmann::json> installCertificates(nlohmann::json routing);
  // Points the app's routes at `ids` (none: 503 with Retry-After). Not routed: nothing to do.
  Result<void> routeTo(const AppRecord& record, const apps::DeploymentSpec& spec, const std::vector<std::string>& ids);
  // Ids of the running containers of `record`'s deployment.
  std::vector<std::string> runningIdsOf(const AppRecord& record);
  // One probe of a running container (the app's health check, or "still running").
  Result<void> probeOnce(const std::string& id, const apps::DeploymentSpec& spec);
  // Switches back from a version failing inside its watch window.
  void switchBack(AppRecord record, const std::string& reason);

  // The reference to run (pinned to a digest or image id) and whether it had to be pulled.
  // `on_progress` sees the pull's progress when one is needed.
  // An image another app built from source (its berth.build label) is never taken from the node: pulled or refused.
  Result<std::pair<std::string, bool>> ensureImage(const std::string& app, const apps::DeploymentSpec& spec,
                                                   const std::string& pinned,
                                                   const runtime::PullProgressHandler& on_progress = nullptr);
  // A deployment from source: the image its commit builds into (or the
  // rollback's image when still on the node). Errors carry the offered host
  // keys in their message (offeredHostKeys).
  Result<BuiltImage> buildSource(const std::string& app, int deployment, const nlohmann::json& args);
  // Removes `image` unless another app's history still holds it or berth did not pull it.
  void releaseImage(const History& dropped);
  runtime::ContainerSpec containerSpec(const AppRecord& record, const apps::DeploymentSpec& spec, int replica) const;
  // Creates (or adopts) and starts one replica; applies bandwidth limits.
  // `cpu_shares`: a container created here starts with that CPU weight (0: the default).
  Result<std::string> runReplica(const AppRecord& record, const apps::DeploymentSpec& spec, int replica,
                                 std::int64_t cpu_shares = 0);
  // The default CPU weight for a container that serves (start-up weight over), limits unchanged.
  Result<void> raiseCpuWeight(const std::string& id, const apps::DeploymentSpec& spec);
  Result<void> waitHealthy(const std::string& id, const apps::DeploymentSpec& spec);
  Result<void> applyBandwidth(const std::string& id, const apps::Limits& limits);
  Result<std::vector<runtime::ContainerInfo>> containersOf(const std::string& app);
  // The container is `record`'s deployment (number, and id or legacy image match).
  bool isCurrent(const runtime::ContainerInfo& c, const AppRecord& record);
  // The runtime could not be reached while working on `app`: one event per outage, then quiet.
  void markUnreachable(const std::string& app, int deployment, const Error& error);
  std::optional<AppRecord> record(const std::string& app) const;
  // The app's record and its parsed spec; "not_found" when this node has no deployment of it.
  Result<std::pair<AppRecord, apps::DeploymentSpec>> current(const std::string& app) const;
  // Stores (or with nullopt, forgets) the app's record and saves the file.
  Result<void> put(const std::string& app, const std::optional<AppRecord>& record);
  // Restricts the images this node's apps pulled with credentials before the image access record
  // existed (load(), until it succeeds once); then writes the record.
  Result<void> recordEarlierPulls();
  // The lock ensureImage holds for images of `repository` ("registry/repository").
  std::mutex& repositoryLock(const std::string& repository);
  void pruneImages(const std::string& app);
  Result<void> saveLocked();
  void emit(const std::string& app, int deployment, const std::string& state, const std::string& reason,
            const nlohmann::json& extra = nullptr);

  runtime::ContainerRuntime& runtime_;
  SupervisorOptions options_;
  AppEventSink events_;
  ImageAccess image_access_;  // who may run what was pulled with credentials (thread-safe)
  std::atomic<bool> stopping_{false};
  mutable std::mutex mutex_;  // guards the members below
  std::map<std::string, AppRecord> apps_;
  std::set<std::string> reported_unknown_;
  std::set<std::string> unreachable_;  // apps that saw the runtime unreachable and were not looked at since
  std::set<std::string> active_;  // apps with a verb running: their new containers are not "unknown" yet
  std::map<std::string, std::vector<std::function<void()>>> deferred_;  // by app
  std::map<std::string, runtime::ContainerStats> last_stats_;  // by container id, for CPU rates
  std::map<std::string, std::unique_ptr<std::mutex>> repository_locks_;  // repositoryLock's, never removed
};

std::string containerName(const std::string& app, int deployment, int replica);
// The deploy/start/stop/routes argument "routing" ({domains: [{domain, path_prefix,
// strip_prefix}], base_domain}) checked field by field; the domains parsed.
Result<std::pair<std::vector<apps::DomainEntry>, std::string>> parseRouting(const nlohmann::json& routing);
// The Docker volume of an app's named volume: "berth-web-data" in the default
// org, "berth.web.acme_data" for another org's key, so no volume of one org
// ever has another org's name.
std::string volumeName(const std::string& app, const std::string& volume);

}  // namespace berth::agent
