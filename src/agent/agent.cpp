#include "agent/agent.hpp"
#include "common/json.hpp"

#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cmath>
#include <deque>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "agent/agent_state.hpp"
#include "agent/app_supervisor.hpp"
#include "agent/keyed_workers.hpp"
#include "agent/log_buffer.hpp"
#include "pki/keys.hpp"
#include "pki/sealed_file.hpp"
#include "runtime/docker/docker_runtime.hpp"
#include "runtime/docker/log_stream.hpp"
#include "agent/command_journal.hpp"
#include "agent/command_runner.hpp"
#include "agent/enrollment.hpp"
#include "agent/resident_trim.hpp"
#include "agent/verbs.hpp"
#include "common/clock.hpp"
#include "common/ids.hpp"
#include "common/logging.hpp"
#include "common/token_bucket.hpp"
#include "net/tls.hpp"
#include "net/url.hpp"
#include "net/ws_channel.hpp"

namespace berth::agent {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using protocol::Envelope;
using protocol::FrameType;
using Steady = std::chrono::steady_clock;

namespace {
constexpr const char* kAgentVersion = "0.1.0";
constexpr std::size_t kResultCacheSize = 4096;
constexpr std::int64_t kFrameLifetimeMs = 60'000;
constexpr auto kRenewalCheckInterval = std::chrono::minutes(10);
constexpr std::size_t kMaxBufferedLogLines = 20'000;  // while the session is down (then the oldest are dropped)
constexpr std::size_t kMaxBufferedLogBytes = 16u << 20;  // and at most this much of them
constexpr std::size_t kMaxLinesPerLogFrame = 500;
constexpr auto kLogCursorSaveInterval = std::chrono::seconds(1);
constexpr int kSessionBackoffCapS = 15;  // once a session has existed
constexpr int kRuntimeThreads = 4;  // app work in parallel across apps, in order within one
}  // namespace

std::chrono::milliseconds reconnectDelay(int failures, bool had_session, int cap_s, double jitter) {
  const int cap = std::max(1, had_session ? std::min(cap_s, kSessionBackoffCapS) : cap_s);
  const double base = std::min<double>(cap, std::pow(2.0, std::clamp(failures, 0, 10)));
  const double delay = base / 2 + std::clamp(jitter, 0.0, 1.0) * (base / 2);  // in [base/2, base]
  return std::chrono::milliseconds(static_cast<std::int64_t>(delay * 1000));
}

struct Agent::Impl {
  AgentConfig config;
  AgentState state;
  asio::io_context io{1};
  HostSampler sampler{realHostReader()};
  VerbRegistry verbs;
  ResultCache results{kResultCacheSize};
  CommandJournal journal;  // the part of `results` and the replay cache that survives restarts
  std::shared_ptr<net::WsChannel> current;  // the live session's channel, if any
  std::optional<asio::signal_set> signals;
  asio::steady_timer backoff{io};
  bool stopped = false;
  Clock clock = systemNowMs;
  std::mt19937 rng{std::random_device{}()};
  // Per-session settings from WELCOME (and config EVENTs).
  int heartbeat_interval_s = 20;
  int telemetry_interval_s = 30;
  bool trimmed = false;
  TokenBucket error_replies{1.0, 10.0};  // ERROR answers and their log lines
  TokenBucket skew_warnings{1.0 / 60, 1.0};
  std::int64_t telemetry_seq = 0;  // next block reserved in <state_dir>/telemetry.seq
  std::int64_t telemetry_seq_limit = 0;

  // Apps. The runtime and supervisor are used from the workers (keyed by app);
  // the log followers, buffered lines and latest container stats live on the I/O thread.
  std::mutex runtime_mutex;                                // guards the three below
  std::unique_ptr<runtime::docker::DockerRuntime> docker;
  std::unique_ptr<AppSupervisor> supervisor;
  bool runtime_warned = false;
  std::mutex reconcile_mutex;
  std::set<std::string> reconcile_queued;  // apps with a reconcile task waiting
  std::string docker_api_version;                          // copied to the I/O thread for followers
  std::map<std::string, std::shared_ptr<runtime::docker::LogFollower>> followers;
  std::map<std::string, std::int64_t> last_log_ms;  // container id -> newest line seen
  LogBuffer pending_logs{kMaxBufferedLogLines, kMaxBufferedLogBytes};
  LogCursors log_cursors;            // container id -> newest line shipped, kept in <state_dir>/log_cursors.json
  bool had_log_cursor_file = false;
  Steady::time_point log_cursors_saved_at{};
  bool first_container_sync = true;
  std::int64_t started_ms = systemNowMs();
  nlohmann::json container_stats = nlohmann::json::array();
  asio::steady_timer reconcile_timer{io};
  std::unique_ptr<KeyedWorkers> workers;  // declared last: joined first on destruction

  Envelope frame(FrameType type) const {
    Envelope e;
    e.type = type;
    e.agent_id = state.node_id;
    e.issued_at = clock();
    e.expires_at = e.issued_at + kFrameLifetimeMs;
    e.nonce = randomHex(16);
    return e;
  }

  void send(const Envelope& e) {
    if (current && !current->closing()) current->send(protocol::serialize(e));
  }

  Envelope hello() {
    Envelope e = frame(FrameType::Hello);
    char host[256] = {0};
    ::gethostname(host, sizeof host - 1);
    nlohmann::json verbNames = nlohmann::json::array();
    for (const auto& v : verbs.names()) verbNames.push_back(v);
    e.data = {{"hostname", host},
              {"site", config.site},
              {"labels", config.labels},
              {"version", kAgentVersion},
              {"capabilities", nlohmann::json::array({"host.metrics", "apps"})},
              {"verbs", verbNames},
              {"capacity", capacity()}};
    return e;
  }

  // What the host has, and what of it apps may claim.
  nlohmann::json capacity() {
    auto c = sampler.capacity();
    const std::int64_t cpus = c.value("cpus", 0);
    const std::int64_t memory = c.value("memory_bytes", std::int64_t{0});
    c["allocatable_cpu_millicores"] = std::max<std::int64_t>(0, cpus * 1000 - config.reserved_cpu_millicores);
    c["allocatable_memory_bytes"] = std::max<std::int64_t>(0, memory - config.reserved_memory_bytes);
    return c;
  }

  // ---- apps (worker thread) ----

  // Connects to dockerd on first use, and keeps trying on later calls while it
  // is not there (each runtime call opens its own connection afterwards).
  AppSupervisor* ensureSupervisor() {
    std::lock_guard lock(runtime_mutex);
    if (supervisor) return supervisor.get();
    auto runtime = runtime::docker::DockerRuntime::create(config.docker_socket);
    if (!runtime) {
      if (!runtime_warned) log::warn("container runtime unavailable", {{"error", runtime.error().message}});
      runtime_warned = true;  // once, not every reconcile pass
      return nullptr;
    }
    auto key = pki::loadSealingKey(config.state_dir + "/seal.key");
    if (!key) {
      log::error("sealing key unavailable", {{"error", key.error().message}});
      return nullptr;
    }
    docker = std::move(*runtime);
    SupervisorOptions options{state.node_id, config.state_dir, config.docker_network, *key};
    options.container_log_max_size = config.container_log_max_size;
    options.container_log_max_files = config.container_log_max_files;
    auto sup = std::make_unique<AppSupervisor>(*docker, options, [this](const nlohmann::json& event) {
      asio::post(io, [this, event] {
        Envelope e = frame(FrameType::Event);
        e.data = {{"kind", "app"}};
        e.data.update(event);
        send(e);
      });
    });
    if (auto loaded = sup->load(); !loaded) {
      log::error("app desired state unreadable; apps are left as they are", {{"error", loaded.error().message}});
      docker.reset();
      return nullptr;
    }
    supervisor = std::move(sup);
    const std::string version = *docker->apiVersion();
    asio::post(io, [this, version] { docker_api_version = version; });
    log::info("container runtime connected", {{"socket", config.docker_socket}, {"api_version", version}});
    return supervisor.get();
  }

  // After anything that may start or stop containers: follow the logs of what runs now.
  void publishRunning(bool with_stats) {
    auto running = supervisor->runningContainers();
    nlohmann::json stats = with_stats ? supervisor->containerStats(running) : nlohmann::json();
    asio::post(io, [this, running = std::move(running), stats = std::move(stats)] {
      syncFollowers(running);
      if (!stats.is_null()) container_stats = stats;
    });
  }

  // On a worker keyed by the app: answers, then tidies up behind the answer.
  void runAppCommand(const std::string& corr, const std::string& verb, const nlohmann::json& args) {
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
  }

  // Each pass queues one reconcile per app on that app's key (so it never
  // overlaps the app's own commands) and skips apps whose last one still waits.
  void scheduleReconcile() {
    reconcile_timer.expires_after(std::chrono::seconds(config.reconcile_interval_s));
    reconcile_timer.async_wait([this](const boost::system::error_code& ec) {
      if (ec || stopped) return;
      workers->post("", [this] {
        if (auto* sup = ensureSupervisor()) {
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
          publishRunning(true);
        }
        asio::post(io, [this] { scheduleReconcile(); });
      });
    });
  }

  // ---- logs (I/O thread) ----

  void syncFollowers(const std::vector<RunningContainer>& running) {
    if (docker_api_version.empty()) return;
    std::set<std::string> ids;
    for (const auto& c : running) {
      ids.insert(c.id);
      if (followers.count(c.id)) continue;
      // Resume after the last line read in this run, else after the last one shipped (also by an earlier
      // run: lines written while the agent was down still come), else from the first.
      std::optional<std::int64_t> seen;
      if (auto last = last_log_ms.find(c.id); last != last_log_ms.end()) seen = last->second;
      const double since = static_cast<double>(logResumeMs(seen, log_cursors.of(c.id),
                                                           first_container_sync && !had_log_cursor_file, started_ms)) /
                           1000.0;
      auto follower = std::make_shared<runtime::docker::LogFollower>(
          io.get_executor(), config.docker_socket, docker_api_version, c.id, since,
          [this, c](std::vector<runtime::docker::LogLine> lines) {
            for (auto& line : lines) {
              auto& last = last_log_ms[c.id];
              last = std::max(last, line.at_ms);
              pending_logs.push({c.app, c.id, c.deployment, c.replica, std::move(line)});  // bounded; drops count
            }
          },
          [this, id = c.id](const std::string& reason) {
            log::debug("log stream ended", {{"container", id}, {"reason", reason}});
            followers.erase(id);
          });
      followers[c.id] = follower;
      follower->start();
    }
    first_container_sync = false;
    for (auto it = followers.begin(); it != followers.end();) {
      if (ids.count(it->first)) {
        ++it;
        continue;
      }
      it->second->stop();
      it = followers.erase(it);
    }
  }

  // Sends buffered lines as LOG frames, one per app, at most kMaxLinesPerLogFrame each; an app
  // whose lines were dropped is told how many (the server records an app event).
  void flushLogs() {
    if (!current || current->closing()) return;
    auto dropped = pending_logs.takeDropped();
    while (!pending_logs.empty() || !dropped.empty()) {
      auto batch = pending_logs.takeBatch(kMaxLinesPerLogFrame);
      const std::string app = batch.empty() ? dropped.begin()->first : batch.front().app;
      nlohmann::json lines = nlohmann::json::array();
      for (const auto& l : batch) {
        lines.push_back({{"at", l.line.at_ms},
                         {"stream", l.line.stream},
                         {"text", l.line.text},
                         {"deployment", l.deployment},
                         {"replica", l.replica}});
        log_cursors.shipped(l.container, l.line.at_ms);
      }
      Envelope e = frame(FrameType::Log);
      e.data = {{"app", app}, {"lines", lines}};
      if (auto d = dropped.find(app); d != dropped.end()) {
        e.data["dropped"] = d->second;
        dropped.erase(d);
      }
      send(e);
    }
    if (log_cursors.dirty() && Steady::now() - log_cursors_saved_at >= kLogCursorSaveInterval) saveLogCursors();
  }

  std::string logCursorPath() const { return config.state_dir + "/log_cursors.json"; }

  void loadLogCursors() {
    auto text = pki::readFile(logCursorPath());
    if (!text) return;  // first run with cursors: followers start from the agent's start
    had_log_cursor_file = true;
    auto parsed = LogCursors::parse(*text);
    if (!parsed) {
      log::warn("log cursors unreadable; resuming containers from their first line", {{"error", parsed.error().message}});
      return;
    }
    log_cursors = std::move(*parsed);
  }

  void saveLogCursors() {
    log_cursors_saved_at = Steady::now();
    if (auto r = pki::writePrivateFile(logCursorPath(), log_cursors.serialize()); !r)
      log::warn("log cursors not saved", {{"error", r.error().message}});
  }

  asio::awaitable<void> mainLoop() {
    int failures = 0;
    bool hadSession = false;
    while (!stopped) {
      bool welcomed = false;
      if (auto expired = expiredCertificateMessage(state, clock())) {
        log::error(*expired, {{"node_id", state.node_id}});  // dialing would only be refused
      } else {
        if (renewalDue(state, clock())) renew();
        welcomed = co_await session();
      }
      if (stopped) break;
      failures = welcomed ? 0 : failures + 1;
      hadSession |= welcomed;
      const auto delay = reconnectDelay(failures, hadSession, config.backoff_cap_s,
                                        std::uniform_real_distribution<double>(0, 1)(rng));
      log::info("reconnecting", {{"in_ms", delay.count()}, {"failures", failures}});
      backoff.expires_after(delay);
      boost::system::error_code ec;
      co_await backoff.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
  }

  void renew() {
    auto r = renewCertificate(state);
    if (!r) {
      log::warn("certificate renewal failed; will retry", {{"error", r.error().message}});
      return;
    }
    if (auto saved = saveAgentState(config.state_dir, state); !saved) {
      log::error("renewed certificate not saved", {{"error", saved.error().message}});
    }
    log::info("certificate renewed", {{"not_after", state.cert_not_after}});
  }

  // One connection from dial to close. True when WELCOME arrived.
  asio::awaitable<bool> session() {
    beast::error_code ec;
    auto token = asio::redirect_error(asio::use_awaitable, ec);
    auto url = net::parseUrl(state.server_url);
    if (!url) co_return false;
    auto tls = net::makeClientContext({state.ca_pem, state.cert_pem, state.key_pem});
    if (!tls) {
      log::error("TLS setup failed", {{"error", tls.error().message}});
      co_return false;
    }
    asio::ip::tcp::resolver resolver(io);
    auto endpoints = co_await resolver.async_resolve(url->host, url->port, token);
    if (ec) {
      log::warn("cannot resolve server", {{"error", ec.message()}});
      co_return false;
    }
    net::WsStream ws(io, **tls);
    beast::get_lowest_layer(ws).expires_after(std::chrono::seconds(10));
    co_await beast::get_lowest_layer(ws).async_connect(endpoints, token);
    if (ec) {
      log::warn("cannot connect to server", {{"error", ec.message()}});
      co_return false;
    }
    SSL_set_tlsext_host_name(ws.next_layer().native_handle(), url->host.c_str());
    auto names = std::make_shared<net::ServerNameCheck>();
    ws.next_layer().set_verify_callback(net::verifyServerName(url->host, names));
    co_await ws.next_layer().async_handshake(asio::ssl::stream_base::client, token);
    if (ec) {
      log::warn(
          "TLS handshake failed",
          {{"error", names->mismatch ? net::serverNameMismatch(url->host, names->names_held).message : ec.message()}});
      co_return false;
    }
    beast::get_lowest_layer(ws).expires_never();
    ws.set_option(websocket::stream_base::timeout{std::chrono::seconds(10), websocket::stream_base::none(), false});
    ws.set_option(websocket::stream_base::decorator([](websocket::request_type& req) {
      req.set(beast::http::field::sec_websocket_protocol, protocol::kSubprotocol);
      req.set(beast::http::field::user_agent, "berth-agent");
    }));
    ws.read_message_max(static_cast<std::size_t>(config.max_frame_bytes) * 4);
    websocket::response_type upgrade;
    co_await ws.async_handshake(upgrade, url->host, "/agent/ws", token);
    if (ec) {
      log::warn("gateway refused the session", {{"error", ec.message()}, {"status", upgrade.result_int()}});
      co_return false;
    }
    auto channel = std::make_shared<net::WsChannel>(std::move(ws));
    channel->start();
    current = channel;
    protocol::FrameValidator validator(agentPolicy(state.node_id, state.signing_public_key, verbs.names(),
                                                   static_cast<std::int64_t>(config.clock_skew_s) * 1000,
                                                   static_cast<std::size_t>(config.max_frame_bytes),
                                                   static_cast<std::int64_t>(config.max_envelope_lifetime_s) * 1000));
    send(hello());
    bool welcomed = false;
    auto lastHeard = std::make_shared<Steady::time_point>(Steady::now());
    while (auto text = co_await channel->read()) {
      auto envelope = validator.accept(*text, clock());
      if (!envelope) {
        rejectFrame(validator.lastRefused(), envelope.error());
        continue;
      }
      *lastHeard = Steady::now();
      switch (envelope->type) {
        case FrameType::Welcome:
          if (!welcomed) {
            welcomed = true;
            applySettings(envelope->data);
            log::info("session established",
                      {{"node_id", state.node_id}, {"session_id", envelope->data.value("session_id", "")}});
            if (!trimmed) {  // start-up code has run; let its pages go
              trimResidentText();
              trimmed = true;
            }
            asio::co_spawn(io, sessionTicker(channel, lastHeard), asio::detached);
          }
          break;
        case FrameType::Heartbeat:
          if (envelope->data.contains("probe")) {  // the server asks whether this session is alive
            Envelope answer = frame(FrameType::Heartbeat);
            answer.data = {{"probe", true}};
            send(answer);
          }
          break;
        case FrameType::Command:
          onCommand(*envelope);
          break;
        case FrameType::Event:
          if (envelope->data.value("kind", std::string()) == "config") applySettings(envelope->data);
          break;
        case FrameType::Error:
          log::warn("server reported an error", {{"code", envelope->error ? envelope->error->code : ""},
                                                 {"message", envelope->error ? envelope->error->message : ""}});
          break;
        default:
          break;
      }
    }
    if (current == channel) current.reset();
    log::info("session ended", {{"node_id", state.node_id}});
    co_return welcomed;
  }

  // Telemetry sequence numbers grow across restarts: blocks of them are
  // reserved on disk before use, so a clock stepping back does not matter.
  std::int64_t nextTelemetrySeq() {
    constexpr std::int64_t kBlock = 1'000'000;
    if (telemetry_seq >= telemetry_seq_limit) {
      const std::string path = config.state_dir + "/telemetry.seq";
      std::int64_t floor = std::max(telemetry_seq, std::int64_t{0});
      if (auto text = pki::readFile(path)) {
        try {
          floor = std::max<std::int64_t>(floor, std::stoll(*text));
        } catch (const std::exception&) {
          log::warn("telemetry.seq unreadable; starting above the clock", {{"path", path}});
          floor = std::max(floor, clock() * 1000);
        }
      }
      if (auto r = pki::writePrivateFile(path, std::to_string(floor + kBlock)); !r)
        log::error("telemetry sequence not reserved", {{"error", r.error().message}});
      telemetry_seq = floor;
      telemetry_seq_limit = floor + kBlock;
    }
    return ++telemetry_seq;
  }

  void applySettings(const nlohmann::json& data) {
    heartbeat_interval_s = std::max(1, data.value("heartbeat_interval_s", heartbeat_interval_s));
    telemetry_interval_s = std::max(1, data.value("telemetry_interval_s", telemetry_interval_s));
  }

  // Answers a refused frame with an ERROR naming the command it was meant to
  // be (so the server can fail it) — but never an ERROR, and only a few a second.
  void rejectFrame(const protocol::Refused& what, const Error& error) {
    if (error.code == protocol::codes::kClockSkew && what.issued_at != 0 && skew_warnings.take(clock())) {
      log::error("this machine's clock differs from the server's; fix its time (NTP)",
                 {{"skew_s", (clock() - what.issued_at) / 1000}});
    }
    if (!error_replies.take(clock())) return;
    log::warn("frame rejected", {{"code", error.code}, {"reason", error.message}});
    if (what.type == FrameType::Error) return;
    send(protocol::makeErrorFrame(error, state.node_id, what.correlation_id, clock()));
  }

  void onCommand(const Envelope& command) {
    const auto& corr = command.correlation_id;
    switch (results.status(corr)) {
      case ResultCache::Status::Done:
        log::info("command already ran; answering from the stored result", {{"correlation_id", corr}});
        send(resultFrame(state.node_id, corr, *results.result(corr), true, clock()));
        return;
      case ResultCache::Status::Running:
        log::info("command still running; its result will follow", {{"correlation_id", corr}});
        return;
      case ResultCache::Status::New:
        break;
    }
    // Across restarts: a finished command is answered again, a replayed frame refused.
    if (auto stored = journal.result(corr)) {
      log::info("command ran before this agent restarted; answering from the journal", {{"correlation_id", corr}});
      results.markRunning(corr);
      results.finish(corr, *stored);
      send(resultFrame(state.node_id, corr, *stored, true, clock()));
      return;
    }
    if (!journal.admit(command.nonce, command.expires_at, clock())) {
      log::warn("replayed COMMAND refused", {{"correlation_id", corr}, {"nonce", command.nonce}});
      send(protocol::makeErrorFrame(makeError(protocol::codes::kReplay, "COMMAND nonce was already used"),
                                    state.node_id, corr, clock()));
      return;
    }
    if (auto saved = journal.save(); !saved) {  // remembered before it runs, or not run at all
      log::error("command journal not saved; command refused", {{"error", saved.error().message}});
      send(protocol::makeErrorFrame(makeError("journal_unavailable", saved.error().message), state.node_id, corr,
                                    clock()));
      return;
    }
    results.markRunning(corr);
    log::info("executing command", {{"correlation_id", corr}, {"verb", command.verb}});
    Envelope running = frame(FrameType::Event);
    running.correlation_id = corr;
    running.data = {{"kind", "command.running"}};
    send(running);
    if (appVerbs().count(command.verb)) {
      const std::string key = command.args.is_object() ? command.args.value("app", std::string()) : std::string();
      workers->post(key, [this, corr, verb = command.verb, args = command.args] { runAppCommand(corr, verb, args); });
      return;
    }
    auto delay = command.verb == "ping" ? pingDelayMs(command.args) : Result<int>(0);
    const int delayMs = delay ? *delay : 0;
    if (delayMs == 0) {
      complete(corr, verbs.run(command.verb, command.args));
      return;
    }
    auto timer = std::make_shared<asio::steady_timer>(io, std::chrono::milliseconds(delayMs));
    timer->async_wait([this, timer, corr, command](const boost::system::error_code&) {
      complete(corr, verbs.run(command.verb, command.args));
    });
  }

  void complete(const std::string& corr, const VerbOutcome& outcome) {
    results.finish(corr, outcome);
    journal.finish(corr, outcome);
    if (auto saved = journal.save(); !saved)
      log::error("command result not journaled", {{"correlation_id", corr}, {"error", saved.error().message}});
    log::info("command finished", {{"correlation_id", corr}, {"ok", outcome.ok}});
    send(resultFrame(state.node_id, corr, outcome, false, clock()));  // if no session, the server redelivers
  }

  // Heartbeats, telemetry and the dead-server check for one session.
  asio::awaitable<void> sessionTicker(std::shared_ptr<net::WsChannel> channel,
                                      std::shared_ptr<Steady::time_point> lastHeard) {
    asio::steady_timer tick(io);
    auto lastHeartbeat = Steady::now();
    auto lastTelemetry = Steady::time_point{};
    auto lastRenewalCheck = Steady::now();
    boost::system::error_code ec;
    while (!channel->closing() && !stopped) {
      tick.expires_after(std::chrono::milliseconds(250));
      co_await tick.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      flushLogs();
      const auto now = Steady::now();
      const auto interval = std::chrono::seconds(heartbeat_interval_s);
      if (now - *lastHeard > interval * 3) {
        log::warn("server silent for three heartbeat intervals; reconnecting");
        channel->abort();
        break;
      }
      if (now - lastHeartbeat >= interval) {
        send(frame(FrameType::Heartbeat));
        lastHeartbeat = now;
      }
      // A session can outlive the certificate it started with; the new one is used from the next dial.
      if (now - lastRenewalCheck >= kRenewalCheckInterval) {
        lastRenewalCheck = now;
        if (renewalDue(state, clock())) renew();
      }
      if (now - lastTelemetry >= std::chrono::seconds(telemetry_interval_s)) {
        Envelope t = frame(FrameType::Telemetry);
        t.data = sampler.metrics(config.state_dir);
        t.data["seq"] = nextTelemetrySeq();
        if (!container_stats.empty()) t.data["containers"] = container_stats;
        send(t);
        lastTelemetry = now;
      }
    }
  }

  void shutdown() {
    stopped = true;
    backoff.cancel();
    reconcile_timer.cancel();
    {
      std::lock_guard lock(runtime_mutex);
      if (supervisor) supervisor->stop();
    }
    for (auto& [id, follower] : followers) follower->stop();
    followers.clear();
    if (log_cursors.dirty()) saveLogCursors();
    if (signals) signals->cancel();
    if (current) current->close("agent shutting down");
    auto timer = std::make_shared<asio::steady_timer>(io, std::chrono::milliseconds(200));
    timer->async_wait([this, timer](const boost::system::error_code&) { io.stop(); });
  }
};

Agent::Agent(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Agent::~Agent() = default;

Result<std::unique_ptr<Agent>> Agent::create(AgentConfig config) {
  auto impl = std::make_unique<Impl>();
  impl->config = std::move(config);
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
  auto journal = CommandJournal::load(impl->config.state_dir + "/commands.json");
  if (!journal) return journal.error();
  impl->journal = std::move(*journal);
  impl->verbs = builtinVerbs(impl->sampler, kAgentVersion, impl->config.state_dir);
  // App verbs run on the worker (Impl::onCommand); registering them puts them on the allowlist.
  for (const auto& verb : appVerbs()) {
    impl->verbs.add(verb, [](const nlohmann::json&) {
      return VerbOutcome{false, 1, {}, "internal", "app verbs run on the worker thread"};
    });
  }
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
  asio::co_spawn(i.io, i.mainLoop(), asio::detached);
  i.io.run();
  i.workers.reset();
}

void Agent::stop() {
  asio::post(impl_->io, [this] { impl_->shutdown(); });
}

std::string Agent::nodeId() const { return impl_->state.node_id; }

}  // namespace berth::agent
