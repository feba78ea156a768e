// TlsStream against Asio's own ssl::stream on a loopback socket pair: bytes
// arrive intact both ways (large writes, gathered buffers), a peer that
// vanishes mid-write is an error and not a SIGPIPE, a deadline ends a stalled
// read with beast's timeout, and a WebSocket runs on it.
#include "net/tls_stream.hpp"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <string>

#include "common/clock.hpp"
#include "net/tls.hpp"
#include "net/ws_channel.hpp"
#include "pki/authority.hpp"
#include "pki/keys.hpp"

namespace berth::net {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using boost::system::error_code;

class TlsStreamTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto now = systemNowMs();
    auto ca = pki::CertificateAuthority::createNew("test CA", now, 3'600'000);
    const std::string key = pki::generatePrivateKeyPem();
    auto issued = ca.issueServerCertificate(key, {"localhost"}, now, 3'600'000);
    ASSERT_TRUE(issued.ok());
    auto server = makeServerContext({issued->cert_pem + ca.certPem(), key, ca.certPem(), nullptr});
    ASSERT_TRUE(server.ok()) << server.error().message;
    server_tls = std::move(*server);
    auto client = makeClientContext({ca.certPem(), "", ""});
    ASSERT_TRUE(client.ok());
    client_tls = std::move(*client);
    acceptor.open(tcp::v4());
    acceptor.bind({asio::ip::make_address("127.0.0.1"), 0});
    acceptor.listen();
  }

  // A connected pair: our stream as the server, Asio's ssl::stream as the client, both handshaken.
  void connect(std::unique_ptr<TlsStream>& server, std::unique_ptr<asio::ssl::stream<tcp::socket>>& client) {
    client = std::make_unique<asio::ssl::stream<tcp::socket>>(io, *client_tls);
    client->next_layer().connect(acceptor.local_endpoint());
    server = std::make_unique<TlsStream>(acceptor.accept(), *server_tls);
    error_code serverEc, clientEc;
    bool serverDone = false, clientDone = false;
    server->async_handshake(asio::ssl::stream_base::server, [&](error_code ec) {
      serverEc = ec;
      serverDone = true;
    });
    client->async_handshake(asio::ssl::stream_base::client, [&](error_code ec) {
      clientEc = ec;
      clientDone = true;
    });
    io.restart();
    while (!(serverDone && clientDone) && io.run_one()) {
    }
    ASSERT_FALSE(serverEc) << serverEc.message();
    ASSERT_FALSE(clientEc) << clientEc.message();
  }

  asio::io_context io;
  std::unique_ptr<asio::ssl::context> server_tls, client_tls;
  tcp::acceptor acceptor{io};
};

TEST_F(TlsStreamTest, CarriesLargeAndGatheredWritesBothWays) {
  std::unique_ptr<TlsStream> server;
  std::unique_ptr<asio::ssl::stream<tcp::socket>> client;
  connect(server, client);
  std::string big(1 << 20, '\0');
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 7 + i / 251);
  const std::string head = "head:", tail = ":tail";
  std::string fromServer(head.size() + big.size() + tail.size(), '\0'), fromClient(big.size(), '\0');
  std::array<asio::const_buffer, 3> gathered{asio::buffer(head), asio::buffer(big), asio::buffer(tail)};
  int done = 0;
  error_code e1, e2, e3, e4;
  asio::async_write(*server, gathered, [&](error_code ec, std::size_t) { e1 = ec, ++done; });
  asio::async_read(*client, asio::buffer(fromServer), [&](error_code ec, std::size_t) { e2 = ec, ++done; });
  asio::async_write(*client, asio::buffer(big), [&](error_code ec, std::size_t) { e3 = ec, ++done; });
  asio::async_read(*server, asio::buffer(fromClient), [&](error_code ec, std::size_t) { e4 = ec, ++done; });
  io.restart();
  while (done < 4 && io.run_one()) {
  }
  ASSERT_EQ(done, 4);
  EXPECT_FALSE(e1 || e2 || e3 || e4) << e1.message() << e2.message() << e3.message() << e4.message();
  EXPECT_TRUE(fromServer == head + big + tail);
  EXPECT_TRUE(fromClient == big);
}

TEST_F(TlsStreamTest, APeerThatVanishesMidWriteIsAnErrorNotASignal) {
  std::unique_ptr<TlsStream> server;
  std::unique_ptr<asio::ssl::stream<tcp::socket>> client;
  connect(server, client);
  client->next_layer().close();  // no close_notify, nothing read
  const std::string chunk(1 << 16, 'x');
  error_code ec;
  for (int i = 0; i < 200 && !ec; ++i) server->write_some(asio::buffer(chunk), ec);  // SIGPIPE would end the test binary
  EXPECT_TRUE(ec) << "writing to a closed peer kept succeeding";
}

TEST_F(TlsStreamTest, ADeadlineEndsAStalledReadWithTimeout) {
  std::unique_ptr<TlsStream> server;
  std::unique_ptr<asio::ssl::stream<tcp::socket>> client;
  connect(server, client);
  server->next_layer().expires_after(std::chrono::milliseconds(50));
  char byte = 0;
  error_code got;
  bool done = false;
  server->async_read_some(asio::buffer(&byte, 1), [&](error_code ec, std::size_t) {
    got = ec;
    done = true;
  });
  io.restart();
  while (!done && io.run_one()) {
  }
  ASSERT_TRUE(done);
  EXPECT_EQ(got, boost::beast::error::timeout) << got.message();
  EXPECT_TRUE(server->next_layer().timedOut());
}

TEST_F(TlsStreamTest, AWebSocketRunsOnItAndClosesCleanly) {
  std::unique_ptr<TlsStream> server;
  std::unique_ptr<asio::ssl::stream<tcp::socket>> client;
  connect(server, client);
  boost::beast::websocket::stream<TlsStream> serverWs(std::move(*server));
  boost::beast::websocket::stream<asio::ssl::stream<tcp::socket>&> clientWs(*client);
  std::string received;
  error_code closeEc{asio::error::would_block};
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        error_code ec;
        auto token = asio::redirect_error(asio::use_awaitable, ec);
        co_await serverWs.async_accept(token);
        boost::beast::flat_buffer buffer;
        co_await serverWs.async_read(buffer, token);
        received = boost::beast::buffers_to_string(buffer.data());
        co_await serverWs.async_write(asio::buffer(received + " back"), token);
        co_await serverWs.async_read(buffer, token);  // ends with the client's close
        closeEc = ec;
      },
      asio::detached);
  std::string echoed;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        co_await clientWs.async_handshake("localhost", "/", asio::use_awaitable);
        co_await clientWs.async_write(asio::buffer(std::string("hello")), asio::use_awaitable);
        boost::beast::flat_buffer buffer;
        co_await clientWs.async_read(buffer, asio::use_awaitable);
        echoed = boost::beast::buffers_to_string(buffer.data());
        co_await clientWs.async_close(boost::beast::websocket::close_code::normal, asio::use_awaitable);
      },
      asio::detached);
  io.restart();
  io.run_for(std::chrono::seconds(10));
  EXPECT_EQ(received, "hello");
  EXPECT_EQ(echoed, "hello back");
  EXPECT_EQ(closeEc, boost::beast::websocket::error::closed) << closeEc.message();
}

TEST_F(TlsStreamTest, AChannelLetsGoOfTheBufferALargeFrameGrewOnceItIsRead) {
  // 10,000 sessions each keeping the largest frame they ever read (a RESULT with 1 MiB of output)
  // would hold 10 GiB for good; small frames keep a small buffer.
  std::unique_ptr<TlsStream> server;
  std::unique_ptr<asio::ssl::stream<tcp::socket>> client;
  connect(server, client);
  boost::beast::websocket::stream<asio::ssl::stream<tcp::socket>&> clientWs(*client);
  std::shared_ptr<WsChannel> channel;
  std::vector<std::size_t> lengths, capacities;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        WsStream ws(std::move(*server));
        error_code ec;
        co_await ws.async_accept(asio::redirect_error(asio::use_awaitable, ec));
        channel = std::make_shared<WsChannel>(std::move(ws));
        channel->start();
        for (int i = 0; i < 3; ++i) {
          auto frame = co_await channel->read();
          if (!frame) co_return;
          lengths.push_back(frame->size());
          capacities.push_back(channel->readBufferCapacity());
        }
        channel->abort();  // ends its writer, so the test's loop runs out of work
      },
      asio::detached);
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        co_await clientWs.async_handshake("localhost", "/", asio::use_awaitable);
        for (const std::size_t size : {std::size_t{600}, std::size_t{1} << 20, std::size_t{600}})
          co_await clientWs.async_write(asio::buffer(std::string(size, 'x')), asio::use_awaitable);
      },
      asio::detached);
  io.restart();
  io.run_for(std::chrono::seconds(10));
  ASSERT_EQ(lengths, (std::vector<std::size_t>{600, std::size_t{1} << 20, 600}));
  EXPECT_LE(capacities[0], WsChannel::kKeptReadBufferBytes) << "a small frame's buffer";
  EXPECT_LE(capacities[1], WsChannel::kKeptReadBufferBytes) << "the 1 MiB frame's buffer stayed";
  EXPECT_LE(capacities[2], WsChannel::kKeptReadBufferBytes);
}

}  // namespace
}  // namespace berth::net
