#include "server/metrics_listener.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <optional>

#include "common/logging.hpp"

namespace berth::server {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {
constexpr auto kMetricsTimeout = std::chrono::seconds(10);
constexpr std::uint32_t kMetricsHeaderLimit = 8 * 1024;
// How long a scrape waits for the service thread. Past it (a stalled store
// holds that thread) the last figures are served, marked with their age: a
// stall is when an operator needs the metrics most.
constexpr auto kFreshWithin = std::chrono::seconds(2);

// A local scraper needs a few; more would only hold descriptors the agents need.
constexpr std::size_t kMaxConnections = 64;

std::string ageLines(std::int64_t seconds) {
  return "# HELP berth_metrics_age_seconds Age of the figures above: 0 when rendered for this scrape, more when "
         "the service thread did not answer within 2 s (a store stall) and the last figures were served\n"
         "# TYPE berth_metrics_age_seconds gauge\n"
         "berth_metrics_age_seconds " +
         std::to_string(seconds) + "\n";
}
}  // namespace

struct MetricsListener::PendingRender {
  explicit PendingRender(const asio::any_io_executor& network) : ready(network) {}
  asio::steady_timer ready;  // cancelled once the text is here
  std::optional<std::string> text;
};

MetricsListener::MetricsListener(asio::any_io_executor network, asio::any_io_executor service,
                                 std::function<std::string()> render)
    : network_(std::move(network)),
      service_(std::move(service)),
      render_(std::move(render)),
      acceptor_(network_),
      last_(std::make_shared<Rendered>()) {}

Result<void> MetricsListener::listen(const std::string& host_port) {
  const auto colon = host_port.rfind(':');
  if (colon == std::string::npos) return makeError("invalid_config", "config field 'metrics_listen': must be host:port");
  std::string host = host_port.substr(0, colon), port = host_port.substr(colon + 1);
  if (host.size() > 1 && host.front() == '[') host = host.substr(1, host.size() - 2);
  boost::system::error_code ec;
  auto address = asio::ip::make_address(host.empty() ? "127.0.0.1" : host, ec);
  if (ec) return makeError("invalid_config", "config field 'metrics_listen': '" + host + "' is not an IP address");
  if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos ||
      std::stoul(port) > 65535)
    return makeError("invalid_config", "config field 'metrics_listen': '" + port + "' is not a port number");
  tcp::endpoint endpoint(address, static_cast<std::uint16_t>(std::stoul(port)));
  acceptor_.open(endpoint.protocol(), ec);
  if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(endpoint, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return makeError("listen_failed", "cannot listen on " + host_port + " (metrics_listen): " + ec.message());
  port_ = acceptor_.local_endpoint().port();
  return Ok{};
}

void MetricsListener::start() {
  if (acceptor_.is_open()) asio::co_spawn(network_, acceptLoop(), asio::detached);
}

void MetricsListener::stop() {
  boost::system::error_code ignored;
  acceptor_.close(ignored);
}

asio::awaitable<void> MetricsListener::acceptLoop() {
  for (;;) {
    boost::system::error_code ec;
    tcp::socket socket = co_await acceptor_.async_accept(asio::redirect_error(asio::use_awaitable, ec));
    if (ec == asio::error::operation_aborted || !acceptor_.is_open()) co_return;
    if (ec) continue;
    if (last_->connections >= kMaxConnections) {
      socket.close(ec);
      continue;
    }
    socket.set_option(tcp::no_delay(true), ec);  // no 40 ms wait on the delayed ACK between records
    asio::co_spawn(network_, serve(std::move(socket)), asio::detached);
  }
}

asio::awaitable<void> MetricsListener::serve(tcp::socket socket) {
  struct Counted {
    std::shared_ptr<Rendered> shared;
    explicit Counted(std::shared_ptr<Rendered> s) : shared(std::move(s)) { ++shared->connections; }
    ~Counted() { --shared->connections; }
  } counted{last_};
  beast::tcp_stream stream(std::move(socket));
  stream.expires_after(kMetricsTimeout);
  beast::flat_buffer buffer;
  http::request_parser<http::empty_body> parser;
  parser.header_limit(kMetricsHeaderLimit);
  parser.body_limit(0);
  boost::system::error_code ec;
  co_await http::async_read(stream, buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return;
  const auto& req = parser.get();
  http::response<http::string_body> res;
  res.version(11);
  res.keep_alive(false);
  const std::string target(req.target());
  if (req.method() == http::verb::get && target.substr(0, target.find('?')) == "/metrics") {
    auto pending = std::make_shared<PendingRender>(network_);
    pending->ready.expires_after(kFreshWithin);
    last_->waiters.push_back(pending);
    if (!last_->rendering) {  // else the render under way answers this scrape too
      last_->rendering = true;
      asio::post(service_, [render = render_, last = last_, network = network_] {
        std::string text = render();
        asio::post(network, [last, text = std::move(text)] {
          last->text = text;  // a late answer still refreshes the fallback
          last->at = std::chrono::steady_clock::now();
          last->rendering = false;
          for (auto& waiter : last->waiters) {
            waiter->text = text;
            waiter->ready.cancel();
          }
          last->waiters.clear();
        });
      });
    }
    boost::system::error_code waited;
    co_await pending->ready.async_wait(asio::redirect_error(asio::use_awaitable, waited));
    std::erase(last_->waiters, pending);  // timed out: the render need not answer it
    if (pending->text || last_->at) {
      const auto age = pending->text ? std::chrono::seconds(0)
                                     : std::chrono::duration_cast<std::chrono::seconds>(
                                           std::chrono::steady_clock::now() - *last_->at);
      res.result(http::status::ok);
      res.set(http::field::content_type, "text/plain; version=0.0.4");
      res.body() = (pending->text ? *pending->text : last_->text) + ageLines(age.count());
    } else {
      res.result(http::status::service_unavailable);
      res.set(http::field::content_type, "text/plain");
      res.set(http::field::retry_after, "5");
      res.body() = "the service thread has not answered for 2 s (a stalled store?) and no earlier figures exist\n";
    }
  } else {
    res.result(http::status::not_found);
    res.set(http::field::content_type, "text/plain");
    res.body() = "this listener answers GET /metrics only\n";
  }
  res.prepare_payload();
  co_await http::async_write(stream, res, asio::redirect_error(asio::use_awaitable, ec));
  stream.socket().shutdown(tcp::socket::shutdown_send, ec);
}

}  // namespace berth::server
