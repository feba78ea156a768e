// The HTTPS listener: TLS handshake (client certificate optional, verified
// when presented), HTTP/1.1 keep-alive to the REST API, and the WebSocket
// upgrade at /agent/ws handed to the gateway. Accepting runs on the first
// network thread; each connection's socket, TLS and
// HTTP parsing on the network thread it was accepted onto; each request's
// handler (and its group commit) on the service thread, which owns the store.
#pragma once

#include <utility>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>

#include "common/result.hpp"
#include "common/token_bucket.hpp"
#include "server/api.hpp"
#include "server/gateway.hpp"
#include "server/group_commit.hpp"
#include "server/http_edge.hpp"
#include "server/metrics.hpp"
#include "server/server_config.hpp"

namespace berth::server {

class HttpListener {
 public:
  // Settings are read once here: the ones this class uses change only on restart.
  // `network`: the accepting thread; `connection_executor` picks the thread of each new connection.
  HttpListener(boost::asio::any_io_executor network,
               std::function<boost::asio::any_io_executor()> connection_executor,
               boost::asio::any_io_executor service, boost::asio::ssl::context& tls, Api& api, Gateway& gateway, GroupCommit& group_commit,
               const ServerConfig& config, Metrics& metrics);

  Result<void> listen(const std::string& host_port);
  void start();
  void stop();
  std::uint16_t port() const { return port_; }

 private:
  boost::asio::awaitable<void> acceptLoop();
  // `counted_address`: released from the per-address count when the
  // connection ends or its agent's HELLO is welcomed (empty: not counted).
  boost::asio::awaitable<void> connection(boost::asio::ip::tcp::socket socket, std::string counted_address);
  // Sets `handed_off` when an agent's WebSocket goes to the gateway, which then
  // releases `counted_address` once the HELLO is welcomed or the connection ends.
  boost::asio::awaitable<void> serve(boost::asio::ip::tcp::socket socket, const std::string& counted_address,
                                     bool& handed_off);
  // Accepting waits while max_handshakes_in_flight are under way.
  boost::asio::awaitable<void> waitForHandshakeSlot();
  // Both may be called from any network thread (the counts are under counts_mutex_).
  void releaseHandshakeSlot(const std::string& counted_address);
  void releaseConnection(const std::string& counted_address);
  std::size_t handshakesInFlight();
  // On the service thread: the handler, then (for writes) the commit it waits for.
  boost::asio::awaitable<ApiResponse> handle(const ApiRequest& request);

  boost::asio::any_io_executor executor_;
  std::function<boost::asio::any_io_executor()> connection_executor_;
  boost::asio::any_io_executor service_;
  boost::asio::ssl::context& tls_;
  Api& api_;
  Gateway& gateway_;
  GroupCommit& group_commit_;
  const std::size_t max_frame_bytes_;
  const bool limit_loopback_connections_;
  Metrics& metrics_;
  // Guards connections_, handshakes_in_flight_ and handshakes_per_address_:
  // taken by the accepting thread and released by each connection's thread.
  std::mutex counts_mutex_;
  ConnectionCounter connections_;
  TokenBucket accept_failures_logged_{1.0, 5.0};  // "accept failed" lines, when out of descriptors
  const std::size_t max_handshakes_in_flight_;
  std::size_t handshakes_in_flight_ = 0;
  boost::asio::steady_timer handshake_slot_freed_;  // accepting thread's; cancelled when one finishes
  // One counted address holds at most a quarter of the slots, so a client that
  // opens connections and stays silent cannot lock every agent out alone.
  const int handshakes_per_address_limit_;
  ConnectionCounter handshakes_per_address_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::uint16_t port_ = 0;
};

}  // namespace berth::server
