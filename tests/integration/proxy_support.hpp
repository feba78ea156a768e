// Helpers for the reverse-proxy adapters' tests: free loopback ports, plain or
// TLS requests with a chosen Host, and an upgraded (WebSocket-like) tunnel
// through the proxy to an upstream that echoes.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <string>

#include "proxy/caddy/caddy_render.hpp"
#include "proxy/proxy_state.hpp"

namespace berth::itest {

int freePort();

// Caddy on free loopback ports, admin API on loopback, its storage under `root`, and
// its ACME issuer pointed at a closed loopback port (nothing leaves the machine;
// tests that want certificates point it at Pebble).
proxy::caddy::CaddyOptions loopbackCaddyOptions(const std::string& root);

struct ProxyAnswer {
  int status = 0;  // 0: no answer
  std::string body;
  std::string location, retry_after;
  std::string strict_transport_security;  // the HSTS header, "" when absent
};

// One HTTP/1.1 request to address:port with `host`; TLS (SNI `host`) when
// asked, verifying the certificate for `host` against `ca_file` when given
// (no answer when it does not verify), else not verifying.
ProxyAnswer request(int port, const std::string& host, const std::string& target, bool tls = false,
                    const std::string& address = "127.0.0.1", const std::string& ca_file = "");

// A python3 program (argv[1]: port, argv[2]: optional body, default "ok",
// argv[3]: optional address, default 127.0.0.1) that
// answers an Upgrade with 101 and then echoes bytes, `GET /events` with an event stream
// (one event, then the answer stays open 30 s: server-sent events; chunked, or at
// `/events-until-close` ended by the close with `X-Accel-Buffering: no`), and anything else with 200
// and the body plus a newline: what a proxy sees of a WebSocket.
extern const char* const kUpgradeEchoServer;

// A certificate for `host` from a throwaway CA, valid for a day: `dir`/<host>.pem (the leaf, then
// the CA) and `dir`/<host>.key, as berth hands a proxy an uploaded certificate.
proxy::CertificateFiles writeTestCertificate(const std::string& dir, const std::string& host);

// An upgraded connection through the proxy at 127.0.0.1:port to `host`.
class UpgradedTunnel {
 public:
  bool open(int port, const std::string& host);  // true once the proxy answered 101
  bool echoes(const std::string& text);          // sent and read back whole, connection still open

 private:
  boost::asio::io_context io_;
  boost::asio::ip::tcp::socket socket_{io_};
};

}  // namespace berth::itest
