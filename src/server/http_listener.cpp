#include "server/http_listener.hpp"

#include <openssl/ssl.h>

#include <algorithm>
#include <cerrno>
#include <optional>

#include <boost/asio/steady_timer.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>

#include "common/clock.hpp"
#include "common/ids.hpp"
#include "common/logging.hpp"
#include "net/ws_channel.hpp"
#include "pki/keys.hpp"
#include "pki/ossl.hpp"
#include "protocol/envelope.hpp"

namespace berth::server {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;

namespace {
constexpr std::size_t kMaxRequestBody = 1 << 20;

constexpr auto kHandshakeTimeout = std::chrono::seconds(10);
constexpr auto kIdleTimeout = std::chrono::seconds(60);

struct VerifiedClient {
  std::string cn;
  std::string serial_hex;
};

// CN and serial of the client's certificate when it was presented and verified.
VerifiedClient verifiedClient(SSL* ssl) {
  if (SSL_get_verify_result(ssl) != X509_V_OK) return {};
  X509* cert = SSL_get0_peer_certificate(ssl);
  if (!cert) return {};
  char cn[256] = {0};
  X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof cn - 1);
  return {cn, pki::serialHex(cert)};
}

bool isLoopback(const asio::ip::address& address) {
  if (address.is_loopback()) return true;
  return address.is_v6() && address.to_v6().is_v4_mapped() &&
         asio::ip::make_address_v4(asio::ip::v4_mapped, address.to_v6()).is_loopback();
}

http::response<http::string_body> toHttp(const ApiResponse& r, unsigned version, bool keep_alive,
                                         const std::string& request_id) {
  http::response<http::string_body> res{static_cast<http::status>(r.status), version};
  res.set(http::field::server, "berth");
  res.set(http::field::content_type, r.content_type);
  res.set("X-Request-Id", request_id);
  for (const auto& [name, value] : r.headers) res.set(name, value);
  res.keep_alive(keep_alive);
  res.body() = r.body;
  res.prepare_payload();
  return res;
}

bool offersSubprotocol(const http::request<http::string_body>& req) {
  return offersToken(req[http::field::sec_websocket_protocol], protocol::kSubprotocol);
}

// The answer to a request Beast refused to read whole, or nullopt when the
// connection just ends (closed, timed out, garbage).
std::optional<ApiResponse> readFailure(const beast::error_code& ec) {
  if (ec == http::error::body_limit) {
    auto r = errorResponse(makeError(
        "payload_too_large", "request body: must be at most " + std::to_string(kMaxRequestBody) + " bytes"));
    return r;
  }
  if (ec == http::error::header_limit) {
    return errorResponse(makeError("headers_too_large", "request headers: must be at most 8192 bytes in all"));
  }
  return std::nullopt;
}

}  // namespace

HttpListener::HttpListener(asio::any_io_executor network, std::function<asio::any_io_executor()> connection_executor,
                           asio::any_io_executor service, asio::ssl::context& tls, Api& api, Gateway& gateway,
                           GroupCommit& group_commit, const ServerConfig& config, Metrics& metrics)
    : executor_(network),
      connection_executor_(std::move(connection_executor)),
      service_(service),
      tls_(tls),
      api_(api),
      gateway_(gateway),
      group_commit_(group_commit),
      max_frame_bytes_(static_cast<std::size_t>(config.max_frame_bytes)),
      limit_loopback_connections_(config.limit_loopback_connections),
      metrics_(metrics),
      connections_(config.max_connections_per_address),
      max_handshakes_in_flight_(static_cast<std::size_t>(config.max_handshakes_in_flight)),
      handshake_slot_freed_(network),
      handshakes_per_address_limit_(std::max(1, config.max_handshakes_in_flight / 4)),
      handshakes_per_address_(handshakes_per_address_limit_),
      acceptor_(network) {}

Result<void> HttpListener::listen(const std::string& host_port) {
  auto colon = host_port.rfind(':');
  std::string host = host_port.substr(0, colon), port = host_port.substr(colon + 1);
  if (host.size() > 1 && host.front() == '[') host = host.substr(1, host.size() - 2);
  boost::system::error_code ec;
  auto address = asio::ip::make_address(host.empty() ? "0.0.0.0" : host, ec);
  if (ec) return makeError("invalid_config", "config field 'listen': '" + host + "' is not an IP address");
  std::uint16_t portNumber = 0;
  try {
    portNumber = static_cast<std::uint16_t>(std::stoul(port));
  } catch (...) {
    return makeError("invalid_config", "config field 'listen': '" + port + "' is not a port number");
  }
  tcp::endpoint endpoint(address, portNumber);
  acceptor_.open(endpoint.protocol(), ec);
  if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(endpoint, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return makeError("listen_failed", "cannot listen on " + host_port + ": " + ec.message());
  port_ = acceptor_.local_endpoint().port();
  return Ok{};
}

void HttpListener::start() { asio::co_spawn(executor_, acceptLoop(), asio::detached); }

void HttpListener::stop() {
  boost::system::error_code ignored;
  acceptor_.close(ignored);
  handshake_slot_freed_.cancel();
}

asio::awaitable<void> HttpListener::waitForHandshakeSlot() {
  while (handshakesInFlight() >= max_handshakes_in_flight_ && acceptor_.is_open()) {
    handshake_slot_freed_.expires_at(asio::steady_timer::time_point::max());
    boost::system::error_code ec;
    co_await handshake_slot_freed_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
}

std::size_t HttpListener::handshakesInFlight() {
  std::lock_guard lock(counts_mutex_);
  return handshakes_in_flight_;
}

// Released at once, under the lock, so the next accept sees the count the
// connection left (not one still waiting in a queue); only the accepting
// thread's wake-up is posted, since its timer belongs to it.
void HttpListener::releaseHandshakeSlot(const std::string& counted_address) {
  {
    std::lock_guard lock(counts_mutex_);
    if (!counted_address.empty()) handshakes_per_address_.release(counted_address);
    --handshakes_in_flight_;
    --metrics_.tls_handshakes_in_flight;
  }
  asio::post(executor_, [this] { handshake_slot_freed_.cancel(); });
}

void HttpListener::releaseConnection(const std::string& counted_address) {
  if (counted_address.empty()) return;
  std::lock_guard lock(counts_mutex_);
  connections_.release(counted_address);
}

asio::awaitable<void> HttpListener::acceptLoop() {
  for (;;) {
    co_await waitForHandshakeSlot();
    boost::system::error_code ec;
    // The connection's thread is chosen here and kept for its whole life.
    tcp::socket socket =
        co_await acceptor_.async_accept(connection_executor_(), asio::redirect_error(asio::use_awaitable, ec));
    if (ec == asio::error::operation_aborted || !acceptor_.is_open()) co_return;
    if (ec) {
      // Out of file descriptors (a reconnect storm): retrying at once would spin
      // and log thousands of lines a second; pause while sessions settle.
      const bool outOfFiles = ec == asio::error::no_descriptors || ec.value() == ENFILE;
      if (!outOfFiles || accept_failures_logged_.take(systemNowMs())) {
        log::warn("accept failed", {{"error", ec.message()}});
      }
      if (outOfFiles) {
        ++metrics_.accept_out_of_files_total;
        asio::steady_timer pause(executor_, std::chrono::milliseconds(50));
        co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      }
      continue;
    }
    // Answers go out as several TLS records: with Nagle on, the second waits for the
    // client's delayed ACK (40 ms per request on Linux).
    socket.set_option(tcp::no_delay(true), ec);
    boost::system::error_code peerError;
    const auto peer = socket.remote_endpoint(peerError).address();
    if (peerError) continue;  // already gone
    std::string counted;
    std::unique_lock counts(counts_mutex_);
    if (limit_loopback_connections_ || !isLoopback(peer)) {
      counted = clientAddressKey(peer);
      if (!connections_.tryAcquire(counted)) {
        ++metrics_.connections_refused_total;
        log::debug("connection refused: too many from one address", {{"remote", counted}});
        socket.close(peerError);
        continue;
      }
    }
    if (!counted.empty() && !handshakes_per_address_.tryAcquire(counted)) {
      ++metrics_.connections_refused_total;
      log::debug("connection refused: too many handshakes from one address", {{"remote", counted}});
      connections_.release(counted);
      socket.close(peerError);
      continue;
    }
    ++handshakes_in_flight_;  // released by serve() once the handshake is over, whichever way
    ++metrics_.tls_handshakes_in_flight;
    counts.unlock();
    auto connectionExecutor = socket.get_executor();
    asio::co_spawn(connectionExecutor, connection(std::move(socket), std::move(counted)), asio::detached);
  }
}

asio::awaitable<void> HttpListener::connection(tcp::socket socket, std::string counted_address) {
  struct Release {
    HttpListener& listener;
    const std::string& address;
    bool handed_off = false;
    ~Release() {
      if (!handed_off) listener.releaseConnection(address);
    }
  } release{*this, counted_address};
  try {
    co_await serve(std::move(socket), counted_address, release.handed_off);
  } catch (const std::exception& e) {  // a bug: drop this connection, keep serving others
    log::error("connection handler threw", {{"error", e.what()}});
  }
}

asio::awaitable<void> HttpListener::serve(tcp::socket socket, const std::string& counted_address,
                                         bool& handed_off) {
  beast::error_code ec;
  auto token = asio::redirect_error(asio::use_awaitable, ec);
  const std::string remote = socket.remote_endpoint(ec).address().to_string();
  struct HandshakeSlot {
    HttpListener& listener;
    const std::string& address;
    bool held = true;
    void release() {
      if (std::exchange(held, false)) listener.releaseHandshakeSlot(address);
    }
    ~HandshakeSlot() { release(); }
  } slot{*this, counted_address};
  net::TlsStream stream(std::move(socket), tls_);
  beast::get_lowest_layer(stream).expires_after(kHandshakeTimeout);
  co_await stream.async_handshake(asio::ssl::stream_base::server, token);
  slot.release();
  if (ec) {
    log::info("TLS handshake refused", {{"remote", remote}, {"error", ec.message()}});
    co_return;
  }
  const VerifiedClient client = verifiedClient(stream.native_handle());
  const std::string& clientNode = client.cn;
  beast::flat_buffer buffer;
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.body_limit(kMaxRequestBody);
    beast::get_lowest_layer(stream).expires_after(kIdleTimeout);
    co_await http::async_read(stream, buffer, parser, token);
    if (ec) {
      // Too large: say so (the connection then closes) instead of just closing.
      if (auto refusal = readFailure(ec)) {
        const unsigned version = parser.is_header_done() ? parser.get().version() : 11;
        beast::get_lowest_layer(stream).expires_after(kHandshakeTimeout);
        co_await http::async_write(stream, toHttp(*refusal, version, false, newId("req")), token);
      }
      break;
    }
    auto req = parser.release();
    const std::string requestId = acceptableRequestId(req["X-Request-Id"], newId("req"));

    if (websocket::is_upgrade(req)) {
      ApiResponse refusal;
      if (req.target() != "/agent/ws") {
        refusal = errorResponse(makeError("not_found", "WebSocket endpoint is /agent/ws"));
      } else if (clientNode.empty()) {
        refusal = errorResponse(
            makeError("unauthorized", "the agent gateway needs a client certificate from this server's CA"));
      } else if (!offersSubprotocol(req)) {
        refusal = errorResponse(makeError(
            "invalid_argument", std::string("header 'Sec-WebSocket-Protocol': must offer ") + protocol::kSubprotocol));
      } else {
        beast::get_lowest_layer(stream).expires_never();
        net::WsStream ws(std::move(stream));
        ws.set_option(websocket::stream_base::timeout{kHandshakeTimeout, websocket::stream_base::none(), false});
        ws.set_option(websocket::stream_base::decorator([](websocket::response_type& res) {
          res.set(http::field::sec_websocket_protocol, protocol::kSubprotocol);
          res.set(http::field::server, "berth");
        }));
        // Frames a little over the limit reach the validator (and get frame_too_large);
        // far larger ones end the connection inside Beast.
        ws.read_message_max(max_frame_bytes_ * 4);
        co_await ws.async_accept(req, token);
        if (ec) co_return;
        // The session outlives this coroutine, whose HTTP buffers are freed now.
        // A WebSocket still waiting for its HELLO counts against the address.
        std::function<void()> untilHello;
        if (!counted_address.empty()) {
          untilHello = [this, address = counted_address] { releaseConnection(address); };
        }
        auto sessionExecutor = ws.get_executor();
        asio::co_spawn(sessionExecutor,
                       gateway_.serve(std::make_shared<net::WsChannel>(std::move(ws)), clientNode,
                                      std::move(untilHello)),
                       asio::detached);
        handed_off = true;
        co_return;
      }
      co_await http::async_write(stream, toHttp(refusal, req.version(), false, requestId), token);
      break;
    }

    ApiRequest request;
    request.method = std::string(req.method_string());
    request.target = std::string(req.target());
    request.body = std::move(req.body());
    request.request_id = requestId;
    request.client_node_id = clientNode;
    request.client_cert_serial = client.serial_hex;
    request.remote_address = remote;
    request.last_event_id = std::string(req["Last-Event-ID"]);
    request.org = std::string(req["X-Berth-Org"]);
    request.idempotency_key = std::string(req["Idempotency-Key"]);
    if (request.target.rfind("/api/v1/hooks/", 0) == 0) {
      for (const char* name : {"x-hub-signature-256", "x-gitlab-token", "x-github-delivery", "x-gitlab-event-uuid",
                               "x-github-event", "x-gitlab-event"}) {
        if (auto it = req.find(name); it != req.end()) request.hook_headers[name] = std::string(it->value());
      }
    }
    std::string auth(req[http::field::authorization]);
    if (auth.rfind("Bearer ", 0) == 0) request.bearer = auth.substr(7);
    // The handler runs on the service thread. The awaitable is a named local:
    // g++ 12 destroys non-trivial temporaries inside a co_await twice.
    auto handled = asio::co_spawn(service_, [this, &request] { return handle(request); }, asio::use_awaitable);
    ApiResponse response = co_await std::move(handled);
    if (response.stream) {  // server-sent events: head, then chunks until either side ends
      beast::get_lowest_layer(stream).expires_never();
      std::string head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
                         "Connection: close\r\nX-Request-Id: " + requestId + "\r\n\r\n";
      co_await asio::async_write(stream, asio::buffer(head), token);
      while (!ec) {
        auto nextChunk = [stream = response.stream] { return stream->next(); };
        auto pending = asio::co_spawn(service_, std::move(nextChunk), asio::use_awaitable);
        auto chunk = co_await std::move(pending);
        if (!chunk) break;
        beast::get_lowest_layer(stream).expires_after(kIdleTimeout);
        co_await asio::async_write(stream, asio::buffer(*chunk), token);
      }
      break;
    }
    const bool keepAlive = req.keep_alive();
    co_await http::async_write(stream, toHttp(response, req.version(), keepAlive, requestId), token);
    if (ec || !keepAlive) break;
  }
  beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(2));
  co_await stream.async_shutdown(token);
}

asio::awaitable<ApiResponse> HttpListener::handle(const ApiRequest& request) {
  ApiResponse response;
  try {
    response = api_.handle(request);
  } catch (const std::exception& e) {  // a bug: answer 500 and keep serving
    log::error("request handler threw",
               {{"error", e.what()}, {"request_id", request.request_id}, {"target", request.target}});
    response = errorResponse(makeError("internal", "internal error; see the server log for " + request.request_id));
  }
  if (request.method != "GET") {  // answer only once the writes are committed
    auto durable = co_await group_commit_.durable();
    if (!durable)
      response = errorResponse(makeError(
          "store_unavailable", "not committed, nothing was changed (retry later): " + durable.error().message));
  }
  co_return response;
}

}  // namespace berth::server
