#include "agent/agent_impl.hpp"

namespace berth::agent {

std::chrono::milliseconds reconnectDelay(int failures, bool had_session, int cap_s, double jitter) {
  const int cap = std::max(1, had_session ? std::min(cap_s, kSessionBackoffCapS) : cap_s);
  const double base = std::min<double>(cap, std::pow(2.0, std::clamp(failures, 0, 10)));
  const double delay = base / 2 + std::clamp(jitter, 0.0, 1.0) * (base / 2);  // in [base/2, base]
  return std::chrono::milliseconds(static_cast<std::int64_t>(delay * 1000));
}

Envelope Agent::Impl::frame(FrameType type) const {
  return protocol::newEnvelope(type, state.node_id, clock(), kFrameLifetimeMs);
}

void Agent::Impl::send(const Envelope& e) {
  if (current && !current->closing()) current->send(protocol::serialize(e));
}

Envelope Agent::Impl::hello() {
  Envelope e = frame(FrameType::Hello);
  char host[256] = {0};
  ::gethostname(host, sizeof host - 1);
  nlohmann::json verbNames = nlohmann::json::array();
  for (const auto& v : verbs.names()) verbNames.push_back(v);
  e.data = {{"hostname", host},
            {"site", config.site},
            {"labels", config.labels},
            {"version", kVersion},
            {"capabilities", nlohmann::json::array({"host.metrics", "apps"})},
            {"verbs", verbNames},
            {"capacity", capacity()}};
  return e;
}

// What the host has, and what of it apps may claim.
nlohmann::json Agent::Impl::capacity() {
  auto c = sampler.capacity();
  const std::int64_t cpus = c.value("cpus", 0);
  const std::int64_t memory = c.value("memory_bytes", std::int64_t{0});
  c["allocatable_cpu_millicores"] = std::max<std::int64_t>(0, cpus * 1000 - config.reserved_cpu_millicores);
  c["allocatable_memory_bytes"] = std::max<std::int64_t>(0, memory - config.reserved_memory_bytes);
  return c;
}

void Agent::Impl::shutdown() {
  stopped = true;
  backoff.cancel();
  reconcile_timer.cancel();
  {
    std::lock_guard lock(runtime_mutex);
    if (supervisor) supervisor->stop();
  }
  for (auto& [id, follower] : followers)
    if (follower.subscription) follower.subscription->stop();
  followers.clear();
  if (log_cursors.dirty()) saveLogCursors();
  if (signals) signals->cancel();
  if (current) current->close("agent shutting down");
  auto timer = std::make_shared<asio::steady_timer>(io, std::chrono::milliseconds(200));
  timer->async_wait([this, timer](const boost::system::error_code&) { io.stop(); });
}

Agent::Agent(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Agent::~Agent() = default;

Result<std::unique_ptr<Agent>> Agent::create(AgentConfig config, AgentParts parts) {
  auto impl = std::make_unique<Impl>();
  impl->config = std::move(config);
  impl->connect_runtime = std::move(parts.connect_runtime);
  impl->sampler = HostSampler(std::move(parts.host_reader));
  impl->clock = std::move(parts.clock);
  impl->journal = std::move(parts.journal);
  impl->host_actions = std::move(parts.host_actions);
  impl->on_app_network = std::move(parts.on_app_network);
  impl->router = parts.router ? std::move(parts.router) : std::make_unique<NoRouter>();
  auto loaded = loadAgentState(impl->config.state_dir);
  if (!loaded) return loaded.error();
  char host[256] = {0};
  ::gethostname(host, sizeof host - 1);
  if (*loaded && !impl->config.join_token.empty()) {
    // --join on an enrolled state directory re-enrols: a token bound to this
    // node (berth token create --node ID) keeps its id, a plain one makes a new node.
    const AgentState old = std::move(**loaded);
    std::string pin = impl->config.ca_pin;
    if (pin.empty()) {
      auto stored = pki::publicKeyPin(old.ca_pem);
      if (!stored) return stored.error();
      pin = *stored;
    }
    const std::string server = impl->config.server_url.empty() ? old.server_url : impl->config.server_url;
    auto state = enroll({server, impl->config.join_token, pin, host});
    if (!state) return state.error();
    impl->state = std::move(*state);
    if (auto r = saveAgentState(impl->config.state_dir, impl->state); !r) return r.error();
    if (impl->state.node_id == old.node_id) {
      log::info("rejoined as the same node with a new certificate", {{"node_id", impl->state.node_id}});
    } else {
      log::warn("joined as a NEW node: the token was not bound to this node (berth token create --node " +
                    old.node_id + " keeps the id)",
                {{"node_id", impl->state.node_id}, {"previous_node_id", old.node_id}});
    }
  } else if (*loaded) {
    impl->state = std::move(**loaded);
    // --server on a later start moves an enrolled agent to the server's new address.
    if (!impl->config.server_url.empty() && impl->config.server_url != impl->state.server_url) {
      if (auto url = net::parseUrl(impl->config.server_url); !url) return url.error();
      impl->state.server_url = impl->config.server_url;
      if (auto r = saveAgentState(impl->config.state_dir, impl->state); !r) return r.error();
    }
  } else {
    if (impl->config.server_url.empty() || impl->config.join_token.empty() || impl->config.ca_pin.empty()) {
      return makeError("not_enrolled", "this agent has not joined a server yet: pass --server, --join and --ca-pin");
    }
    auto state = enroll({impl->config.server_url, impl->config.join_token, impl->config.ca_pin, host});
    if (!state) return state.error();
    impl->state = std::move(*state);
    if (auto r = saveAgentState(impl->config.state_dir, impl->state); !r) return r.error();
    log::info("enrolled", {{"node_id", impl->state.node_id}, {"server", impl->state.server_url}});
  }
  if (auto n = pki::removeStaleTempFiles(impl->config.state_dir))  // left by a kill mid-write
    log::info("stale temp files removed", {{"count", n}, {"dir", impl->config.state_dir}});
  impl->telemetry_seq.emplace(impl->config.state_dir + "/telemetry.seq", impl->clock);
  impl->verbs = builtinVerbs(impl->sampler, kVersion, impl->config.state_dir);
  // App verbs run on the worker (Impl::onCommand); registering them puts them on the allowlist.
  for (const auto& verb : appVerbs()) {
    impl->verbs.add(verb, [](const nlohmann::json&) {
      return VerbOutcome{false, 1, {}, "internal", "app verbs run on the worker thread"};
    });
  }
  // Not on the app's worker: that one is busy with the build it cancels.
  impl->verbs.add("app.build.cancel", buildCancelVerb(impl->builds));
  return std::unique_ptr<Agent>(new Agent(std::move(impl)));
}

void Agent::run() {
  auto& i = *impl_;
  if (i.config.handle_signals) {
    i.signals.emplace(i.io, SIGINT, SIGTERM);
    i.signals->async_wait([&i](const boost::system::error_code& ec, int) {
      if (!ec) i.shutdown();
    });
  }
  i.loadLogCursors();
  i.workers = std::make_unique<KeyedWorkers>(kRuntimeThreads);
  // Adopt what runs and start following its logs before the first session.
  i.workers->post("", [&i] {
    if (i.ensureSupervisor()) i.publishRunning(false);
  });
  i.scheduleReconcile();
  i.scheduleSettle();
  asio::co_spawn(i.io, i.mainLoop(), asio::detached);
  i.io.run();
  // Stopped before the pointer is cleared: a command still running posts its follow-up work
  // (certificates, reconcile) through `workers` (a data race found under ThreadSanitizer).
  i.workers->stop();
  i.workers.reset();
}

void Agent::stop() {
  asio::post(impl_->io, [this] { impl_->shutdown(); });
}

std::string Agent::nodeId() const { return impl_->state.node_id; }

}  // namespace berth::agent
