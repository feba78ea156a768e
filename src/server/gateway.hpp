// The agent gateway: one session per connected agent (a newer session for the
// same node replaces the older), HELLO/WELCOME, heartbeats, telemetry,
// command dispatch and results.
//
// No locks: each session's socket, reads, frame validation, and the signing
// and serializing of what it is sent run on its network thread (one of
// io_threads; a session stays on one); everything that touches the store or
// the command queue (the session table, HELLO, frame handling, dispatch, the
// tick) runs on the service thread, reached by posting. A slow disk stalls the
// service thread, not the reads, TLS handshakes or heartbeat bookkeeping of sessions.
#pragma once

#include <utility>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <unordered_map>

#include "common/clock.hpp"
#include "common/token_bucket.hpp"
#include "net/ws_channel.hpp"
#include "protocol/agent_frames.hpp"
#include "protocol/envelope.hpp"
#include "protocol/validator.hpp"
#include "server/command_service.hpp"
#include "server/identity.hpp"
#include "server/metrics.hpp"
#include "server/server_config.hpp"
#include "store/store.hpp"

namespace berth::server {

class Gateway {
 public:
  // `service`: the thread that owns the store, the command queue and this
  // object's session table. Sessions run on their channel's executor.
  Gateway(boost::asio::any_io_executor service, store::Store& store,
          CommandService& commands, Metrics& metrics, Clock clock, const ServerConfig& config,
          const ServerIdentity& identity);

  // Starts the 1 s housekeeping tick (heartbeats, missed-heartbeat checks, expiry). Service thread.
  void start();
  void stop();
  // Serves one agent connection until it ends; runs on the channel's network thread.
  // `node_id` comes from the verified client certificate. `until_hello` (may
  // be empty) is called once on the network thread, when a HELLO is welcomed
  // or the connection ends before one: the listener counts the connection
  // against its client address until then.
  boost::asio::awaitable<void> serve(std::shared_ptr<net::WsChannel> channel, std::string node_id,
                                     std::function<void()> until_hello = {});
  // The members below run on the service thread.
  // Sends queued commands to the node if it has a session.
  void pump(const std::string& node_id);
  // Closes the node's session at once (revocation).
  void disconnect(const std::string& node_id, const std::string& reason);
  // Tells connected agents about reloaded settings and applies them to new frames.
  void broadcastConfig();
  // Turns a stored command's args into what is signed and sent (e.g. unsealing
  // secrets). An error fails the command instead of sending it.
  void setDispatchArgs(std::function<Result<nlohmann::json>(const store::Command&)> fn) {
    dispatch_args_ = std::move(fn);
  }
  // Receives EVENT (kind "app") and LOG frames from agents.
  void setAppListener(std::function<void(const std::string& node_id, const protocol::AppFrame&)> fn) {
    app_listener_ = std::move(fn);
  }

  bool online(const std::string& node_id) const { return sessions_.count(node_id) > 0; }
  std::string sessionId(const std::string& node_id) const;
  // Wall time of the last frame from the node's live session (0 when none).
  std::int64_t lastSeenMs(const std::string& node_id) const;
  std::size_t sessionCount() const { return sessions_.size(); }

 private:
  struct Session {
    Session(std::string id_, std::string node, std::shared_ptr<net::WsChannel> ch, protocol::FrameValidator v)
        : id(std::move(id_)), node_id(std::move(node)), channel(std::move(ch)), validator(std::move(v)) {}
    void touch(std::int64_t wall_ms) {
      last_seen_steady_ns = std::chrono::steady_clock::now().time_since_epoch().count();
      last_seen_ms = wall_ms;
    }
    std::chrono::steady_clock::time_point lastSeen() const {
      return std::chrono::steady_clock::time_point(std::chrono::steady_clock::duration(last_seen_steady_ns.load()));
    }

    const std::string id;
    const std::string node_id;
    const std::shared_ptr<net::WsChannel> channel;
    // Network thread only.
    protocol::FrameValidator validator;
    // Written by the network thread, read by the service thread.
    std::atomic<std::int64_t> last_seen_steady_ns{std::chrono::steady_clock::now().time_since_epoch().count()};
    std::atomic<std::int64_t> last_seen_ms{0};
    // This session's frame bytes waiting for the service thread (network thread adds, service subtracts).
    std::atomic<std::int64_t> backlog_bytes{0};
    // Service thread only.
    std::chrono::steady_clock::time_point last_heartbeat_sent = std::chrono::steady_clock::now();
    std::int64_t telemetry_seq = 0;
    TokenBucket error_replies{1.0, 10.0};     // ERROR frames (and log lines) answering bad frames
    TokenBucket refusal_records{0.1, 1.0};    // node.last_refusal writes
  };
  enum class Greeting { Welcomed, Refused, Closed };

  std::shared_ptr<const protocol::ValidationPolicy> makePolicy() const;
  std::int64_t maxLifetimeMs() const { return static_cast<std::int64_t>(config_.max_envelope_lifetime_s) * 1000; }
  protocol::Envelope frame(protocol::FrameType type, const std::string& node_id) const;
  // Channel calls from the service thread, posted to the session's network executor.
  void send(Session& session, const protocol::Envelope& envelope);
  // Signs `envelope` with the server's key on the session's network thread, then sends it.
  void sendSigned(Session& session, protocol::Envelope envelope);
  static void closeChannel(const std::shared_ptr<net::WsChannel>& channel, std::string reason);
  static void abortChannel(const std::shared_ptr<net::WsChannel>& channel);
  // Runs `handler` on the service thread; a throw ends that session visibly. `frame_bytes` (the
  // frame's text) counts in the service backlog until the handler has run.
  void onService(std::shared_ptr<Session> session, std::function<void(Session&)> handler,
                 std::size_t frame_bytes = 0);
  // Whether `session` must stop reading: the service backlog is over service_backlog_kib, or the
  // session's own share of it over an eighth (one flooding agent pauses itself, not the others).
  bool overServiceBacklog(const Session& session, std::int64_t divisor = 1) const;
  // Network thread: returns once neither is over half its mark.
  boost::asio::awaitable<void> waitForServiceBacklog(std::shared_ptr<Session> session);
  void failSession(const std::shared_ptr<Session>& session, const std::string& what);
  void reject(Session& session, const Error& error, const std::string& correlation_id);
  void refused(Session& session, const Error& error, const protocol::Refused& what);
  void recordRefusal(const std::string& node_id, const std::string& reason, std::optional<std::int64_t> skew);
  boost::asio::awaitable<Greeting> greet(std::shared_ptr<Session> session, protocol::Envelope hello);
  boost::asio::awaitable<bool> answersProbe(std::shared_ptr<Session> session);
  Result<void> handleHello(Session& session, const protocol::Envelope& hello);
  void handleFrame(Session& session, const protocol::Envelope& envelope);
  // An audit record by the node about itself (online, unreachable), in the caller's transaction.
  Result<void> auditNode(const store::Node& node, const std::string& action, const std::string& detail);
  void endSession(const std::shared_ptr<Session>& session);
  // The node's state once its session ended (unreachable, last seen, audited); false when the store
  // refused, and then retried each tick (retryUnstoredSessionEnds) until stored or the node is back.
  bool storeSessionEnd(const std::string& node_id, const std::string& session_id);
  void retryUnstoredSessionEnds();
  boost::asio::awaitable<void> tickLoop();
  void tick();
  void flushTelemetry();

  boost::asio::any_io_executor service_;
  store::Store& store_;
  CommandService& commands_;
  Metrics& metrics_;
  Clock clock_;
  const ServerConfig& config_;
  const ServerIdentity& identity_;
  // The frame rules new sessions take, replaced whole on reload (read by the network thread).
  std::atomic<std::shared_ptr<const protocol::ValidationPolicy>> policy_;
  // agent_frames_per_s / agent_frames_burst for new sessions (read by the network thread).
  std::atomic<int> frames_per_s_{0};
  std::atomic<int> frames_burst_{0};
  std::atomic<std::int64_t> service_backlog_max_bytes_{0};  // service_backlog_kib (read by the network thread)
  std::unordered_map<std::string, std::shared_ptr<Session>> sessions_;  // by node id
  // TELEMETRY waits here and is written in one transaction per tick, one sample per node (the newest).
  std::vector<std::pair<std::string, store::TelemetrySample>> pending_telemetry_;
  std::unordered_map<std::string, std::size_t> pending_telemetry_at_;  // node id -> index in pending_telemetry_
  std::unordered_map<std::string, std::int64_t> telemetry_seq_;
  std::unordered_map<std::string, std::string> unstored_session_ends_;  // node id -> ended session id  // newest accepted, by node (not yet stored, maybe)
  boost::asio::steady_timer ticker_;
  bool stopped_ = false;
  std::uint64_t ticks_ = 0;
  std::function<Result<nlohmann::json>(const store::Command&)> dispatch_args_;
  std::function<void(const std::string&, const protocol::AppFrame&)> app_listener_;
};

}  // namespace berth::server
