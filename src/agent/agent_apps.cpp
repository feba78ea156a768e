// Apps on the worker threads: the runtime connection, the supervisor, app
// commands and the periodic reconcile.
#include "agent/agent_impl.hpp"

namespace berth::agent {

// Connects to the runtime on first use, and keeps trying on later calls while it
// is not there (each Docker call opens its own connection afterwards).
AppSupervisor* Agent::Impl::ensureSupervisor() {
  std::lock_guard lock(runtime_mutex);
  if (supervisor) return supervisor.get();
  auto connected = connect_runtime();
  if (!connected) {
    if (!runtime_warned) log::warn("container runtime unavailable", {{"error", connected.error().message}});
    runtime_warned = true;  // once, not every reconcile pass
    return nullptr;
  }
  auto key = pki::loadSealingKey(config.state_dir + "/seal.key");
  if (!key) {
    log::error("sealing key unavailable", {{"error", key.error().message}});
    return nullptr;
  }
  if (!config.docker_network.empty() && config.docker_network != "bridge") {
    if (auto network = (*connected)->ensureNetwork(config.docker_network); !network) {
      log::error("app network unavailable", {{"network", config.docker_network}, {"error", network.error().message}});
      return nullptr;
    }
  }
  runtime = std::move(*connected);
  refreshAppNetwork();
  SupervisorOptions options;
  options.node_id = state.node_id;
  options.state_dir = config.state_dir;
  options.network = config.docker_network;
  options.startup_cpu_shares = config.startup_cpu_shares;
  options.sealing_key = *key;
  options.container_log_max_size = config.container_log_max_size;
  options.container_log_max_files = config.container_log_max_files;
  options.router = router.get();
  options.host_actions = host_actions;
  options.base_domain = config.base_domain;
  options.clock = clock;
  options.build = buildSettingsOf(config);
  options.builds = &builds;
  // Build output joins the app's log (stream "build"), through the same bounded buffer as container lines.
  options.build_output = [this](const std::string& app, int deployment, const std::string& line) {
    runtime::LogLine l{"build", clock(), line};
    asio::post(io, [this, app, deployment, l = std::move(l)]() mutable {
      pending_logs.push({app, "build", deployment, 0, std::move(l)});
    });
  };
  auto sup = std::make_unique<AppSupervisor>(*runtime, options, [this](const nlohmann::json& event) {
    asio::post(io, [this, event] {
      flushLogs();  // lines written before the event (a build's) reach the server before it
      Envelope e = frame(FrameType::Event);
      e.data = {{"kind", "app"}};
      e.data.update(event);
      send(e);
    });
  });
  if (auto loaded = sup->load(); !loaded) {
    log::error("app desired state unreadable; apps are left as they are", {{"error", loaded.error().message}});
    runtime.reset();
    return nullptr;
  }
  supervisor = std::move(sup);
  supervisor->restoreRoutes();  // every app's routes in one proxy change, before any per-app work
  auto apiVersion = runtime->apiVersion();
  const std::string version = apiVersion ? *apiVersion : "";
  asio::post(io, [this, connected = runtime.get()] { log_runtime = connected; });
  log::info("container runtime connected", {{"socket", config.docker_socket}, {"api_version", version}});
  return supervisor.get();
}

// The app network's gateway, told on when it is first seen or has moved (the network was made
// again with another subnet while the agent ran): the proxy's stable addresses live there.
void Agent::Impl::refreshAppNetwork() {
  if (!on_app_network || !runtime || config.docker_network.empty() || config.docker_network == "bridge") return;
  auto gateway = runtime->networkGateway(config.docker_network);
  if (!gateway) {
    if (!app_gateway_warned)
      log::warn("app network has no gateway address", {{"network", config.docker_network}, {"error", gateway.error().message}});
    app_gateway_warned = true;
    return;
  }
  app_gateway_warned = false;
  if (*gateway == app_gateway) return;
  if (!app_gateway.empty())
    log::info("app network's gateway moved", {{"network", config.docker_network}, {"from", app_gateway}, {"to", *gateway}});
  app_gateway = *gateway;
  on_app_network(*gateway);
}

// After anything that may start or stop containers: follow the logs of what runs now.
void Agent::Impl::publishRunning(bool with_stats) {
  auto listed = supervisor->runningContainers();
  if (!listed) return;  // the runtime did not answer: keep following what was seen last
  auto running = std::move(*listed);
  nlohmann::json stats = with_stats ? supervisor->containerStats(running) : nlohmann::json();
  nlohmann::json proxy = router->describe();  // here, not on the I/O thread: it waits for a proxy change in progress
  asio::post(io, [this, running = std::move(running), stats = std::move(stats), proxy = std::move(proxy)] {
    syncFollowers(running);
    if (!stats.is_null()) container_stats = stats;
    proxy_status = proxy;
  });
}

// On a worker keyed by the app: answers, then tidies up behind the answer.
void Agent::Impl::runAppCommand(const std::string& corr, const std::string& verb, const nlohmann::json& args) {
  auto* sup = ensureSupervisor();
  if (!sup) {
    VerbOutcome out{false, 1, {}, "runtime_unavailable", "cannot reach dockerd at " + config.docker_socket};
    asio::post(io, [this, corr, out] { complete(corr, out); });
    return;
  }
  auto outcome = sup->handle(verb, args);
  asio::post(io, [this, corr, outcome] { complete(corr, outcome); });
  sup->runDeferred(args.value("app", std::string()));
  publishRunning(false);  // once the old version is gone too: one look at what runs
  if (outcome.ok) queueCertificateRefresh();  // a new host gets its certificate now, not at the next pass
}

// Certificates are issued on a key of their own (ACME round trips take seconds), one run at a time.
void Agent::Impl::queueCertificateRefresh() {
  {
    std::lock_guard lock(reconcile_mutex);
    if (!settle_queued.insert("certificates").second) return;
  }
  workers->post("certificates", [this] {
    {
      std::lock_guard lock(reconcile_mutex);
      settle_queued.erase("certificates");
    }
    router->refreshCertificates();
  });
}

// Every second: the settling steps of apps with an update settling (drain, watch window); a step
// still queued is not queued twice.
void Agent::Impl::scheduleSettle() {
  settle_timer.expires_after(kSettleTick);
  settle_timer.async_wait([this](const boost::system::error_code& ec) {
    if (ec || stopped) return;
    AppSupervisor* sup = nullptr;
    {
      std::lock_guard lock(runtime_mutex);
      sup = supervisor.get();
    }
    if (sup) {
      // Watch steps on the app's key (a switch back must not overlap its deploys); retiring on a
      // key of its own, so a container slow to stop does not hold up the app's next deploy.
      std::vector<std::pair<std::string, std::string>> steps;
      for (const auto& app : sup->watchedApps()) steps.emplace_back(app, app);
      for (const auto& app : sup->retiringApps()) steps.emplace_back(app, "retire:" + app);
      for (const auto& [app, key] : steps) {
        {
          std::lock_guard lock(reconcile_mutex);
          if (!settle_queued.insert(key).second) continue;
        }
        workers->post(key, [this, sup, app, key] {
          {
            std::lock_guard lock(reconcile_mutex);
            settle_queued.erase(key);
          }
          if (key == app) sup->watchStep(app);
          else sup->retire(app);
          publishRunning(false);
        });
      }
    }
    scheduleSettle();
  });
}

// Each pass queues one reconcile per app on that app's key (so it never
// overlaps the app's own commands) and skips apps whose last one still waits.
void Agent::Impl::scheduleReconcile() {
  reconcile_timer.expires_after(std::chrono::seconds(config.reconcile_interval_s));
  reconcile_timer.async_wait([this](const boost::system::error_code& ec) {
    if (ec || stopped) return;
    workers->post("", [this] {
      if (auto* sup = ensureSupervisor()) {
        {
          std::lock_guard lock(runtime_mutex);
          refreshAppNetwork();
        }
        for (const auto& app : sup->appNames()) {
          {
            std::lock_guard lock(reconcile_mutex);
            if (!reconcile_queued.insert(app).second) continue;
          }
          workers->post(app, [this, sup, app] {
            {
              std::lock_guard lock(reconcile_mutex);
              reconcile_queued.erase(app);
            }
            sup->reconcileApp(app);
          });
        }
        sup->reportUnknown();
        router->keepAlive();  // also serves the routes anew on a moved gateway
        queueCertificateRefresh();
        publishRunning(true);
      }
      asio::post(io, [this] { scheduleReconcile(); });
    });
  });
}

}  // namespace berth::agent
