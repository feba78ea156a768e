#include "net/http_client.hpp"

#include <openssl/ssl.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <cctype>

#include "pki/ossl.hpp"

namespace berth::net {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

Result<Url> parseUrl(const std::string& text) {
  const std::string scheme = "https://";
  if (text.rfind(scheme, 0) != 0) return makeError("bad_url", "URL '" + text + "' must start with https://");
  std::string rest = text.substr(scheme.size());
  Url url;
  auto slash = rest.find('/');
  url.path = slash == std::string::npos ? "/" : rest.substr(slash);
  std::string authority = rest.substr(0, slash);
  auto colon = authority.rfind(':');
  if (!authority.empty() && authority.front() == '[') {  // an IPv6 address: [fd00::2]:7443
    auto close = authority.find(']');
    if (close == std::string::npos) return makeError("bad_url", "URL '" + text + "' has an unclosed '['");
    url.host = authority.substr(1, close - 1);
    const std::string after = authority.substr(close + 1);
    if (!after.empty() && after.front() != ':') return makeError("bad_url", "URL '" + text + "' has an invalid port");
    url.port = after.empty() ? "443" : after.substr(1);
  } else if (colon != std::string::npos) {
    url.host = authority.substr(0, colon);
    url.port = authority.substr(colon + 1);
  } else {
    url.host = authority;
    url.port = "443";
  }
  if (url.host.empty()) return makeError("bad_url", "URL '" + text + "' has no host");
  if (url.port.empty() || url.port.find_first_not_of("0123456789") != std::string::npos) {
    return makeError("bad_url", "URL '" + text + "' has an invalid port");
  }
  return url;
}

namespace {

asio::awaitable<Result<HttpResponse>> run(const Url& server, ssl::context& tls, const HttpRequest& request,
                                          std::chrono::milliseconds timeout, bool verify_host_name) {
  auto executor = co_await asio::this_coro::executor;
  beast::ssl_stream<beast::tcp_stream> stream(executor, tls);
  asio::ip::tcp::resolver resolver(executor);
  beast::error_code ec;
  auto token = asio::redirect_error(asio::use_awaitable, ec);

  auto endpoints = co_await resolver.async_resolve(server.host, server.port, token);
  if (ec) co_return makeError("connect_failed", "resolve " + server.host + ": " + ec.message());
  beast::get_lowest_layer(stream).expires_after(timeout);
  co_await beast::get_lowest_layer(stream).async_connect(endpoints, token);
  if (ec) co_return makeError("connect_failed", "connect " + server.host + ":" + server.port + ": " + ec.message());
  // The handshake and the request go out in several writes: with Nagle each waits for an ACK.
  beast::get_lowest_layer(stream).socket().set_option(asio::ip::tcp::no_delay(true), ec);
  SSL_set_tlsext_host_name(stream.native_handle(), server.host.c_str());
  auto names = std::make_shared<ServerNameCheck>();
  if (verify_host_name) stream.set_verify_callback(verifyServerName(server.host, names));
  co_await stream.async_handshake(ssl::stream_base::client, token);
  if (ec && names->mismatch) {
    auto error = serverNameMismatch(server.host, names->names_held);
    co_return makeError(error.code, "TLS handshake with " + server.host + ": " + error.message);
  }
  if (ec) co_return makeError("tls_failed", "TLS handshake with " + server.host + ": " + ec.message());

  http::request<http::string_body> req{http::string_to_verb(request.method), request.target, 11};
  req.set(http::field::host, server.host);
  req.set(http::field::user_agent, "berth");
  for (const auto& [name, value] : request.headers) req.set(name, value);
  if (!request.body.empty()) {
    if (request.headers.count("content-type") == 0 && request.headers.count("Content-Type") == 0) {
      req.set(http::field::content_type, "application/json");
    }
    req.body() = request.body;
  }
  req.prepare_payload();
  co_await http::async_write(stream, req, token);
  if (ec) co_return makeError("http_failed", "send request: " + ec.message());
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(request.max_response_bytes);
  co_await http::async_read(stream, buffer, parser, token);
  if (ec) co_return makeError("http_failed", "read response: " + ec.message());

  HttpResponse out;
  auto& res = parser.get();
  out.status = static_cast<int>(res.result_int());
  out.body = std::move(res.body());
  for (const auto& field : res) {
    std::string name(field.name_string());
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    out.headers[name] = std::string(field.value());
  }
  if (X509* leaf = SSL_get1_peer_certificate(stream.native_handle())) {
    pki::X509Ptr holder(leaf);
    out.peer_certificate_pem = pki::certToPem(leaf);
  }
  if (STACK_OF(X509)* chain = SSL_get_peer_cert_chain(stream.native_handle()); chain && sk_X509_num(chain) > 0) {
    out.peer_chain_last_pem = pki::certToPem(sk_X509_value(chain, sk_X509_num(chain) - 1));
  }
  beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(2));
  co_await stream.async_shutdown(token);  // best effort; servers often just close
  co_return out;
}

}  // namespace

Result<HttpResponse> httpsRequest(const Url& server, ssl::context& tls, const HttpRequest& request,
                                  std::chrono::milliseconds timeout, bool verify_host_name) {
  asio::io_context ioc;
  std::optional<Result<HttpResponse>> result;
  asio::co_spawn(
      ioc, [&]() -> asio::awaitable<void> { result = co_await run(server, tls, request, timeout, verify_host_name); },
      asio::detached);
  ioc.run();
  if (!result) return makeError("http_failed", "request did not complete");
  return std::move(*result);
}

}  // namespace berth::net
