// The metrics listener (setting metrics_listen, loopback by default): plain
// HTTP that answers GET /metrics with the Prometheus text and nothing else,
// one request per connection. It holds no credential check, so it is meant
// for an address only the host's scraper reaches; the public listener's
// /metrics asks for a platform key with the read scope instead.
// Sockets run on the network executor; the text is rendered on the service
// executor (metrics are the service thread's). When that thread does not
// answer within 2 s (a stalled store), the last text is served with
// berth_metrics_age_seconds telling how old it is.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <cstdint>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/result.hpp"

namespace berth::server {

class MetricsListener {
 public:
  // `render` runs on `service` and returns the exposition text.
  MetricsListener(boost::asio::any_io_executor network, boost::asio::any_io_executor service,
                  std::function<std::string()> render);
  // host:port ("127.0.0.1:0" picks a port). Fails listen_failed naming the address.
  Result<void> listen(const std::string& host_port);
  void start();
  void stop();
  std::uint16_t port() const { return port_; }

 private:
  boost::asio::awaitable<void> acceptLoop();
  boost::asio::awaitable<void> serve(boost::asio::ip::tcp::socket socket);

  boost::asio::any_io_executor network_;
  boost::asio::any_io_executor service_;
  std::function<std::string()> render_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::uint16_t port_ = 0;
  struct PendingRender;  // one scrape waiting for the text
  // The last text rendered, for scrapes the service thread does not answer in
  // time, and the scrapes waiting for the render under way: at most one is
  // asked of the service thread at a time. Shared with that render; network
  // thread only.
  struct Rendered {
    std::string text;
    std::optional<std::chrono::steady_clock::time_point> at;
    bool rendering = false;
    std::vector<std::shared_ptr<PendingRender>> waiters;
    // Connections open now; past the cap a new one is closed at once. Here, not in
    // the listener: a connection's coroutine may be destroyed after the listener.
    std::size_t connections = 0;
  };
  std::shared_ptr<Rendered> last_;
};

}  // namespace berth::server
