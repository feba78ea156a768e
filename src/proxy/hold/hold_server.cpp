#include "proxy/hold/hold_server.hpp"

#include <sys/socket.h>

#include <array>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <filesystem>
#include <fstream>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "common/logging.hpp"
#include "pki/sealed_file.hpp"
#include "proxy/hold/hold_request.hpp"

namespace berth::proxy::hold {
namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using SteadyClock = std::chrono::steady_clock;

namespace {
constexpr auto kHeadTimeout = std::chrono::seconds(30);     // a proxy sends the head at once
constexpr auto kConnectTimeout = std::chrono::seconds(1);   // per upstream and try
constexpr auto kRetryEvery = std::chrono::milliseconds(100);
// A container that keeps accepting and closing is tried again less and less often.
constexpr auto kMaxResendPause = std::chrono::seconds(1);
constexpr std::size_t kMaxOpen = 10'000;  // beyond: 503 at once, so holding cannot exhaust file descriptors
constexpr auto kLinger = std::chrono::seconds(5);              // reading a refused request's rest
constexpr std::size_t kMaxLingerBytes = 64u << 20;
constexpr auto kAcceptPause = std::chrono::milliseconds(100);  // after a failed accept (descriptors short)
// What a waiting request keeps of what its client sends meanwhile (its body): beyond, the rest
// waits in the kernel and the client is no longer watched for leaving.
constexpr std::size_t kMaxKept = 2 * kMaxHeadBytes;
// Privileged ports tried, high to low, when none is kept.
constexpr std::uint16_t kFirstPrivileged = 1023, kLastPrivileged = 600;
}  // namespace

struct HoldServer::Connection : std::enable_shared_from_this<Connection> {
  Connection(asio::io_context& io, std::atomic<std::size_t>& open_count)
      : client(io), upstream(io), timer(io), open(open_count) {
    ++open;
  }
  ~Connection() { --open; }  // counted while any part of it (a pump, a timer) still holds its sockets
  tcp::socket client;
  tcp::socket upstream;
  asio::steady_timer timer;  // head and connect deadlines: closes the socket being waited on
  std::uint64_t wait = 0;    // which deadline is armed: a late expiry of an earlier one does nothing
  bool watching = false;     // the client is watched while its request waits ...
  bool left = false;         // ... and went away
  std::string received;      // the request as read so far, passed on first
  std::atomic<std::size_t>& open;
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
  // While the request waits: notices its client leaving (the proxy gave up on it: it must neither
  // take a slot for its whole hold nor reach the app later, unasked), and keeps what the client
  // sends meanwhile (a body) to pass on after the head. Reads only what is there, so no read is left
  // pending whose bytes could land after the head was passed on; ends when `watching` is cleared.
  void watch() {
    watching = true;
    client.async_wait(tcp::socket::wait_read, [self = shared_from_this()](boost::system::error_code ec) {
      if (ec || !self->watching) return;
      std::array<char, 16 * 1024> buffer;
      const auto n = ::recv(self->client.native_handle(), buffer.data(), buffer.size(), MSG_DONTWAIT);
      if (n > 0) {
        self->received.append(buffer.data(), static_cast<std::size_t>(n));
        if (self->received.size() < kMaxKept) self->watch();
        else self->watching = false;  // the rest waits in the kernel
        return;
      }
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
        self->watch();
        return;
      }
      // Closed (or reset): the wait ends now.
      self->watching = false;
      self->left = true;
      boost::system::error_code ignored;
      self->upstream.close(ignored);
      self->timer.cancel();
    });
  }
  void unwatch() {
    watching = false;
    boost::system::error_code ignored;
    client.cancel(ignored);
  }
  void closeBoth() {
    boost::system::error_code ignored;
    client.close(ignored);
    upstream.close(ignored);
  }
};

namespace {
Result<void> requireLoopback(const std::string& address) {
  boost::system::error_code ec;
  const auto ip = asio::ip::make_address(address, ec);
  if (ec || !ip.is_loopback()) return invalidField("hold_listen", "'" + address + "' must be a loopback IP address");
  return Ok{};
}
}  // namespace

boost::system::error_code HoldServer::bindFirst(const std::string& address, const std::vector<std::uint16_t>& ports) {
  boost::system::error_code ec;
  const auto ip = asio::ip::make_address(address, ec);
  if (ec) return ec;
  for (const auto port : ports) {
    const tcp::endpoint local(ip, port);
    ec = {};
    acceptor_.open(local.protocol(), ec);
    if (!ec) acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) acceptor_.bind(local, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (!ec) {
      address_ = address;
      port_ = acceptor_.local_endpoint().port();
      return ec;
    }
    boost::system::error_code ignored;
    acceptor_.close(ignored);
    if (ec == asio::error::access_denied) return ec;  // the rest is no more allowed
  }
  return ec;
}

void HoldServer::run() {
  accept();
  thread_ = std::thread([this] { io_.run(); });
}

Result<std::unique_ptr<HoldServer>> HoldServer::start(const std::string& address, std::uint16_t port) {
  std::unique_ptr<HoldServer> server(new HoldServer());
  if (auto r = requireLoopback(address); !r) return r.error();
  boost::system::error_code ec;
  if (ec = server->bindFirst(address, {port}); ec)
    return makeError("proxy_start_failed",
                     "cannot bind the hold server to " + address + ":" + std::to_string(port) + ": " + ec.message());
  server->run();
  return server;
}

Result<std::unique_ptr<HoldServer>> HoldServer::startKept(const std::string& address, const std::string& port_file) {
  std::uint16_t kept = 0;
  {
    std::ifstream in(port_file);
    std::string text;
    std::getline(in, text);
    if (std::from_chars(text.data(), text.data() + text.size(), kept).ec != std::errc{}) kept = 0;
  }
  std::unique_ptr<HoldServer> server(new HoldServer());
  if (auto r = requireLoopback(address); !r) return r.error();
  boost::system::error_code ec;
  ec = kept ? server->bindFirst(address, {kept}) : asio::error::not_found;
  if (ec) {
    if (kept) log::warn("hold server port taken; another one is used", {{"port", std::to_string(kept)}});
    std::vector<std::uint16_t> privileged;
    for (auto p = kFirstPrivileged; p >= kLastPrivileged; --p) privileged.push_back(p);
    ec = server->bindFirst(address, privileged);
    if (ec) {
      log::warn("hold server on an unprivileged port: a local user could take it while the agent is down",
                {{"reason", ec.message()}});
      ec = server->bindFirst(address, {0});
    }
    if (ec) return makeError("proxy_start_failed", "cannot bind the hold server to " + address + ": " + ec.message());
    // A first start comes before the agent's state directory exists: made here, as the agent would.
    const auto dir = std::filesystem::path(port_file).parent_path().string();
    auto saved = dir.empty() ? Result<void>(Ok{}) : pki::ensurePrivateDirectory(dir);
    if (saved) saved = pki::writePrivateFile(port_file, std::to_string(server->port_) + "\n");
    if (!saved) log::warn("hold server port not kept", {{"file", port_file}, {"error", saved.error().message}});
  }
  server->run();
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
    if (ec) {
      // Out of descriptors (EMFILE, ENFILE) or memory: the connection stays queued and accepting
      // again at once fails again at once, a busy loop. Pause instead.
      auto pause = std::make_shared<asio::steady_timer>(io_, kAcceptPause);
      pause->async_wait([this, pause](boost::system::error_code) { accept(); });
      return;
    }
    socket.set_option(tcp::no_delay(true), ec);  // relayed as it comes: no Nagle wait on either side
    auto connection = std::make_shared<Connection>(io_, open_);
    connection->client = std::move(socket);
    asio::co_spawn(io_, serve(std::move(connection)), asio::detached);
    accept();
  });
}

namespace {

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
  const bool crowded = open_ > kMaxOpen;
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
    co_await refuse(c, unavailableResponse(retryAfterSeconds(), refusal));
    co_return;
  }
  c->received = closingAfterAnswer(c->received);
  if (!co_await sendUntilAnswered(c, *app)) co_return;
  asio::co_spawn(io_, pump(c, c->upstream, c->client), asio::detached);
  co_await pump(c, c->client, c->upstream);
}

asio::awaitable<bool> HoldServer::sendUntilAnswered(std::shared_ptr<Connection> c, const std::string& app) {
  const auto arrived = SteadyClock::now();
  const bool again = canSendAgain(c->received);
  const bool upgrade = asksForUpgrade(c->received);
  SteadyClock::duration pause = kRetryEvery;  // before a resend, doubling up to kMaxResendPause
  boost::system::error_code ec;
  for (std::size_t attempt = 0;; ++attempt) {
    if (!co_await waitForUpstream(c, app, arrived, attempt)) co_return false;
    const std::size_t sent = c->received.size();
    co_await asio::async_write(c->upstream, asio::buffer(c->received), asio::redirect_error(asio::use_awaitable, ec));
    if (!again) {
      if (ec) {
        c->closeBoth();
        co_return false;
      }
      ++passed_;
      c->received.clear();
      c->received.shrink_to_fit();
      co_return true;
    }
    std::array<char, 16 * 1024> first;
    std::size_t n = 0;
    if (!ec) {
      c->watch();
      n = co_await c->upstream.async_read_some(asio::buffer(first), asio::redirect_error(asio::use_awaitable, ec));
      c->unwatch();
    }
    if (c->left) {
      ++left_;
      c->closeBoth();
      co_return false;
    }
    if (!ec) {
      ++passed_;
      std::string answer(first.data(), n);
      if (upgrade) {
        // The whole head first: an answer other than 101 must not leave the tunnel to be pooled.
        while (!ec && answer.find("\r\n\r\n") == std::string::npos && answer.size() < kMaxHeadBytes) {
          n = co_await c->upstream.async_read_some(asio::buffer(first), asio::redirect_error(asio::use_awaitable, ec));
          if (!ec) answer.append(first.data(), n);
        }
        if (!switchesProtocols(answer)) answer = withConnectionClose(answer);
        ec = {};  // what arrived goes on; a close after it reaches the pump as before
      }
      co_await asio::async_write(c->client, asio::buffer(answer), asio::redirect_error(asio::use_awaitable, ec));
      // What the client sent while the answer was awaited follows the request it came after.
      if (!ec && c->received.size() > sent)
        co_await asio::async_write(c->upstream, asio::buffer(c->received.data() + sent, c->received.size() - sent),
                                   asio::redirect_error(asio::use_awaitable, ec));
      if (ec) c->closeBoth();
      c->received.clear();
      c->received.shrink_to_fit();
      co_return !ec;
    }
    // Closed (or reset) before a byte of an answer. Sent again only as it was: anything the client
    // added meanwhile was meant for this connection's next request.
    boost::system::error_code ignored;
    c->upstream.close(ignored);
    const auto now = target(app);
    if (c->received.size() != sent || !now ||
        SteadyClock::now() + pause > arrived + std::chrono::milliseconds(now->hold_ms)) {
      ++expired_;
      co_await refuse(c, unavailableResponse(retryAfterSeconds(), "app " + app + " closed the connection without answering"));
      co_return false;
    }
    ++resent_;
    c->watch();
    c->timer.expires_after(pause);
    pause = std::min<SteadyClock::duration>(pause * 2, kMaxResendPause);
    co_await c->timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    c->unwatch();
  }
}

asio::awaitable<bool> HoldServer::waitForUpstream(std::shared_ptr<Connection> c, const std::string& app,
                                                  SteadyClock::time_point arrived, std::size_t attempt) {
  if (!target(app)) {
    ++expired_;
    co_await refuse(c, unavailableResponse(retryAfterSeconds(), "app " + app + " is not served on this node"));
    co_return false;
  }
  const std::size_t start = held_.load() + attempt;  // requests spread over the upstreams
  boost::system::error_code ec;
  c->watch();
  std::string reason = "app " + app + " is not served on this node";
  for (;;) {
    // As applied now: an app stopped meanwhile (hold 0) or removed ends the wait at once.
    const auto now = target(app);
    if (!now) break;
    reason = "app " + app + " has no upstream ready";
    for (std::size_t i = 0; !c->left && i < now->upstreams.size(); ++i) {
      const auto& up = now->upstreams[(start + i) % now->upstreams.size()];
      const tcp::endpoint endpoint(asio::ip::make_address(up.address, ec), up.port);
      if (ec) continue;
      c->upstream = tcp::socket(io_);
      c->arm(c->upstream, kConnectTimeout);
      co_await c->upstream.async_connect(endpoint, asio::redirect_error(asio::use_awaitable, ec));
      c->disarm();
      if (!ec && c->upstream.is_open() && !c->left) {
        c->upstream.set_option(tcp::no_delay(true), ec);
        c->unwatch();
        co_return true;
      }
    }
    if (c->left || SteadyClock::now() + kRetryEvery > arrived + std::chrono::milliseconds(now->hold_ms)) break;
    c->disarm();
    c->timer.expires_after(kRetryEvery);
    co_await c->timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (c->left) break;
  }
  c->unwatch();
  if (c->left) {
    ++left_;
    c->closeBoth();
    co_return false;
  }
  ++expired_;
  co_await refuse(c, unavailableResponse(retryAfterSeconds(), reason));
  co_return false;
}

asio::awaitable<void> HoldServer::refuse(std::shared_ptr<Connection> c, std::string answer) {
  c->watching = false;
  boost::system::error_code ec;
  c->client.cancel(ec);  // the watch's wait
  co_await asio::async_write(c->client, asio::buffer(answer), asio::redirect_error(asio::use_awaitable, ec));
  c->client.shutdown(tcp::socket::shutdown_send, ec);
  // Closing with unread bytes would reset the connection, and the proxy could lose the answer
  // (Caddy reports 502): read the rest of the request for a while first, as nginx's lingering close does.
  c->arm(c->client, kLinger);
  std::array<char, 16 * 1024> buffer;
  std::size_t drained = 0;
  while (!ec && drained < kMaxLingerBytes)
    drained += co_await c->client.async_read_some(asio::buffer(buffer), asio::redirect_error(asio::use_awaitable, ec));
  c->disarm();
  c->client.close(ec);
}

}  // namespace berth::proxy::hold
