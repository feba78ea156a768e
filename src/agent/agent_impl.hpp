// Private to the agent's source files: Agent::Impl, the state one agent holds,
// and the methods agent.cpp (construction, run, shutdown), agent_session.cpp
// (dial, session loop, heartbeats, telemetry), agent_commands.cpp (COMMAND
// frames), agent_apps.cpp (the runtime and the supervisor on the workers) and
// agent_logs.cpp (following container logs, LOG frames) define.
#pragma once

#include "agent/agent.hpp"

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
#include <unistd.h>

#include "agent/agent_state.hpp"
#include "agent/app_supervisor.hpp"
#include "agent/build_registry.hpp"
#include "agent/command_journal.hpp"
#include "agent/command_runner.hpp"
#include "agent/enrollment.hpp"
#include "agent/keyed_workers.hpp"
#include "agent/log_buffer.hpp"
#include "agent/telemetry_sequence.hpp"
#include "agent/resident_trim.hpp"
#include "agent/verbs.hpp"
#include "common/clock.hpp"
#include "common/ids.hpp"
#include "common/json.hpp"
#include "common/version.hpp"
#include "common/logging.hpp"
#include "common/token_bucket.hpp"
#include "net/tls.hpp"
#include "net/url.hpp"
#include "net/ws_channel.hpp"
#include "pki/keys.hpp"
#include "pki/sealed_file.hpp"

namespace berth::agent {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using protocol::Envelope;
using protocol::FrameType;
using Steady = std::chrono::steady_clock;

inline constexpr std::size_t kResultCacheSize = 4096;
inline constexpr std::int64_t kFrameLifetimeMs = 60'000;
inline constexpr auto kRenewalCheckInterval = std::chrono::minutes(10);
inline constexpr std::size_t kMaxBufferedLogLines = 20'000;  // while the session is down (then the oldest are dropped)
inline constexpr std::size_t kMaxBufferedLogBytes = 16u << 20;  // and at most this much of them
inline constexpr std::size_t kMaxLinesPerLogFrame = 500;
inline constexpr auto kLogCursorSaveInterval = std::chrono::seconds(1);
inline constexpr int kSessionBackoffCapS = 15;  // once a session has existed
inline constexpr int kRuntimeThreads = 4;  // app work in parallel across apps, in order within one
inline constexpr auto kSettleTick = std::chrono::seconds(1);  // drain and watch deadlines are checked this often

struct Agent::Impl {
  AgentConfig config;
  AgentState state;
  asio::io_context io{1};
  RuntimeConnector connect_runtime;
  HostSampler sampler{nullptr};
  VerbRegistry verbs;
  BuildRegistry builds;  // source builds running on the workers, cancelled by app.build.cancel on the I/O thread
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
  std::optional<TelemetrySequence> telemetry_seq;  // set in create(): needs the state directory

  // Apps. The runtime and supervisor are used from the workers (keyed by app);
  // the log followers, buffered lines and latest container stats live on the I/O thread.
  std::mutex runtime_mutex;                                // guards the three below
  std::unique_ptr<runtime::ContainerRuntime> runtime;
  std::unique_ptr<AppSupervisor> supervisor;
  bool runtime_warned = false;
  std::mutex reconcile_mutex;
  std::set<std::string> reconcile_queued;  // apps with a reconcile task waiting
  std::set<std::string> settle_queued;     // apps with a settle step waiting
  std::shared_ptr<helper::HostActions> host_actions;  // null: host actions done here
  std::function<void(const std::string&)> on_app_network;  // AgentParts::on_app_network
  std::string app_gateway;          // as last told to on_app_network (under runtime_mutex)
  bool app_gateway_warned = false;  // "no gateway" said once while it lasts
  std::unique_ptr<AppRouter> router;       // the node's reverse proxy; outlives the supervisor that points at it
  runtime::ContainerRuntime* log_runtime = nullptr;  // `runtime`, told to the I/O thread once connected
  // Container id -> its log subscription; the number tells a late end of an
  // earlier subscription of the same container from the current one.
  struct Follower {
    std::uint64_t number = 0;
    std::unique_ptr<runtime::LogSubscription> subscription;
  };
  std::map<std::string, Follower> followers;
  std::uint64_t followers_started = 0;
  std::map<std::string, std::int64_t> last_log_ms;  // container id -> newest line seen
  LogBuffer pending_logs{kMaxBufferedLogLines, kMaxBufferedLogBytes};
  LogCursors log_cursors;            // container id -> newest line shipped, kept in <state_dir>/log_cursors.json
  bool had_log_cursor_file = false;
  Steady::time_point log_cursors_saved_at{};
  bool first_container_sync = true;
  std::int64_t started_ms = systemNowMs();
  nlohmann::json container_stats = nlohmann::json::array();
  nlohmann::json proxy_status;  // router->describe() as last seen on a worker, sent with TELEMETRY
  asio::steady_timer reconcile_timer{io};
  asio::steady_timer settle_timer{io};
  std::unique_ptr<KeyedWorkers> workers;  // declared last: joined first on destruction

  Envelope frame(FrameType type) const;

  void send(const Envelope& e);

  Envelope hello();

  // What the host has, and what of it apps may claim.
  nlohmann::json capacity();

  // ---- apps (worker thread) ----

  // Connects to the runtime on first use, and keeps trying on later calls while it
  // is not there (each Docker call opens its own connection afterwards).
  AppSupervisor* ensureSupervisor();
  void refreshAppNetwork();  // under runtime_mutex

  // After anything that may start or stop containers: follow the logs of what runs now.
  void publishRunning(bool with_stats);

  // On a worker keyed by the app: answers, then tidies up behind the answer.
  void runAppCommand(const std::string& corr, const std::string& verb, const nlohmann::json& args);

  // Each pass queues one reconcile per app on that app's key (so it never
  // overlaps the app's own commands) and skips apps whose last one still waits.
  void scheduleReconcile();
  void scheduleSettle();
  void queueCertificateRefresh();

  // ---- logs (I/O thread) ----

  void syncFollowers(const std::vector<RunningContainer>& running);

  // Sends buffered lines as LOG frames, one per app, at most kMaxLinesPerLogFrame each; an app
  // whose lines were dropped is told how many (the server records an app event).
  void flushLogs();

  std::string logCursorPath() const { return config.state_dir + "/log_cursors.json"; }

  void loadLogCursors();

  void saveLogCursors();

  asio::awaitable<void> mainLoop();

  void renew();

  // One connection from dial to close. True when WELCOME arrived.
  asio::awaitable<bool> session();

  // Telemetry sequence numbers grow across restarts: blocks of them are
  // reserved on disk before use, so a clock stepping back does not matter.

  void applySettings(const nlohmann::json& data);

  // Answers a refused frame with an ERROR naming the command it was meant to
  // be (so the server can fail it) — but never an ERROR, and only a few a second.
  void rejectFrame(const protocol::Refused& what, const Error& error);

  void onCommand(const Envelope& command);

  void complete(const std::string& corr, const VerbOutcome& outcome);

  // Heartbeats, telemetry and the dead-server check for one session.
  asio::awaitable<void> sessionTicker(std::shared_ptr<net::WsChannel> channel,
                                      std::shared_ptr<Steady::time_point> lastHeard);

  void shutdown();
};

}  // namespace berth::agent
