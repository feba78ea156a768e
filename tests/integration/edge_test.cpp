// Servers started: one `berth server` on 127.0.0.1 (real TLS, SQLite); the
// tests speak raw HTTP/1.1 over TLS to it to send what well-behaved clients do not.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>

#include <fstream>
#include <thread>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/write.hpp>

#include "agent/enrollment.hpp"
#include "harness.hpp"
#include "net/http_client.hpp"
#include "pki/sealed_file.hpp"

namespace berth::itest {
namespace {
namespace asio = boost::asio;

// Writes `text` over a fresh TLS connection (with the client certificate in
// `tls`) and returns everything the server sends until it closes (or, for an
// accepted WebSocket upgrade, the response head).
std::string rawExchange(const std::string& url_text, net::ssl::context& tls, const std::string& text) {
  auto url = net::parseUrl(url_text);
  asio::io_context io;
  asio::ssl::stream<asio::ip::tcp::socket> stream(io, tls);
  asio::ip::tcp::resolver resolver(io);
  asio::connect(stream.lowest_layer(), resolver.resolve(url->host, url->port));
  stream.handshake(asio::ssl::stream_base::client);
  asio::write(stream, asio::buffer(text));
  std::string out;
  boost::system::error_code ec;
  char chunk[4096];
  for (;;) {
    auto n = stream.read_some(asio::buffer(chunk), ec);
    out.append(chunk, n);
    if (ec) break;
    // An accepted upgrade stays open: its head is all there is to read.
    if (out.rfind("HTTP/1.1 101", 0) == 0 && out.find("\r\n\r\n") != std::string::npos) break;
  }
  return out;
}

std::unique_ptr<net::ssl::context> plainTls(const Cluster& c) {
  return std::move(net::makeClientContext({*pki::readFile(c.caFile()), "", ""}).value());
}

TEST(Edge, InvalidUtf8InThePathAnswers400NotA500) {
  Cluster c;
  c.startServer();
  auto tls = plainTls(c);
  for (const std::string target : {"/api/v1/apps/caf\xff", "/api/v1/no\xc3/such", "/api/v1/apps/x/logs?since=\xfe"}) {
    auto r = net::httpsRequest(*net::parseUrl(c.url()), *tls,
                               {"GET", target, "", {{"Authorization", "Bearer " + c.apiKey()}}});
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(r->status, 400) << r->body;
    EXPECT_NE(r->body.find("field 'path': must be valid UTF-8"), std::string::npos) << r->body;
  }
  // The server kept serving.
  EXPECT_EQ(c.api("GET", "/api/v1/status").status, 200);
}

TEST(Edge, RequestIdsThatCannotBeEchoedAreReplaced) {
  Cluster c;
  c.startServer();
  auto tls = plainTls(c);
  auto ask = [&](const std::string& id) {
    auto r = net::httpsRequest(*net::parseUrl(c.url()), *tls, {"GET", "/healthz", "", {{"X-Request-Id", id}}});
    EXPECT_TRUE(r.ok());
    return r.ok() ? r->headers["x-request-id"] : std::string();
  };
  EXPECT_EQ(ask("mine-123"), "mine-123");
  const std::string binary = ask("\xff\xfe\x80");
  EXPECT_EQ(binary.rfind("req_", 0), 0u) << binary;
  const std::string spaced = ask("two words");
  EXPECT_EQ(spaced.rfind("req_", 0), 0u) << spaced;
  EXPECT_EQ(ask(std::string(129, 'a')).rfind("req_", 0), 0u);
}

TEST(Edge, OversizedBodiesAndHeadersGetAnAnswerBeforeTheClose) {
  Cluster c;
  c.startServer();
  auto tls = plainTls(c);
  const std::string big = rawExchange(c.url(), *tls,
                                      "POST /api/v1/apps HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                                      "Content-Length: 5000000\r\n\r\n{");
  EXPECT_EQ(big.rfind("HTTP/1.1 413", 0), 0u) << big;
  EXPECT_NE(big.find("payload_too_large"), std::string::npos) << big;
  EXPECT_NE(big.find("must be at most 1048576 bytes"), std::string::npos) << big;
  const std::string headers = rawExchange(
      c.url(), *tls, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Padding: " + std::string(20000, 'a') + "\r\n\r\n");
  EXPECT_EQ(headers.rfind("HTTP/1.1 431", 0), 0u) << headers.substr(0, 200);
  EXPECT_NE(headers.find("headers_too_large"), std::string::npos) << headers;
}

TEST(Edge, WebSocketSubprotocolMustBeAWholeToken) {
  Cluster c;
  c.startServer();
  auto state = agent::enroll({c.url(), c.createToken(), c.caPin(), "h"});
  ASSERT_TRUE(state.ok()) << state.error().message;
  auto tls = net::makeClientContext({state->ca_pem, state->cert_pem, state->key_pem});
  auto upgrade = [&](const std::string& offered) {
    return rawExchange(c.url(), **tls,
                       "GET /agent/ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                       "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                       "Sec-WebSocket-Protocol: " +
                           offered + "\r\n\r\n");
  };
  const std::string longer = upgrade("berth-agent-v10");
  EXPECT_EQ(longer.rfind("HTTP/1.1 400", 0), 0u) << longer;
  EXPECT_NE(longer.find("must offer berth-agent-v1"), std::string::npos) << longer;
  EXPECT_EQ(upgrade("xberth-agent-v1").rfind("HTTP/1.1 400", 0), 0u);
  EXPECT_EQ(upgrade("chat, berth-agent-v1").rfind("HTTP/1.1 101", 0), 0u);
}

// Opens a TCP connection and reports whether the server closed it at once.
bool closedAtOnce(asio::io_context& io, asio::ip::tcp::socket& socket, const std::string& url_text) {
  auto url = net::parseUrl(url_text);
  asio::ip::tcp::resolver resolver(io);
  asio::connect(socket, resolver.resolve(url->host, url->port));
  // Readable within 2 s with nothing to read (EOF or reset): closed. Not
  // readable: the server is waiting for our TLS hello.
  pollfd fd{socket.native_handle(), POLLIN, 0};
  if (::poll(&fd, 1, 2000) <= 0) return false;
  char byte;
  return ::recv(socket.native_handle(), &byte, 1, MSG_PEEK) <= 0;
}

std::uint64_t refusedConnections(Cluster& c) {
  auto tls = plainTls(c);
  auto r = net::httpsRequest(*net::parseUrl(c.url()), *tls,
                             {"GET", "/metrics", "", {{"Authorization", "Bearer " + c.apiKey()}}});
  if (!r) return 0;
  const std::string name = "\nberth_connections_refused_total ";
  auto at = r->body.find(name);
  return at == std::string::npos ? 0 : std::stoull(r->body.substr(at + name.size()));
}

// Holds `held` connections open, then says whether one more is closed at once.
bool fourthClosedAtOnce(const std::string& server_url, int held_count) {
  asio::io_context io;
  std::vector<std::unique_ptr<asio::ip::tcp::socket>> held;
  auto url = net::parseUrl(server_url);
  asio::ip::tcp::resolver resolver(io);
  for (int i = 0; i < held_count; ++i) {
    held.push_back(std::make_unique<asio::ip::tcp::socket>(io));
    asio::connect(*held.back(), resolver.resolve(url->host, url->port));
  }
  asio::ip::tcp::socket next(io);
  return closedAtOnce(io, next, server_url);
}

TEST(Edge, ConnectionsPerAddressAreCappedLoopbackOnlyWhenAsked) {
  Cluster c;
  c.startServer({"--max-connections-per-address", "3"});
  EXPECT_FALSE(fourthClosedAtOnce(c.url(), 3));  // loopback is exempt by default
  EXPECT_EQ(refusedConnections(c), 0u);
  c.killServer(SIGTERM);
  c.startServer({"--max-connections-per-address", "3", "--limit-loopback-connections", "true"});
  EXPECT_TRUE(fourthClosedAtOnce(c.url(), 3));
  // The held connections are gone: the address is under the cap again and the refusal was counted.
  std::uint64_t refused = 0;
  EXPECT_TRUE(eventually([&] { return (refused = refusedConnections(c)) >= 1; }));
  EXPECT_GE(refused, 1u);
}

// Whether a TLS handshake with the server (no client certificate) finishes within `limit`.
bool handshakeWithin(const std::string& server_url, std::chrono::milliseconds limit) {
  asio::io_context io;
  asio::ssl::context ctx(asio::ssl::context::tls_client);
  ctx.set_verify_mode(asio::ssl::verify_none);
  asio::ssl::stream<asio::ip::tcp::socket> tls(io, ctx);
  auto url = net::parseUrl(server_url);
  asio::ip::tcp::resolver resolver(io);
  asio::connect(tls.next_layer(), resolver.resolve(url->host, url->port));
  bool done = false;
  tls.async_handshake(asio::ssl::stream_base::client, [&](const boost::system::error_code& ec) { done = !ec; });
  io.run_for(limit);
  return done;
}

// With one handshake slot: a client that connects and never says ClientHello
// holds it, so another handshake waits in the backlog (not done in 1.5 s).
bool aSilentClientHoldsTheOnlySlot(const std::string& server_url) {
  asio::io_context io;
  asio::ip::tcp::socket silent(io);
  auto url = net::parseUrl(server_url);
  asio::ip::tcp::resolver resolver(io);
  asio::connect(silent, resolver.resolve(url->host, url->port));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  return !handshakeWithin(server_url, std::chrono::milliseconds(1500));
}

// Servers started: one `berth server` allowing one TLS handshake at a time.
TEST(Edge, ConnectionsBeyondTheHandshakeLimitWaitForASlotInsteadOfFailing) {
  Cluster c;
  c.startServer({"--max-handshakes-in-flight", "1"});
  EXPECT_TRUE(handshakeWithin(c.url(), std::chrono::seconds(10)));
  EXPECT_TRUE(aSilentClientHoldsTheOnlySlot(c.url()));
  EXPECT_TRUE(handshakeWithin(c.url(), std::chrono::seconds(10)));  // the slot is free again
}

// Sends `bytes` on a fresh TCP connection, then closes it once the server has
// closed its side or `wait` has passed.
void sendAndClose(const std::string& server_url, const std::string& bytes, std::chrono::milliseconds wait) {
  asio::io_context io;
  asio::ip::tcp::socket socket(io);
  auto url = net::parseUrl(server_url);
  asio::ip::tcp::resolver resolver(io);
  asio::connect(socket, resolver.resolve(url->host, url->port));
  if (!bytes.empty()) asio::write(socket, asio::buffer(bytes));
  pollfd fd{socket.native_handle(), POLLIN, 0};
  (void)::poll(&fd, 1, static_cast<int>(wait.count()));
}

// Servers started: one `berth server` allowing one TLS handshake at a time, so
// a single slot lost on any path would leave every later handshake waiting.
TEST(Edge, EveryWayAHandshakeEndsGivesItsSlotBack) {
  Cluster c;
  c.startServer({"--max-handshakes-in-flight", "1"});
  using std::chrono::milliseconds;
  sendAndClose(c.url(), "", milliseconds(0));                            // closed before a byte
  sendAndClose(c.url(), "GET / HTTP/1.1\r\n\r\n", milliseconds(2000));  // not TLS: refused
  sendAndClose(c.url(), std::string("\x16\x03\x01\x02\x00\x01", 6), milliseconds(300));  // closed mid-record
  // A handshake that succeeds, then a request the server refuses (an agent
  // upgrade without a client certificate: 401), then one it answers.
  auto tls = plainTls(c);
  const std::string refused = rawExchange(c.url(), *tls,
                                          "GET /agent/ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n"
                                          "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                                          "Sec-WebSocket-Version: 13\r\n\r\n");
  EXPECT_EQ(refused.rfind("HTTP/1.1 401", 0), 0u) << refused;
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(handshakeWithin(c.url(), std::chrono::seconds(10))) << i;
  EXPECT_EQ(c.api("GET", "/api/v1/status").status, 200);
}

// Servers started: one `berth server` reading a configuration file with one
// handshake slot; the file then asks for 8 and the server gets a SIGHUP.
TEST(Edge, HandshakeLimitsStayAsStartedAcrossAReloadAndTheLogSaysSo) {
  Cluster c;
  const std::string config = c.root() + "/server.json";
  std::ofstream(config) << R"({"max_handshakes_in_flight": 1, "max_connections_per_address": 5})";
  c.startServer({"--config", config});
  std::ofstream(config) << R"({"max_handshakes_in_flight": 8, "max_connections_per_address": 6, "max_in_flight": 2})";
  c.server().signal(SIGHUP);
  ASSERT_TRUE(eventually([&] { return c.api("GET", "/api/v1/status").body["config"]["max_in_flight"] == 2; }));
  const std::string log = c.server().log();
  const auto warned = log.find("change only on restart");
  ASSERT_NE(warned, std::string::npos) << log;
  const auto begin = log.rfind('\n', warned) + 1;  // npos + 1 == 0 on the first line
  const std::string line = log.substr(begin, log.find('\n', warned) - begin);
  EXPECT_NE(line.find("max_handshakes_in_flight"), std::string::npos) << line;
  EXPECT_NE(line.find("max_connections_per_address"), std::string::npos) << line;
  EXPECT_EQ(line.find("max_in_flight,"), std::string::npos) << line;  // that one was applied
  auto running = c.api("GET", "/api/v1/status").body["config"];
  EXPECT_EQ(running["max_handshakes_in_flight"], 1);
  EXPECT_EQ(running["max_connections_per_address"], 5);
  // And the listener still allows one handshake at a time.
  EXPECT_TRUE(aSilentClientHoldsTheOnlySlot(c.url()));
  EXPECT_TRUE(handshakeWithin(c.url(), std::chrono::seconds(10)));
}

// Servers started: one `berth server` with 8 handshake slots, loopback counted
// like any address: one address may hold 2 of them; its third silent connection is closed.
TEST(Edge, OneAddressHoldsAtMostAQuarterOfTheHandshakeSlots) {
  Cluster c;
  c.startServer({"--max-handshakes-in-flight", "8", "--limit-loopback-connections", "true"});
  EXPECT_FALSE(fourthClosedAtOnce(c.url(), 1));
  // Those two are closed by now, but the server counts them until it has read their end: while it
  // has not, the next try's first connection would meet them and be refused in its place.
  EXPECT_TRUE(eventually([&] { return c.metric("berth_tls_handshakes_in_flight") == 0; }));
  EXPECT_TRUE(fourthClosedAtOnce(c.url(), 2));
  std::uint64_t refused = 0;
  EXPECT_TRUE(eventually([&] { return (refused = refusedConnections(c)) >= 1; }));
  EXPECT_GE(refused, 1u);
}

}  // namespace
}  // namespace berth::itest
