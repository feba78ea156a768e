// The session: dial out over mutual TLS, HELLO/WELCOME, reading frames,
// heartbeats and telemetry, certificate renewal and the reconnect backoff.
#include "agent/agent_impl.hpp"

namespace berth::agent {

asio::awaitable<void> Agent::Impl::mainLoop() {
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

void Agent::Impl::renew() {
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
asio::awaitable<bool> Agent::Impl::session() {
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
  // Frames are small and answered at once: never held back waiting for an ACK (Nagle).
  beast::get_lowest_layer(ws).socket().set_option(asio::ip::tcp::no_delay(true), ec);
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
          if (auto seq = envelope->data.find("telemetry_seq"); seq != envelope->data.end() && seq->is_number_integer())
            telemetry_seq->resumeAbove(seq->get<std::int64_t>());
          log::info("session established",
                    {{"node_id", state.node_id}, {"session_id", envelope->data.value("session_id", "")}});
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

// Heartbeats, telemetry and the dead-server check for one session.
asio::awaitable<void> Agent::Impl::sessionTicker(std::shared_ptr<net::WsChannel> channel,
                                                 std::shared_ptr<Steady::time_point> lastHeard) {
  asio::steady_timer tick(io);
  auto lastHeartbeat = Steady::now();
  auto lastTelemetry = Steady::time_point{};
  auto lastRenewalCheck = Steady::now();
  boost::system::error_code ec;
  while (!channel->closing() && !stopped) {
    tick.expires_after(std::chrono::milliseconds(250));
    co_await tick.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    // Start-up, the first telemetry sample and its write have run (a tick ago): let their pages go.
    if (!trimmed && lastTelemetry != Steady::time_point{}) {
      trimResidentMemory();
      trimmed = true;
    }
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
      t.data["seq"] = telemetry_seq->next();
      if (!container_stats.empty()) t.data["containers"] = container_stats;
      if (proxy_status.is_object()) t.data["proxy"] = proxy_status;
      send(t);
      lastTelemetry = now;
    }
  }
}

void Agent::Impl::applySettings(const nlohmann::json& data) {
  heartbeat_interval_s = std::max(1, data.value("heartbeat_interval_s", heartbeat_interval_s));
  telemetry_interval_s = std::max(1, data.value("telemetry_interval_s", telemetry_interval_s));
}

// Answers a refused frame with an ERROR naming the command it was meant to
// be (so the server can fail it) — but never an ERROR, and only a few a second.
void Agent::Impl::rejectFrame(const protocol::Refused& what, const Error& error) {
  if (error.code == protocol::codes::kClockSkew && what.issued_at != 0 && skew_warnings.take(clock())) {
    log::error("this machine's clock differs from the server's; fix its time (NTP)",
               {{"skew_s", (clock() - what.issued_at) / 1000}});
  }
  if (!error_replies.take(clock())) return;
  log::warn("frame rejected", {{"code", error.code}, {"reason", error.message}});
  if (what.type == FrameType::Error) return;
  send(protocol::makeErrorFrame(error, state.node_id, what.correlation_id, clock()));
}

}  // namespace berth::agent
