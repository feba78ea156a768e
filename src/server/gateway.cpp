#include "server/gateway.hpp"


#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "common/free_memory.hpp"
#include "common/ids.hpp"
#include "common/logging.hpp"
#include "protocol/agent_frames.hpp"
#include "protocol/signing.hpp"
#include "server/service_inbox.hpp"
#include "server/audit_log.hpp"

namespace berth::server {
namespace asio = boost::asio;
using protocol::Envelope;
using protocol::FrameType;

namespace {
constexpr std::int64_t kFrameLifetimeMs = 60'000;
constexpr std::uint64_t kTrimEveryTicks = 10;
constexpr auto kHelloTimeout = std::chrono::seconds(10);
constexpr auto kDuplicateProbeTimeout = std::chrono::seconds(2);
constexpr std::int64_t kMaxTelemetrySeq = std::int64_t{1} << 62;  // as the agent's (agent/telemetry_sequence.hpp)

Error schema(const std::string& field, const std::string& rule) {
  return makeError(protocol::codes::kSchema, "field '" + field + "': " + rule);
}
}  // namespace

Gateway::Gateway(asio::any_io_executor service, store::Store& store, CommandService& commands, Metrics& metrics,
                 Clock clock, const ServerConfig& config, const ServerIdentity& identity)
    : service_(service),
      store_(store),
      commands_(commands),
      metrics_(metrics),
      clock_(std::move(clock)),
      config_(config),
      identity_(identity),
      ticker_(service) {
  policy_.store(makePolicy());
  frames_per_s_ = config_.agent_frames_per_s;
  service_backlog_max_bytes_ = std::int64_t{config_.service_backlog_kib} * 1024;
  frames_burst_ = config_.agent_frames_burst;
}

std::shared_ptr<const protocol::ValidationPolicy> Gateway::makePolicy() const {
  auto p = std::make_shared<protocol::ValidationPolicy>();
  p->max_lifetime_ms = static_cast<std::int64_t>(config_.max_envelope_lifetime_s) * 1000;
  p->max_frame_bytes = static_cast<std::size_t>(config_.max_frame_bytes);
  p->max_clock_skew_ms = static_cast<std::int64_t>(config_.clock_skew_s) * 1000;
  p->accepted_types = {FrameType::Hello, FrameType::Heartbeat, FrameType::Telemetry, FrameType::Result,
                       FrameType::Log,   FrameType::Event,     FrameType::Error};
  return p;
}

Envelope Gateway::frame(FrameType type, const std::string& node_id) const {
  return protocol::newEnvelope(type, node_id, clock_(), kFrameLifetimeMs);
}

void Gateway::send(Session& session, const Envelope& envelope) {
  asio::post(session.channel->executor(),
             [channel = session.channel, text = protocol::serialize(envelope)]() mutable { channel->send(std::move(text)); });
}

void Gateway::sendSigned(Session& session, protocol::Envelope envelope) {
  // Signing and serializing are most of a COMMAND's cost; the session's own
  // network thread does them, so the service thread's time goes to the queue.
  asio::post(session.channel->executor(),
             [channel = session.channel, e = std::move(envelope), &key = identity_.signing_secret_key]() mutable {
               protocol::sign(e, key);
               channel->send(protocol::serialize(e));
             });
}

void Gateway::closeChannel(const std::shared_ptr<net::WsChannel>& channel, std::string reason) {
  asio::post(channel->executor(), [channel, reason = std::move(reason)] { channel->close(reason); });
}

void Gateway::abortChannel(const std::shared_ptr<net::WsChannel>& channel) {
  asio::post(channel->executor(), [channel] { channel->abort(); });
}

void Gateway::onService(std::shared_ptr<Session> session, std::function<void(Session&)> handler,
                        std::size_t frame_bytes) {
  const auto here = session->channel->executor();
  const auto bytes = static_cast<std::int64_t>(frame_bytes);
  session->backlog_bytes += bytes;
  const std::int64_t backlog = metrics_.service_backlog_bytes += bytes;
  for (auto peak = metrics_.service_backlog_peak_bytes.load();
       backlog > peak && !metrics_.service_backlog_peak_bytes.compare_exchange_weak(peak, backlog);) {
  }
  postToService(here, service_, [this, session = std::move(session), handler = std::move(handler), bytes] {
    try {
      handler(*session);
    } catch (const std::exception& e) {
      failSession(session, e.what());
    }
    metrics_.service_backlog_bytes -= bytes;
    session->backlog_bytes -= bytes;
  });
}

bool Gateway::overServiceBacklog(const Session& session, std::int64_t divisor) const {
  const std::int64_t max = service_backlog_max_bytes_.load();
  return metrics_.service_backlog_bytes.load() > max / divisor || session.backlog_bytes.load() > max / (8 * divisor);
}

asio::awaitable<void> Gateway::waitForServiceBacklog(std::shared_ptr<Session> session) {
  ++metrics_.agent_reads_paused_total;
  // Polled: the pause is rare (the service thread is behind) and a timer per paused session
  // costs nothing while it is not; resuming at half leaves room before the next pause.
  asio::steady_timer wait(co_await asio::this_coro::executor);
  while (overServiceBacklog(*session, 2)) {
    // Unread is not silent: the missed-heartbeat check must not drop an agent the server holds back.
    session->touch(clock_());
    wait.expires_after(std::chrono::milliseconds(2));
    boost::system::error_code ec;
    co_await wait.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return;
  }
}

// A bug in a handler: end this session through the normal path, visibly. Service thread.
void Gateway::failSession(const std::shared_ptr<Session>& session, const std::string& what) {
  ++metrics_.frames_rejected_total["internal"];
  log::error("agent session failed", {{"node_id", session->node_id}, {"session_id", session->id}, {"error", what}});
  recordRefusal(session->node_id, "internal error in the server's session: " + what, std::nullopt);
  abortChannel(session->channel);
}

void Gateway::reject(Session& session, const Error& error, const std::string& correlation_id) {
  ++metrics_.frames_rejected_total[error.code];
  // A peer that keeps sending bad frames gets a few answers and log lines, not one per frame.
  if (!session.error_replies.take(clock_())) {
    ++metrics_.frames_rejected_total["unanswered"];
    return;
  }
  log::warn(
      "frame rejected",
      {{"node_id", session.node_id}, {"session_id", session.id}, {"code", error.code}, {"reason", error.message}});
  send(session, protocol::makeErrorFrame(error, session.node_id, correlation_id, clock_()));
}

void Gateway::start() { asio::co_spawn(service_, tickLoop(), asio::detached); }

void Gateway::stop() {
  stopped_ = true;
  flushTelemetry();
  ticker_.cancel();
  for (auto& [id, session] : sessions_) closeChannel(session->channel, "server shutting down");
}

std::int64_t Gateway::lastSeenMs(const std::string& node_id) const {
  auto it = sessions_.find(node_id);
  return it == sessions_.end() ? 0 : it->second->last_seen_ms.load();
}

std::string Gateway::sessionId(const std::string& node_id) const {
  auto it = sessions_.find(node_id);
  return it == sessions_.end() ? std::string() : it->second->id;
}

asio::awaitable<void> Gateway::serve(std::shared_ptr<net::WsChannel> channel, std::string node_id,
                                     std::function<void()> until_hello) {
  auto helloOver = [&until_hello] {
    if (auto done = std::exchange(until_hello, nullptr)) done();
  };
  protocol::ValidationPolicy rules = *policy_.load();
  rules.expected_agent_id = node_id;  // the client certificate's CN
  auto session = std::make_shared<Session>(newId("s"), node_id, channel, protocol::FrameValidator(std::move(rules)));
  channel->start();
  bool registered = false;
  // A connection that never says HELLO would otherwise hold its slot forever.
  // The clock stops when a HELLO arrives, not when the service thread has
  // answered it: in a reconnect storm HELLOs wait their turn there, and closing
  // them would only send their agents to the back of the queue.
  auto helloDeadline = std::make_shared<asio::steady_timer>(channel->executor());
  const auto helloBy = std::chrono::steady_clock::now() + kHelloTimeout;
  auto armHelloDeadline = [helloDeadline, helloBy, channel, node_id] {
    helloDeadline->expires_at(helloBy);
    helloDeadline->async_wait([channel, node_id](const boost::system::error_code& ec) {
      if (ec) return;
      log::warn("no HELLO in time; closing", {{"node_id", node_id}});
      channel->abort();
    });
  };
  armHelloDeadline();
  // Frames per session (agent_frames_per_s): a flooding agent is cut off, not
  // answered frame by frame; its commands stay durable and go out again when it
  // reconnects. Network thread only.
  TokenBucket frameBudget(frames_per_s_.load(), frames_burst_.load());
  try {
    while (auto text = co_await channel->read()) {
      if (!frameBudget.take(clock_())) {
        ++metrics_.agent_frames_rate_limited_total;
        log::warn("agent over agent_frames_per_s; closing its session", {{"node_id", node_id}});
        channel->abort();
        break;
      }
      // The service thread is behind: read no more until it caught up (TCP holds the agent back).
      // What the agent sent meanwhile arrives at once: the pause is credited to its frame budget.
      if (overServiceBacklog(*session)) {
        const auto pausedAt = std::chrono::steady_clock::now();
        co_await waitForServiceBacklog(session);
        frameBudget.credit(std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - pausedAt).count());
      }
      const std::size_t frameBytes = text->size();
      auto envelope = session->validator.accept(*text, clock_());
      if (!envelope) {
        onService(
            session,
            [this, error = envelope.error(), what = session->validator.lastRefused()](Session& s) { refused(s, error, what); },
            frameBytes);
        continue;
      }
      session->touch(clock_());
      if (registered) {
        onService(session, [this, e = std::move(*envelope)](Session& s) { handleFrame(s, e); }, frameBytes);
        continue;
      }
      if (envelope->type != FrameType::Hello) {
        onService(session, [this](Session& s) {
          reject(s, makeError(protocol::codes::kUnexpected, "the first frame must be HELLO"), "");
        });
        continue;
      }
      helloDeadline->cancel();  // it arrived; re-armed below if refused
      // Reads pause until the service thread has answered the HELLO. Named, not
      // temporaries in the co_await: g++ 12 destroys such temporaries twice.
      auto greetOnService = [this, session, hello = std::move(*envelope)]() { return greet(session, hello); };
      auto greeted_op = asio::co_spawn(service_, std::move(greetOnService), asio::use_awaitable);
      const Greeting greeting = co_await std::move(greeted_op);
      if (greeting == Greeting::Closed) break;
      if (greeting == Greeting::Refused) {
        armHelloDeadline();  // same deadline: a refused HELLO buys no time for the next one
        continue;
      }
      registered = true;
      helloOver();
    }
  } catch (const std::exception& e) {
    postToService(channel->executor(), service_,
                  [this, session, what = std::string(e.what())] { failSession(session, what); });
  }
  helloDeadline->cancel();
  helloOver();
  // Behind the session's frames still on their way to the service thread.
  if (registered) postToService(channel->executor(), service_, [this, session] { endSession(session); });
}

asio::awaitable<Gateway::Greeting> Gateway::greet(std::shared_ptr<Session> session, Envelope hello) {
  const std::string& node_id = session->node_id;
  if (auto old = sessions_.find(node_id); old != sessions_.end()) {
    // One live session per identity: a second one is refused while the
    // first still answers (a copied key), and replaces it otherwise.
    auto first = old->second;
    if (co_await answersProbe(first)) {
      const std::string why = "a second session for this node was refused while the first (" + first->id +
                              ") still answered: is its key in use on two machines?";
      log::warn("duplicate session refused", {{"node_id", node_id}, {"session_id", session->id}});
      ++metrics_.frames_rejected_total["duplicate_session"];
      recordRefusal(node_id, why, std::nullopt);
      reject(*session, makeError("duplicate_session", why), "");
      closeChannel(session->channel, "duplicate session");
      co_return Greeting::Closed;
    }
    if (auto still = sessions_.find(node_id); still != sessions_.end() && still->second == first) {
      log::info("session replaced", {{"node_id", node_id}, {"old_session_id", first->id}});
      commands_.requeueInFlight(node_id);
      closeChannel(first->channel, "replaced by a newer session");
      sessions_.erase(still);
      --metrics_.sessions_active;
    }
  }
  if (auto r = handleHello(*session, hello); !r) {
    reject(*session, r.error(), "");
    co_return Greeting::Refused;
  }
  sessions_[node_id] = session;
  ++metrics_.sessions_active;
  ++metrics_.sessions_opened_total;
  Envelope welcome = frame(FrameType::Welcome, node_id);
  welcome.data = {{"session_id", session->id},
                  {"heartbeat_interval_s", config_.heartbeat_interval_s},
                  {"telemetry_interval_s", config_.telemetry_interval_s},
                  {"command_timeout_s", config_.command_timeout_s},
                  {"server_time", clock_()},
                  // The agent numbers its telemetry above this, whatever its own files say.
                  {"telemetry_seq", session->telemetry_seq}};
  protocol::sign(welcome, identity_.signing_secret_key);
  send(*session, welcome);
  log::info("agent session opened", {{"node_id", node_id}, {"session_id", session->id}});
  pump(node_id);
  co_return Greeting::Welcomed;
}

asio::awaitable<bool> Gateway::answersProbe(std::shared_ptr<Session> session) {
  const auto asked = std::chrono::steady_clock::now();
  Envelope probe = frame(FrameType::Heartbeat, session->node_id);
  probe.data = {{"probe", true}};
  send(*session, probe);
  asio::steady_timer wait(service_, kDuplicateProbeTimeout);
  boost::system::error_code ec;
  co_await wait.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  co_return session->lastSeen() > asked && !session->channel->closing();
}

void Gateway::refused(Session& session, const Error& error, const protocol::Refused& what) {
  std::optional<std::int64_t> skew;
  if (error.code == protocol::codes::kClockSkew && what.issued_at != 0) skew = what.issued_at - clock_();
  if (session.refusal_records.take(clock_())) recordRefusal(session.node_id, error.code + ": " + error.message, skew);
  // Never answer an ERROR with an ERROR: two sides that both refuse would echo for ever.
  if (what.type == FrameType::Error) {
    ++metrics_.frames_rejected_total[error.code];
    return;
  }
  reject(session, error, what.correlation_id);
}

void Gateway::recordRefusal(const std::string& node_id, const std::string& reason, std::optional<std::int64_t> skew) {
  auto node = store_.getNode(node_id);
  if (!node || !*node) return;
  store::Node updated = **node;
  updated.last_refusal = reason.substr(0, 512);
  updated.last_refusal_at = clock_();
  if (skew) updated.clock_skew_ms = *skew;
  if (auto r = store_.upsertNode(updated); !r)
    log::error("node refusal not recorded", {{"node_id", node_id}, {"error", r.error().message}});
}

Result<void> Gateway::handleHello(Session& session, const Envelope& hello) {
  const auto& d = hello.data;
  for (const char* field : {"hostname", "version"}) {
    if (!d.contains(field) || !d[field].is_string())
      return schema(std::string("data.") + field, "is required and must be a string");
  }
  if (d.contains("site") && !d["site"].is_string()) return schema("data.site", "must be a string");
  for (const char* field : {"labels", "capacity"}) {
    if (d.contains(field) && !d[field].is_object()) return schema(std::string("data.") + field, "must be an object");
  }
  for (const char* field : {"capabilities", "verbs"}) {
    if (d.contains(field) && !d[field].is_array()) return schema(std::string("data.") + field, "must be an array");
  }
  if (auto text = protocol::checkHelloText(d); !text) return text.error();
  auto existing = store_.getNode(session.node_id);
  if (!existing) return existing.error();
  if (!*existing) return makeError("unknown_node", "node " + session.node_id + " is not enrolled");
  store::Node node = **existing;
  if (node.status == store::NodeStatus::Revoked) return makeError("revoked", "node is revoked");
  node.hostname = d["hostname"];
  node.version = d["version"];
  node.site = d.value("site", std::string());
  node.labels = d.value("labels", nlohmann::json::object());
  node.capacity = d.value("capacity", nlohmann::json::object());
  node.capabilities = d.value("capabilities", nlohmann::json::array());
  node.verbs = d.value("verbs", nlohmann::json::array());
  node.status = store::NodeStatus::Online;
  node.last_seen_at = clock_();
  node.clock_skew_ms = hello.issued_at - node.last_seen_at;
  auto seq = store_.latestTelemetrySeq(session.node_id);
  if (!seq) return seq.error();
  session.telemetry_seq = std::max(session.telemetry_seq, *seq);
  if (auto live = telemetry_seq_.find(session.node_id); live != telemetry_seq_.end())
    session.telemetry_seq = std::max(session.telemetry_seq, live->second);
  node.session_id = session.id;
  // Online (and the facts it reports) with its audit record, in one transaction.
  return store_.transaction([&]() -> Result<void> {
    if (auto r = store_.upsertNode(node); !r) return r;
    return auditNode(node, "node online", "session " + session.id + ", version " + node.version);
  });
}

Result<void> Gateway::auditNode(const store::Node& node, const std::string& action, const std::string& detail) {
  store::AuditRecord record;
  record.at = clock_();
  record.actor = "node:" + node.id;
  record.org = node.org;
  record.action = action;
  record.target = node.id;
  record.outcome = "ok";
  record.detail = detail;
  auto appended = appendAudit(store_, std::move(record));
  if (!appended) return appended.error();
  return Ok{};
}

void Gateway::handleFrame(Session& session, const Envelope& e) {
  switch (e.type) {
    case FrameType::Heartbeat:
      return;
    case FrameType::Telemetry: {
      // A per-node sequence, kept across sessions and restarts, refuses replays.
      auto seq = e.data.find("seq");
      if (seq == e.data.end() || !seq->is_number_integer() || seq->get<std::int64_t>() <= session.telemetry_seq) {
        reject(session, schema("data.seq", "must be an integer above the last one stored (" +
                                               std::to_string(session.telemetry_seq) + "): a replay?"),
               "");
        return;
      }
      // A number at the top of the range would leave the node no number to send next.
      if (seq->get<std::int64_t>() > kMaxTelemetrySeq) {
        reject(session, schema("data.seq", "must be at most 2^62"), "");
        return;
      }
      session.telemetry_seq = seq->get<std::int64_t>();
      telemetry_seq_[session.node_id] = session.telemetry_seq;
      ++metrics_.telemetry_frames_total;
      metrics_.recordCertificates(session.node_id, e.data.is_object() ? e.data.value("proxy", nlohmann::json()) : nlohmann::json());
      // At most one sample per node per flush (the newest): a node sending
      // faster than the 1 s tick costs one row a second, and its latest view
      // stays exact.
      store::TelemetrySample sample{e.issued_at, e.data, session.telemetry_seq};
      auto [slot, fresh] = pending_telemetry_at_.try_emplace(session.node_id, pending_telemetry_.size());
      if (fresh) {
        pending_telemetry_.emplace_back(session.node_id, std::move(sample));
      } else {
        pending_telemetry_[slot->second].second = std::move(sample);
        ++metrics_.telemetry_coalesced_total;
      }
      return;
    }
    case FrameType::Event: {
      const std::string kind = protocol::eventKind(e.data);
      if (kind == "command.running") commands_.markRunning(session.node_id, e.correlation_id);
      if (kind != "app" || !app_listener_) return;
      auto event = protocol::parseAppEvent(e.data);
      if (!event) return reject(session, event.error(), e.correlation_id);
      app_listener_(session.node_id, protocol::AppFrame{std::move(*event)});
      return;
    }
    case FrameType::Result:
    case FrameType::Error: {
      // An ERROR carrying a correlation id is the agent refusing that command.
      const std::string error = e.error ? e.error->code + ": " + e.error->message : std::string();
      if (e.type == FrameType::Error && e.correlation_id.empty()) {
        log::warn("agent reported an error", {{"node_id", session.node_id}, {"error", error}});
        return;
      }
      if (!commands_.complete(session.node_id, e.correlation_id, e.data, error)) {
        log::debug("result for a command not in flight", {{"correlation_id", e.correlation_id}});
      }
      pump(session.node_id);
      return;
    }
    case FrameType::Log: {
      if (!app_listener_) return;
      auto logs = protocol::parseLogFrame(e.data);
      if (!logs) return reject(session, logs.error(), e.correlation_id);
      app_listener_(session.node_id, protocol::AppFrame{std::move(*logs)});
      return;
    }
    default:
      reject(session, makeError(protocol::codes::kUnexpected, "unexpected frame after HELLO"), e.correlation_id);
  }
}

void Gateway::pump(const std::string& node_id) {
  auto it = sessions_.find(node_id);
  if (it == sessions_.end()) return;
  auto& session = *it->second;
  for (const auto& command : commands_.takeForDispatch(node_id)) {
    Envelope e = frame(FrameType::Command, node_id);
    e.correlation_id = command.correlation_id;
    e.verb = command.verb;
    if (dispatch_args_) {
      auto args = dispatch_args_(command);
      if (!args) {
        log::error("command not sent", {{"command_id", command.id}, {"error", args.error().message}});
        commands_.complete(node_id, command.correlation_id, nlohmann::json::object(),
                           args.error().code + ": " + args.error().message);
        continue;
      }
      e.args = std::move(*args);
    } else {
      e.args = command.args;
    }
    // Re-signed at each dispatch: the envelope lives at most the maximum
    // lifetime even when the command's TTL is days.
    e.expires_at = std::max(std::min(command.expires_at, e.issued_at + maxLifetimeMs()), e.issued_at + 1);
    sendSigned(session, std::move(e));
  }
}

void Gateway::disconnect(const std::string& node_id, const std::string& reason) {
  auto it = sessions_.find(node_id);
  if (it == sessions_.end()) return;
  log::info("closing agent session", {{"node_id", node_id}, {"reason", reason}});
  auto session = it->second;
  endSession(session);
  abortChannel(session->channel);
}

void Gateway::broadcastConfig() {
  policy_.store(makePolicy());
  frames_per_s_ = config_.agent_frames_per_s;
  service_backlog_max_bytes_ = std::int64_t{config_.service_backlog_kib} * 1024;
  frames_burst_ = config_.agent_frames_burst;
  for (auto& [node_id, session] : sessions_) {
    Envelope e = frame(FrameType::Event, node_id);
    e.data = {{"kind", "config"},
              {"heartbeat_interval_s", config_.heartbeat_interval_s},
              {"telemetry_interval_s", config_.telemetry_interval_s}};
    sendSigned(*session, std::move(e));  // settings come only from signed frames
  }
}

void Gateway::endSession(const std::shared_ptr<Session>& session) {
  auto it = sessions_.find(session->node_id);
  if (it == sessions_.end() || it->second != session) return;  // already replaced
  sessions_.erase(it);
  --metrics_.sessions_active;
  commands_.requeueInFlight(session->node_id);
  if (!storeSessionEnd(session->node_id, session->id)) unstored_session_ends_[session->node_id] = session->id;
  log::info("agent session closed", {{"node_id", session->node_id}, {"session_id", session->id}});
}

bool Gateway::storeSessionEnd(const std::string& node_id, const std::string& session_id) {
  auto node = store_.getNode(node_id);
  if (!node) {
    log::error("node state not stored", {{"node_id", node_id}, {"error", node.error().message}});
    return false;
  }
  if (!*node) return true;  // deleted meanwhile
  store::Node updated = **node;
  const bool wasOnline = updated.status == store::NodeStatus::Online;
  if (wasOnline) updated.status = store::NodeStatus::Unreachable;
  updated.last_seen_at = clock_();
  auto saved = store_.transaction([&]() -> Result<void> {
    if (auto r = store_.upsertNode(updated); !r) return r;
    if (!wasOnline) return Ok{};
    return auditNode(updated, "node unreachable", "session " + session_id + " closed");
  });
  if (!saved) log::error("node state not stored; retried every second", {{"node_id", node_id}, {"error", saved.error().message}});
  return saved.ok();
}

void Gateway::retryUnstoredSessionEnds() {
  for (auto it = unstored_session_ends_.begin(); it != unstored_session_ends_.end();) {
    // Back with a new session: its HELLO stored it online; the old end is history.
    if (sessions_.count(it->first) || storeSessionEnd(it->first, it->second))
      it = unstored_session_ends_.erase(it);
    else
      ++it;
  }
}

asio::awaitable<void> Gateway::tickLoop() {
  boost::system::error_code ec;
  while (!stopped_) {
    ticker_.expires_after(std::chrono::seconds(1));
    co_await ticker_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (stopped_) break;
    tick();
  }
}

void Gateway::tick() {
  const auto now = std::chrono::steady_clock::now();
  const auto interval = std::chrono::seconds(config_.heartbeat_interval_s);
  std::vector<std::shared_ptr<Session>> lost;
  for (auto& [node_id, session] : sessions_) {
    if (now - session->lastSeen() > interval * config_.heartbeat_misses) {
      lost.push_back(session);
      continue;
    }
    if (now - session->last_heartbeat_sent >= interval) {
      send(*session, frame(FrameType::Heartbeat, node_id));
      session->last_heartbeat_sent = now;
    }
  }
  for (auto& session : lost) {
    ++metrics_.heartbeats_missed_total;
    log::warn("agent missed heartbeats; node unreachable",
              {{"node_id", session->node_id}, {"session_id", session->id}, {"misses", config_.heartbeat_misses}});
    endSession(session);
    abortChannel(session->channel);
  }
  commands_.expireDue();
  retryUnstoredSessionEnds();
  flushTelemetry();
  // TLS handshakes allocate and free tens of KiB each; without a trim, bursts
  // of reconnects leave that memory resident long after the sessions settle.
  if (++ticks_ % kTrimEveryTicks == 0) releaseFreeMemory();
}

void Gateway::flushTelemetry() {
  if (pending_telemetry_.empty()) return;
  auto r = store_.appendTelemetry(pending_telemetry_, static_cast<std::size_t>(config_.telemetry_history));
  if (!r) log::error("telemetry not stored", {{"samples", pending_telemetry_.size()}, {"error", r.error().message}});
  pending_telemetry_.clear();
  pending_telemetry_at_.clear();
}

}  // namespace berth::server
