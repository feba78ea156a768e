#include "agent/agent.hpp"

#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cmath>
#include <random>

#include "agent/agent_state.hpp"
#include "agent/command_runner.hpp"
#include "agent/enrollment.hpp"
#include "agent/resident_trim.hpp"
#include "agent/verbs.hpp"
#include "common/clock.hpp"
#include "common/ids.hpp"
#include "common/logging.hpp"
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
}  // namespace

struct Agent::Impl {
  AgentConfig config;
  AgentState state;
  asio::io_context io{1};
  HostSampler sampler{realHostReader()};
  VerbRegistry verbs;
  ResultCache results{kResultCacheSize};
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
              {"capabilities", nlohmann::json::array({"host.metrics"})},
              {"verbs", verbNames},
              {"capacity", sampler.capacity()}};
    return e;
  }

  asio::awaitable<void> mainLoop() {
    int failures = 0;
    while (!stopped) {
      if (renewalDue(state, clock())) renew();
      const bool welcomed = co_await session();
      if (stopped) break;
      failures = welcomed ? 0 : failures + 1;
      const double base = std::min<double>(config.backoff_cap_s, std::pow(2.0, std::min(failures, 10)));
      const double delay = std::uniform_real_distribution<double>(base / 2, base)(rng);  // jitter
      log::info("reconnecting", {{"in_ms", static_cast<int>(delay * 1000)}, {"failures", failures}});
      backoff.expires_after(std::chrono::milliseconds(static_cast<int>(delay * 1000)));
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
    ws.next_layer().set_verify_callback(asio::ssl::host_name_verification(url->host));
    co_await ws.next_layer().async_handshake(asio::ssl::stream_base::client, token);
    if (ec) {
      log::warn("TLS handshake failed", {{"error", ec.message()}});
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
    protocol::FrameValidator validator(agentPolicy(state.signing_public_key, verbs.names(),
                                                   static_cast<std::int64_t>(config.clock_skew_s) * 1000,
                                                   static_cast<std::size_t>(config.max_frame_bytes)));
    send(hello());
    bool welcomed = false;
    auto lastHeard = std::make_shared<Steady::time_point>(Steady::now());
    while (auto text = co_await channel->read()) {
      auto envelope = validator.accept(*text, clock());
      if (!envelope) {
        rejectFrame(*text, envelope.error());
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

  void applySettings(const nlohmann::json& data) {
    heartbeat_interval_s = std::max(1, data.value("heartbeat_interval_s", heartbeat_interval_s));
    telemetry_interval_s = std::max(1, data.value("telemetry_interval_s", telemetry_interval_s));
  }

  void rejectFrame(const std::string& text, const Error& error) {
    log::warn("frame rejected", {{"code", error.code}, {"reason", error.message}});
    // Best effort: name the command it was meant to be, so the server can fail it.
    auto raw = nlohmann::json::parse(text, nullptr, false);
    std::string correlation;
    if (raw.is_object() && raw.contains("correlation_id") && raw["correlation_id"].is_string()) {
      correlation = raw["correlation_id"].get<std::string>().substr(0, 128);
    }
    send(protocol::makeErrorFrame(error, state.node_id, correlation, clock()));
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
    results.markRunning(corr);
    log::info("executing command", {{"correlation_id", corr}, {"verb", command.verb}});
    Envelope running = frame(FrameType::Event);
    running.correlation_id = corr;
    running.data = {{"kind", "command.running"}};
    send(running);
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
        send(t);
        lastTelemetry = now;
      }
    }
  }

  void shutdown() {
    stopped = true;
    backoff.cancel();
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
  if (*loaded) {
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
    char host[256] = {0};
    ::gethostname(host, sizeof host - 1);
    auto state = enroll({impl->config.server_url, impl->config.join_token, impl->config.ca_pin, host});
    if (!state) return state.error();
    impl->state = std::move(*state);
    if (auto r = saveAgentState(impl->config.state_dir, impl->state); !r) return r.error();
    log::info("enrolled", {{"node_id", impl->state.node_id}, {"server", impl->state.server_url}});
  }
  impl->verbs = builtinVerbs(impl->sampler, kAgentVersion, impl->config.state_dir);
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
  asio::co_spawn(i.io, i.mainLoop(), asio::detached);
  i.io.run();
}

void Agent::stop() {
  asio::post(impl_->io, [this] { impl_->shutdown(); });
}

std::string Agent::nodeId() const { return impl_->state.node_id; }

}  // namespace berth::agent
