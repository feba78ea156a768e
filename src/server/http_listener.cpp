#include "server/http_listener.hpp"

#include <openssl/ssl.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>

#include "common/ids.hpp"
#include "common/logging.hpp"
#include "net/ws_channel.hpp"
#include "pki/keys.hpp"
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

// CN of the client's certificate when it was presented and verified.
std::string verifiedClientCn(SSL* ssl) {
  if (SSL_get_verify_result(ssl) != X509_V_OK) return {};
  X509* cert = SSL_get0_peer_certificate(ssl);
  if (!cert) return {};
  char cn[256] = {0};
  X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof cn - 1);
  return cn;
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
  auto offered = req[http::field::sec_websocket_protocol];
  return offered.find(protocol::kSubprotocol) != std::string_view::npos;
}

}  // namespace

HttpListener::HttpListener(asio::any_io_executor executor, asio::ssl::context& tls, Api& api, Gateway& gateway,
                           GroupCommit& group_commit, const ServerConfig& config)
    : executor_(executor),
      tls_(tls),
      api_(api),
      gateway_(gateway),
      group_commit_(group_commit),
      config_(config),
      acceptor_(executor) {}

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
}

asio::awaitable<void> HttpListener::acceptLoop() {
  for (;;) {
    boost::system::error_code ec;
    tcp::socket socket = co_await acceptor_.async_accept(asio::redirect_error(asio::use_awaitable, ec));
    if (ec == asio::error::operation_aborted || !acceptor_.is_open()) co_return;
    if (ec) {
      log::warn("accept failed", {{"error", ec.message()}});
      continue;
    }
    asio::co_spawn(executor_, connection(std::move(socket)), asio::detached);
  }
}

asio::awaitable<void> HttpListener::connection(tcp::socket socket) {
  beast::error_code ec;
  auto token = asio::redirect_error(asio::use_awaitable, ec);
  const std::string remote = socket.remote_endpoint(ec).address().to_string();
  beast::ssl_stream<beast::tcp_stream> stream(std::move(socket), tls_);
  beast::get_lowest_layer(stream).expires_after(kHandshakeTimeout);
  co_await stream.async_handshake(asio::ssl::stream_base::server, token);
  if (ec) {
    log::info("TLS handshake refused", {{"remote", remote}, {"error", ec.message()}});
    co_return;
  }
  const std::string clientNode = verifiedClientCn(stream.native_handle());
  beast::flat_buffer buffer;
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.body_limit(kMaxRequestBody);
    beast::get_lowest_layer(stream).expires_after(kIdleTimeout);
    co_await http::async_read(stream, buffer, parser, token);
    if (ec) break;
    auto req = parser.release();
    std::string requestId(req["X-Request-Id"]);
    if (requestId.empty() || requestId.size() > 128) requestId = newId("req");

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
        ws.read_message_max(static_cast<std::size_t>(config_.max_frame_bytes) * 4);
        co_await ws.async_accept(req, token);
        if (ec) co_return;
        // The session outlives this coroutine, whose HTTP buffers are freed now.
        asio::co_spawn(executor_, gateway_.serve(std::make_shared<net::WsChannel>(std::move(ws)), clientNode),
                       asio::detached);
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
    request.last_event_id = std::string(req["Last-Event-ID"]);
    std::string auth(req[http::field::authorization]);
    if (auth.rfind("Bearer ", 0) == 0) request.bearer = auth.substr(7);
    ApiResponse response;
    try {
      response = api_.handle(request);
    } catch (const std::exception& e) {  // a bug: answer 500 and keep serving
      log::error("request handler threw", {{"error", e.what()}, {"request_id", requestId}, {"target", request.target}});
      response = errorResponse(makeError("internal", "internal error; see the server log for " + requestId));
    }
    if (request.method != "GET") {  // answer only once the writes are committed
      auto durable = co_await group_commit_.durable();
      if (!durable) response = errorResponse(makeError("store_unavailable", "not committed, nothing was changed (retry later): " + durable.error().message));
    }
    if (response.stream) {  // server-sent events: head, then chunks until either side ends
      beast::get_lowest_layer(stream).expires_never();
      std::string head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
                         "Connection: close\r\nX-Request-Id: " + requestId + "\r\n\r\n";
      co_await asio::async_write(stream, asio::buffer(head), token);
      while (!ec) {
        auto chunk = co_await response.stream->next();
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

}  // namespace berth::server
