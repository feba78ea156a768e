// The agent gateway: one session per connected agent (a newer session for the
// same node replaces the older), HELLO/WELCOME, heartbeats, telemetry,
// command dispatch and results. Everything runs on the server's single I/O
// thread, so sessions and the command queue need no locks.
#pragma once

#include <utility>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
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
  Gateway(boost::asio::any_io_executor executor, store::Store& store, CommandService& commands, Metrics& metrics,
          Clock clock, const ServerConfig& config, const ServerIdentity& identity);

  // Starts the 1 s housekeeping tick (heartbeats, missed-heartbeat checks, expiry).
  void start();
  void stop();
  // Serves one agent connection until it ends. `node_id` comes from the
  // verified client certificate.
  boost::asio::awaitable<void> serve(std::shared_ptr<net::WsChannel> channel, std::string node_id);
  // Sends queued commands to the node if it has a session.
  void pump(const std::string& node_id);
  // Closes the node's session at once (revocation).
  void disconnect(const std::string& node_id, const std::string& reason);
  // Tells connected agents about reloaded settings.
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
    std::string id;
    std::string node_id;
    std::shared_ptr<net::WsChannel> channel;
    protocol::FrameValidator validator;
    std::chrono::steady_clock::time_point last_seen = std::chrono::steady_clock::now();
    std::chrono::steady_clock::time_point last_heartbeat_sent = std::chrono::steady_clock::now();
    std::int64_t last_seen_ms = 0;
    std::int64_t telemetry_seq = 0;
    TokenBucket error_replies{1.0, 10.0};     // ERROR frames (and log lines) answering bad frames
    TokenBucket refusal_records{0.1, 1.0};    // node.last_refusal writes
  };

  protocol::ValidationPolicy policy(const std::string& node_id) const;
  std::int64_t maxLifetimeMs() const { return static_cast<std::int64_t>(config_.max_envelope_lifetime_s) * 1000; }
  protocol::Envelope frame(protocol::FrameType type, const std::string& node_id) const;
  void send(Session& session, const protocol::Envelope& envelope);
  void reject(Session& session, const Error& error, const std::string& correlation_id);
  void refused(Session& session, const Error& error);
  void recordRefusal(const std::string& node_id, const std::string& reason, std::optional<std::int64_t> skew);
  boost::asio::awaitable<bool> answersProbe(std::shared_ptr<Session> session);
  Result<void> handleHello(Session& session, const protocol::Envelope& hello);
  void handleFrame(Session& session, const protocol::Envelope& envelope);
  void endSession(const std::shared_ptr<Session>& session);
  boost::asio::awaitable<void> tickLoop();
  void tick();
  void flushTelemetry();

  boost::asio::any_io_executor executor_;
  store::Store& store_;
  CommandService& commands_;
  Metrics& metrics_;
  Clock clock_;
  const ServerConfig& config_;
  const ServerIdentity& identity_;
  std::unordered_map<std::string, std::shared_ptr<Session>> sessions_;  // by node id
  // TELEMETRY waits here and is written in one transaction per tick.
  std::vector<std::pair<std::string, store::TelemetrySample>> pending_telemetry_;
  std::unordered_map<std::string, std::int64_t> telemetry_seq_;  // newest accepted, by node (not yet stored, maybe)
  boost::asio::steady_timer ticker_;
  bool stopped_ = false;
  std::uint64_t ticks_ = 0;
  std::function<Result<nlohmann::json>(const store::Command&)> dispatch_args_;
  std::function<void(const std::string&, const protocol::AppFrame&)> app_listener_;
};

}  // namespace berth::server
