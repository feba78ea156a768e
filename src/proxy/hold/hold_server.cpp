#include "proxy/hold/hold_server.hpp"

#include <array>
#include <chrono>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "common/logging.hpp"
#include "proxy/hold/hold_request.hpp"

namespace berth::proxy::hold {
namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using SteadyClock = std::chrono::steady_clock;

namespace {
constexpr auto kHeadTimeout = std::chrono::seconds(30);     // a proxy sends the head at once
constexpr auto kConnectTimeout = std::chrono::seconds(1);   // per upstream and try
constexpr auto kRetryEvery = std::chrono::milliseconds(100);
constexpr std::size_t kMaxOpen = 10'000;  // beyond: 503 at once, so holding cannot exhaust file descriptors
}  // namespace

struct HoldServer::Connection : std::enable_shared_from_this<Connection> {
  explicit Connection(asio::io_context& io) : client(io), upstream(io), timer(io) {}
  tcp::socket client;
  tcp::socket upstream;
  asio::steady_timer timer;  // head and connect deadlines: closes the socket being waited on
  std::uint64_t wait = 0;    // which deadline is armed: a late expiry of an earlier one does nothing
  std::string received;      // the request as read so far, passed on first
  // Closes `socket` if the wait on it has not ended (disarm) within `limit`.
  void arm(tcp::socket& socket, SteadyClock::duration limit) {
    const auto token = ++wait;
    timer.expires_after(limit);
    timer.async_wait([self = shared_from_this(), &socket, token](boost::system::error_code ec) {
      boost::system::error_code ignored;
      if (!ec && self->wait == token) socket.close(ignored);
    });
  }
  void disarm() {
    ++wait;
    timer.cancel();
  }
  void closeBoth() {
    boost::system::error_code ignored;
    client.close(ignored);
    upstream.close(ignored);
  }
};

Result<std::unique_ptr<HoldServer>> HoldServer::start(const std::string& address, std::uint16_t port) {
  std::unique_ptr<HoldServer> server(new HoldServer());
  boost::system::error_code ec;
  const auto ip = asio::ip::make_address(address, ec);
  if (ec || !ip.is_loopback()) return invalidField("hold_listen", "'" + address + "' must be a loopback IP address");
  const tcp::endpoint local(ip, port);
  server->acceptor_.open(local.protocol(), ec);
  if (!ec) server->acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) server->acceptor_.bind(local, ec);
  if (!ec) server->acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec)
    return makeError("proxy_start_failed",
                     "cannot bind the hold server to " + address + ":" + std::to_string(port) + ": " + ec.message());
  server->address_ = address;
  server->port_ = server->acceptor_.local_endpoint().port();
  server->accept();
  server->thread_ = std::thread([s = server.get()] { s->io_.run(); });
  return server;
}

HoldServer::~HoldServer() {
  io_.stop();
  if (thread_.joinable()) thread_.join();
}

void HoldServer::setTargets(const ProxyState& state) {
  std::map<std::string, Target> targets;
  for (const auto& app : state.apps) targets[app.app] = {app.upstreams, app.hold_ms};
  std::lock_guard lock(mutex_);
  targets_ = std::move(targets);
  retry_after_s_ = state.retry_after_s;
}

std::optional<HoldServer::Target> HoldServer::target(const std::string& app) const {
  std::lock_guard lock(mutex_);
  const auto it = targets_.find(app);
  if (it == targets_.end()) return std::nullopt;
  return it->second;
}

int HoldServer::retryAfterSeconds() const {
  std::lock_guard lock(mutex_);
  return retry_after_s_;
}

void HoldServer::accept() {
  acceptor_.async_accept([this](boost::system::error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted) return;
    if (!ec) {
      auto connection = std::make_shared<Connection>(io_);
      connection->client = std::move(socket);
      asio::co_spawn(io_, serve(std::move(connection)), asio::detached);
    }
    accept();
  });
}

namespace {

asio::awaitable<void> writeAndClose(tcp::socket& socket, const std::string& text) {
  boost::system::error_code ec;
  co_await asio::async_write(socket, asio::buffer(text), asio::redirect_error(asio::use_awaitable, ec));
  socket.shutdown(tcp::socket::shutdown_send, ec);
  socket.close(ec);
}

// Copies one direction until it ends; an end passes on as a half-close, an error closes both.
asio::awaitable<void> pump(std::shared_ptr<void> keep, tcp::socket& from, tcp::socket& to) {
  std::array<char, 16 * 1024> buffer;
  boost::system::error_code ec;
  for (;;) {
    const std::size_t n = co_await from.async_read_some(asio::buffer(buffer), asio::redirect_error(asio::use_awaitable, ec));
    if (ec) break;
    co_await asio::async_write(to, asio::buffer(buffer.data(), n), asio::redirect_error(asio::use_awaitable, ec));
    if (ec) break;
  }
  boost::system::error_code ignored;
  if (ec == asio::error::eof) {
    to.shutdown(tcp::socket::shutdown_send, ignored);
  } else {
    // Both ends, so the proxy sees the failure at once (and may try elsewhere) instead of waiting on
    // an answer that cannot come.
    from.close(ignored);
    to.close(ignored);
  }
}

}  // namespace

asio::awaitable<void> HoldServer::serve(std::shared_ptr<Connection> c) {
  struct OpenCount {
    std::atomic<std::size_t>& open;
    ~OpenCount() { --open; }
  } counted{open_};
  const bool crowded = ++open_ > kMaxOpen;
  ++held_;
  boost::system::error_code ec;
  std::optional<std::string> app;
  std::string refusal;
  c->arm(c->client, kHeadTimeout);
  std::array<char, 4096> buffer;
  while (!app && refusal.empty()) {
    const std::size_t n = co_await c->client.async_read_some(asio::buffer(buffer), asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      c->disarm();
      ++expired_;
      co_return;
    }
    c->received.append(buffer.data(), n);
    auto parsed = appOfRequest(c->received);
    if (!parsed) refusal = parsed.error().message;
    else app = *parsed;
  }
  c->disarm();
  if (crowded) refusal = "too many requests are waiting on this node";
  if (!refusal.empty()) {
    ++expired_;
    log::warn("held request refused", {{"reason", refusal}});
    co_await writeAndClose(c->client, unavailableResponse(retryAfterSeconds(), refusal));
    co_return;
  }
  if (!co_await waitForUpstream(c, *app)) co_return;
  ++passed_;
  co_await asio::async_write(c->upstream, asio::buffer(c->received), asio::redirect_error(asio::use_awaitable, ec));
  if (ec) {
    c->closeBoth();
    co_return;
  }
  c->received.clear();
  c->received.shrink_to_fit();
  asio::co_spawn(io_, pump(c, c->upstream, c->client), asio::detached);
  co_await pump(c, c->client, c->upstream);
}

asio::awaitable<bool> HoldServer::waitForUpstream(std::shared_ptr<Connection> c, const std::string& app) {
  const auto first = target(app);
  if (!first) {
    ++expired_;
    co_await writeAndClose(c->client, unavailableResponse(retryAfterSeconds(), "app " + app + " is not served on this node"));
    co_return false;
  }
  const auto deadline = SteadyClock::now() + std::chrono::milliseconds(first->hold_ms);
  const std::size_t start = held_.load();  // requests spread over the upstreams
  boost::system::error_code ec;
  for (;;) {
    const auto now = target(app);
    for (std::size_t i = 0; now && i < now->upstreams.size(); ++i) {
      const auto& up = now->upstreams[(start + i) % now->upstreams.size()];
      const tcp::endpoint endpoint(asio::ip::make_address(up.address, ec), up.port);
      if (ec) continue;
      c->upstream = tcp::socket(io_);
      c->arm(c->upstream, kConnectTimeout);
      co_await c->upstream.async_connect(endpoint, asio::redirect_error(asio::use_awaitable, ec));
      c->disarm();
      if (!ec && c->upstream.is_open()) co_return true;
    }
    if (!now || SteadyClock::now() + kRetryEvery > deadline) break;
    c->disarm();
    c->timer.expires_after(kRetryEvery);
    co_await c->timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
  ++expired_;
  co_await writeAndClose(c->client, unavailableResponse(retryAfterSeconds(), "app " + app + " has no upstream ready"));
  co_return false;
}

}  // namespace berth::proxy::hold
