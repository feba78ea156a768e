#include "fleet_client.hpp"
#include "common/json.hpp"

#include <openssl/ssl.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http.hpp>
#include <future>
#include <random>
#include <nlohmann/json.hpp>
#include <thread>

#include "common/clock.hpp"
#include "common/ids.hpp"
#include "agent/agent.hpp"
#include "net/http_client.hpp"
#include "net/tls.hpp"
#include "pki/ossl.hpp"
#include "protocol/envelope.hpp"

namespace berth::bench {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using Steady = std::chrono::steady_clock;

namespace {
std::string frame(const char* type, const std::string& node, nlohmann::json extra) {
  const auto now = systemNowMs();
  extra["type"] = type;
  extra["agent_id"] = node;
  extra["issued_at"] = now;
  extra["expires_at"] = now + 60'000;
  extra["nonce"] = randomHex(16);
  return extra.dump();
}
}  // namespace

struct Fleet::Impl {
  Fleet* owner;
  asio::io_context io{1};
  asio::executor_work_guard<asio::io_context::executor_type> guard{io.get_executor()};
  std::thread thread;
  FleetTarget target;
  std::unique_ptr<asio::ssl::context> tls;
  pki::EvpKeyPtr key;
  std::vector<SimAgent> agents;
  std::vector<pki::X509Ptr> certs;
  asio::ip::tcp::endpoint endpoint;
  std::unordered_map<std::string, Steady::time_point> sent;

  // Runs `phase` on the I/O thread and waits for it.
  void runPhase(std::function<asio::awaitable<void>()> phase) {
    std::promise<void> done;
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          co_await phase();
          done.set_value();
        },
        asio::detached);
    done.get_future().wait();
  }

  asio::awaitable<void> sleep(std::chrono::milliseconds d) {
    asio::steady_timer t(io, d);
    boost::system::error_code ec;
    co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }

  asio::awaitable<void> connectOne(std::size_t i) {
    beast::error_code ec;
    auto token = asio::redirect_error(asio::use_awaitable, ec);
    net::WsStream ws(io, *tls);
    SSL* ssl = ws.next_layer().native_handle();
    SSL_use_certificate(ssl, certs[i].get());
    SSL_use_PrivateKey(ssl, key.get());
    if (target.source_addresses > 1) {
      auto& socket = beast::get_lowest_layer(ws).socket();
      socket.open(endpoint.protocol(), ec);
      if (!ec) {
        const auto source = static_cast<std::uint32_t>(0x7F000001u + i % target.source_addresses);
        socket.bind({asio::ip::address_v4(source), 0}, ec);
      }
      if (ec) co_return;
    }
    co_await beast::get_lowest_layer(ws).async_connect(endpoint, token);
    if (ec) co_return;
    co_await ws.next_layer().async_handshake(asio::ssl::stream_base::client, token);
    if (ec) co_return;
    ws.set_option(websocket::stream_base::decorator(
        [](websocket::request_type& req) { req.set(http::field::sec_websocket_protocol, protocol::kSubprotocol); }));
    co_await ws.async_handshake("localhost", "/agent/ws", token);
    if (ec) co_return;
    auto channel = std::make_shared<net::WsChannel>(std::move(ws));
    channel->start();
    auto& agent = agents[i];
    agent.channel = channel;
    channel->send(frame("HELLO", agent.node_id, {{"data", {{"hostname", "sim"}, {"version", "sim"}}}}));
    auto welcome = co_await channel->read();
    if (!welcome || welcome->find("\"WELCOME\"") == std::string::npos) {
      channel->abort();  // a failed attempt must not keep its socket (and the server's) open
      co_return;
    }
    agent.welcomed = true;
    asio::co_spawn(io, readLoop(i), asio::detached);
  }

  asio::awaitable<void> readLoop(std::size_t i) {
    auto channel = agents[i].channel;
    while (auto text = co_await channel->read()) {
      if (text->find("\"type\":\"COMMAND\"") == std::string::npos) continue;
      auto j = berth::parseJsonOrDiscarded(*text);
      if (j.is_discarded()) continue;
      const std::string corr = j.value("correlation_id", std::string());
      if (auto it = sent.find(corr); it != sent.end()) {
        owner->latencies_ms.push_back(std::chrono::duration<double, std::milli>(Steady::now() - it->second).count());
        sent.erase(it);
      }
      ++owner->commands_received;
      channel->send(frame("RESULT", agents[i].node_id,
                          {{"correlation_id", corr},
                           {"data", {{"status", "succeeded"}, {"exit_code", 0}, {"output", {{"pong", true}}}}}}));
    }
  }

  asio::awaitable<void> httpWorker(std::size_t agents_in_use, Steady::time_point deadline, std::size_t& next) {
    beast::error_code ec;
    auto token = asio::redirect_error(asio::use_awaitable, ec);
    beast::ssl_stream<beast::tcp_stream> stream(io, *tls);
    co_await beast::get_lowest_layer(stream).async_connect(endpoint, token);
    if (ec) co_return;
    co_await stream.async_handshake(asio::ssl::stream_base::client, token);
    if (ec) co_return;
    beast::flat_buffer buffer;
    while (Steady::now() < deadline) {
      const std::size_t n = next++;
      const auto& agent = agents[n % agents_in_use];
      const std::string corr = "b" + std::to_string(n);
      http::request<http::string_body> req{http::verb::post, "/api/v1/nodes/" + agent.node_id + "/commands", 11};
      req.set(http::field::host, "localhost");
      req.set(http::field::authorization, "Bearer " + target.api_key);
      req.set(http::field::content_type, "application/json");
      req.body() = nlohmann::json{{"verb", "ping"}, {"correlation_id", corr}}.dump();
      req.prepare_payload();
      sent[corr] = Steady::now();
      ++owner->commands_posted;
      co_await http::async_write(stream, req, token);
      if (ec) break;
      http::response<http::string_body> res;
      co_await http::async_read(stream, buffer, res, token);
      if (ec) break;
      if (res.result_int() != 202) {
        ++owner->post_errors;
        sent.erase(corr);
      }
    }
  }
};

Fleet::Fleet(FleetTarget target, const std::string& ca_pem, const std::string& key_pem,
             std::vector<std::pair<std::string, std::string>> identities)
    : impl_(std::make_shared<Impl>()) {
  impl_->owner = this;
  impl_->target = target;
  impl_->tls = net::makeClientContext({ca_pem, "", ""}).value();
  SSL_CTX_set_mode(impl_->tls->native_handle(), SSL_MODE_RELEASE_BUFFERS);
  impl_->key = pki::loadPrivateKey(key_pem).value();
  for (auto& [node, cert] : identities) {
    impl_->certs.push_back(pki::loadCertificate(cert).value());
    impl_->agents.push_back(SimAgent{node, cert, nullptr, false});
  }
  impl_->endpoint = {asio::ip::make_address(target.host), static_cast<unsigned short>(std::stoi(target.port))};
  impl_->thread = std::thread([impl = impl_] { impl->io.run(); });
}

std::size_t Fleet::connectAll(std::size_t parallel, std::chrono::seconds timeout) {
  auto& i = *impl_;
  i.runPhase([&]() -> asio::awaitable<void> {
    std::size_t next = 0, active = 0;
    const auto deadline = Steady::now() + timeout;
    while (next < i.agents.size() && Steady::now() < deadline) {
      while (active < parallel && next < i.agents.size()) {
        ++active;
        asio::co_spawn(i.io, i.connectOne(next++), [&active](std::exception_ptr) { --active; });
      }
      co_await i.sleep(std::chrono::milliseconds(1));
    }
    while (active > 0 && Steady::now() < deadline) co_await i.sleep(std::chrono::milliseconds(5));
  });
  std::size_t welcomed = 0;
  for (const auto& a : i.agents) welcomed += a.welcomed;
  return welcomed;
}

Fleet::StormFigures Fleet::reconnectStorm(std::chrono::seconds timeout) {
  auto& i = *impl_;
  StormFigures f;
  i.runPhase([&]() -> asio::awaitable<void> {
    const auto deadline = Steady::now() + timeout;
    auto dropped = [&] {
      for (const auto& a : i.agents)
        if (a.channel && !a.channel->closing()) return false;
      return true;
    };
    while (!dropped() && Steady::now() < deadline) co_await i.sleep(std::chrono::milliseconds(5));
    for (auto& a : i.agents) a.welcomed = false;
    std::mt19937 rng(42);
    std::size_t active = 0;
    for (std::size_t n = 0; n < i.agents.size(); ++n) {
      ++active;
      asio::co_spawn(
          i.io,
          [&, n, seed = rng()]() -> asio::awaitable<void> {
            std::mt19937 own(seed);
            int failures = 0;
            while (Steady::now() < deadline) {
              const auto delay = agent::reconnectDelay(failures, true, 15, std::uniform_real_distribution<double>(0, 1)(own));
              co_await i.sleep(delay);
              co_await i.connectOne(n);
              if (i.agents[n].welcomed) {
                ++storm_back;
                co_return;
              }
              ++failures;
              ++f.failed_attempts;
              ++storm_failures;
              f.last_failure_at = Steady::now();
            }
          },
          [&active](std::exception_ptr) { --active; });
    }
    while (active > 0) co_await i.sleep(std::chrono::milliseconds(5));
    for (const auto& a : i.agents) f.welcomed += a.welcomed;
    if (f.welcomed == i.agents.size()) f.all_back_at = Steady::now();
  });
  return f;
}

void Fleet::blastTelemetry(std::size_t agents, std::chrono::seconds duration) {
  auto& i = *impl_;
  const std::string payload =
      R"({"cpu_percent":12.5,"memory":{"total_bytes":1000,"used_bytes":500},"load":[0.1,0.2,0.3]})";
  i.runPhase([&]() -> asio::awaitable<void> {
    const auto deadline = Steady::now() + duration;
    const auto data = berth::parseJsonOrDiscarded(payload);
    while (Steady::now() < deadline) {
      for (std::size_t n = 0; n < std::min(agents, i.agents.size()); ++n) {
        auto& a = i.agents[n];
        if (!a.welcomed || a.channel->closing()) continue;
        while (a.channel->queuedFrames() < 4) {
          auto sample = data;
          sample["seq"] = ++a.telemetry_seq;
          a.channel->send(frame("TELEMETRY", a.node_id, {{"data", sample}}));
        }
      }
      co_await i.sleep(std::chrono::milliseconds(1));
    }
  });
}

void Fleet::commandLoad(std::size_t agents, std::size_t connections, std::chrono::seconds duration) {
  auto& i = *impl_;
  i.runPhase([&]() -> asio::awaitable<void> {
    const auto deadline = Steady::now() + duration;
    std::size_t next = 0, active = 0;
    for (std::size_t c = 0; c < connections; ++c) {
      ++active;
      asio::co_spawn(i.io, i.httpWorker(std::min(agents, i.agents.size()), deadline, next),
                     [&active](std::exception_ptr) { --active; });
    }
    while (active > 0) co_await i.sleep(std::chrono::milliseconds(5));
    co_await i.sleep(std::chrono::milliseconds(500));  // let the last RESULTs land
  });
}

void Fleet::heartbeatAll() {
  auto& i = *impl_;
  i.runPhase([&]() -> asio::awaitable<void> {
    for (auto& a : i.agents) {
      if (a.welcomed && !a.channel->closing())
        a.channel->send(frame("HEARTBEAT", a.node_id, {{"data", nlohmann::json::object()}}));
    }
    co_return;
  });
}

void Fleet::closeAll() {
  auto& i = *impl_;
  i.runPhase([&]() -> asio::awaitable<void> {
    for (auto& a : i.agents) {
      if (a.channel) a.channel->abort();
    }
    co_return;
  });
  i.guard.reset();
  i.io.stop();
  i.thread.join();
}

double scrapeMetric(const FleetTarget& target, const std::string& ca_pem, const std::string& series) {
  auto tls = net::makeClientContext({ca_pem, "", ""});
  // /metrics answers a platform key with the read scope (the hub's admin key).
  auto r = net::httpsRequest({target.host, target.port, "/"}, **tls,
                             {"GET", "/metrics", "", {{"Authorization", "Bearer " + target.api_key}}},
                             std::chrono::seconds(30), false);
  if (!r) return -1;
  std::istringstream in(r->body);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(series + " ", 0) == 0) return std::stod(line.substr(series.size() + 1));
  }
  return 0;
}

}  // namespace berth::bench
