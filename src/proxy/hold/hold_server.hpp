// Where the proxy sends requests of an app that has no upstream able to take
// them (the app is starting, or its container is being replaced after a
// crash): each request waits here until one of the app's upstreams accepts a
// connection, then is passed through to it byte for byte (response, upgrade
// and all), or gets 503 with Retry-After once the app's hold time is over.
// This is issue 9's "held briefly, never answered 502". Listens on a loopback
// TCP port (nginx workers run as another user and cannot be counted on to
// reach a socket file under the agent's state); answers on its own thread.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/result.hpp"
#include "proxy/proxy_state.hpp"

namespace berth::proxy::hold {

class HoldServer {
 public:
  // Binds `address`:`port` (0: a free port) and starts answering.
  static Result<std::unique_ptr<HoldServer>> start(const std::string& address, std::uint16_t port);
  // As the agent starts it: on the port kept in `port_file` when that is free, so the proxy's
  // configuration (which names the port) stays right across agent restarts; else on a free
  // port below 1024, which no unprivileged user on the node can bind while the agent is down
  // (and so receive held requests, cookies and all, and answer them); else on any free port.
  // What it bound is kept in `port_file`.
  static Result<std::unique_ptr<HoldServer>> startKept(const std::string& address, const std::string& port_file);
  ~HoldServer();  // stops answering (held requests are dropped) and joins the thread
  HoldServer(const HoldServer&) = delete;
  HoldServer& operator=(const HoldServer&) = delete;

  // Where the proxy reaches it (ProxyState::hold).
  Upstream endpoint() const { return {address_, port_}; }
  // The apps the proxy serves, as last applied: their upstreams, hold times and the
  // Retry-After to tell. Thread-safe; a request waiting now sees it at its next try.
  void setTargets(const ProxyState& state);

  struct Counts {
    std::uint64_t held = 0;     // requests that arrived
    std::uint64_t passed = 0;   // ... and were passed to an upstream
    std::uint64_t expired = 0;  // ... and got 503 (hold over, app unknown, bad request)
    std::uint64_t left = 0;     // ... and were given up by the proxy while they waited
    std::uint64_t resent = 0;   // sends again after an upstream closed without answering
  };
  Counts counts() const { return {held_.load(), passed_.load(), expired_.load(), left_.load(), resent_.load()}; }

 private:
  struct Target {
    std::vector<Upstream> upstreams;
    int hold_ms = 0;
  };
  struct Connection;
  HoldServer() = default;
  // Binds (and listens on) the first of `ports` it can; else the error of the last try.
  boost::system::error_code bindFirst(const std::string& address, const std::vector<std::uint16_t>& ports);
  void run();
  void accept();
  boost::asio::awaitable<void> serve(std::shared_ptr<Connection> connection);
  // Answers `answer` (a 503), then reads and drops what the client still sends for a while before
  // closing, so a body it was sending does not turn the answer into a reset.
  boost::asio::awaitable<void> refuse(std::shared_ptr<Connection> connection, std::string answer);
  // Connects to one of `app`'s upstreams, waiting until `arrived` + its hold; false: 503 sent.
  // `attempt` turns the order the upstreams are tried in (after one closed without answering).
  boost::asio::awaitable<bool> waitForUpstream(std::shared_ptr<Connection> connection, const std::string& app,
                                               std::chrono::steady_clock::time_point arrived, std::size_t attempt);
  // Sends the request (as received) to the upstream and passes on its answer's first bytes.
  // An upstream that closes before answering a request that can be sent again (canSendAgain)
  // gets it again, the same or another, while the hold lasts: Docker's port proxy accepts
  // connections for a container that is not listening yet, and a stopping container may take
  // one before it closes. Passing that close on would make the proxy answer 502.
  boost::asio::awaitable<bool> sendUntilAnswered(std::shared_ptr<Connection> connection, const std::string& app);
  std::optional<Target> target(const std::string& app) const;
  int retryAfterSeconds() const;

  boost::asio::io_context io_;
  boost::asio::ip::tcp::acceptor acceptor_{io_};
  std::string address_;
  std::uint16_t port_ = 0;
  mutable std::mutex mutex_;
  std::map<std::string, Target> targets_;  // guarded by mutex_
  int retry_after_s_ = 10;                 // guarded by mutex_
  std::atomic<std::uint64_t> held_{0}, passed_{0}, expired_{0}, left_{0}, resent_{0};
  std::atomic<std::size_t> open_{0};
  std::thread thread_;
};

}  // namespace berth::proxy::hold
