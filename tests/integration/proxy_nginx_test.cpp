// Servers started: a real nginx (berth's own master, on free loopback ports)
// and a python3 http.server as the app's upstream; no dockerd.
#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <filesystem>
#include <fstream>

#include "common/clock.hpp"
#include "common/subprocess.hpp"
#include "harness.hpp"
#include "pki/authority.hpp"
#include "pki/keys.hpp"
#include "proxy/nginx/nginx_proxy.hpp"

namespace berth::itest {
namespace {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using proxy::AppRoutes;
using proxy::ProxyState;

int freePort() {
  auto r = runProcess({"python3", "-c", "import socket;s=socket.socket();s.bind(('127.0.0.1',0));print(s.getsockname()[1])"},
                      5000);
  return r ? std::atoi(r->output.c_str()) : 0;
}

struct Answer {
  int status = 0;
  std::string body;
  std::string location, retry_after;
};

// One HTTP/1.1 request to 127.0.0.1:port with `host`; TLS (SNI `host`, no verification) when asked.
Answer request(int port, const std::string& host, const std::string& target, bool tls = false) {
  asio::io_context io;
  http::request<http::empty_body> req{http::verb::get, target, 11};
  req.set(http::field::host, host);
  req.set(http::field::connection, "close");
  http::response<http::string_body> res;
  beast::flat_buffer buffer;
  beast::error_code ec;
  asio::ip::tcp::endpoint endpoint(asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port));
  if (tls) {
    asio::ssl::context ctx(asio::ssl::context::tls_client);
    beast::ssl_stream<beast::tcp_stream> stream(io, ctx);
    SSL_set_tlsext_host_name(stream.native_handle(), host.c_str());
    beast::get_lowest_layer(stream).connect(endpoint, ec);
    if (!ec) stream.handshake(asio::ssl::stream_base::client, ec);
    if (!ec) http::write(stream, req, ec);
    if (!ec) http::read(stream, buffer, res, ec);
  } else {
    beast::tcp_stream stream(io);
    stream.connect(endpoint, ec);
    if (!ec) http::write(stream, req, ec);
    if (!ec) http::read(stream, buffer, res, ec);
  }
  if (ec) return {};
  return {static_cast<int>(res.result_int()), res.body(), std::string(res[http::field::location]),
          std::string(res["Retry-After"])};
}

class NginxAdapter : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = "/tmp/berth-nginx-XXXXXX";
    root_ = ::mkdtemp(pattern.data());
    std::filesystem::create_directories(root_ + "/www");
    std::ofstream(root_ + "/www/index.html") << "v1\n";
    upstream_port_ = freePort();
    upstream_ = Process::spawn({"/usr/bin/python3", "-m", "http.server", std::to_string(upstream_port_), "--bind", "127.0.0.1",
                                "--directory", root_ + "/www"},
                               root_ + "/upstream.log");
    ASSERT_TRUE(eventually([&] { return request(upstream_port_, "x", "/").status == 200; }));
    options_.listen_address = "127.0.0.1";
    options_.http_port = freePort();
    options_.https_port = freePort();
    options_.config_dir = root_ + "/nginx";
    options_.runtime_dir = root_ + "/run";
    nginx_ = std::make_unique<proxy::nginx::NginxProxy>(options_);
    ASSERT_TRUE(nginx_->detect().ok()) << "nginx is not installed (scripts/setup.sh installs it)";
    auto started = nginx_->start();
    ASSERT_TRUE(started.ok()) << started.error().message;
  }
  void TearDown() override {
    if (nginx_) nginx_->stop();
    eventually([&] { return !nginx_ || nginx_->masterPid() == 0; }, std::chrono::seconds(10));
    upstream_.reset();
    std::filesystem::remove_all(root_);
  }
  ProxyState webState() {
    ProxyState s;
    s.apps.push_back(AppRoutes{"web", {{{"web.test"}, "/", false}}, {{"127.0.0.1", static_cast<std::uint16_t>(upstream_port_)}}, false});
    return s;
  }

  std::string root_;
  int upstream_port_ = 0;
  std::unique_ptr<Process> upstream_;
  proxy::nginx::NginxOptions options_;
  std::unique_ptr<proxy::nginx::NginxProxy> nginx_;
};

TEST_F(NginxAdapter, ARouteServesItsAppAndUnknownHostsGet404) {
  auto applied = nginx_->apply(webState());
  ASSERT_TRUE(applied.ok()) << applied.error().message;
  const auto answer = request(options_.http_port, "web.test", "/");
  EXPECT_EQ(answer.status, 200);
  EXPECT_EQ(answer.body, "v1\n");
  EXPECT_EQ(request(options_.http_port, "other.test", "/").status, 404);
}

TEST_F(NginxAdapter, AnAppWithoutUpstreamsAnswers503WithRetryAfter) {
  auto state = webState();
  state.apps[0].upstreams.clear();
  ASSERT_TRUE(nginx_->apply(state).ok());
  const auto answer = request(options_.http_port, "web.test", "/");
  EXPECT_EQ(answer.status, 503);
  EXPECT_EQ(answer.retry_after, "10");
}

TEST_F(NginxAdapter, AConfigurationNginxRefusesIsRolledBackAndThePreviousOneKeepsServing) {
  ASSERT_TRUE(nginx_->apply(webState()).ok());
  const auto before = std::filesystem::read_symlink(options_.config_dir + "/current");
  auto broken = webState();
  broken.certificates["web.test"] = {root_ + "/missing.pem", root_ + "/missing.key"};  // nginx -t cannot load it
  auto applied = nginx_->apply(broken);
  ASSERT_FALSE(applied.ok());
  EXPECT_EQ(applied.error().code, "proxy_config_refused");
  EXPECT_NE(applied.error().message.find("missing.pem"), std::string::npos) << applied.error().message;
  EXPECT_EQ(std::filesystem::read_symlink(options_.config_dir + "/current"), before);
  EXPECT_EQ(request(options_.http_port, "web.test", "/").status, 200);
  EXPECT_EQ(request(options_.https_port, "web.test", "/", true).status, 0);  // no HTTPS was switched on
}

TEST_F(NginxAdapter, InvalidStatesAreRefusedBeforeNginxSeesThem) {
  ASSERT_TRUE(nginx_->apply(webState()).ok());
  auto hostile = webState();
  hostile.apps[0].routes[0].path_prefix = "/x;return 200 pwned";
  auto applied = nginx_->apply(hostile);
  ASSERT_FALSE(applied.ok());
  EXPECT_NE(applied.error().message.find("path_prefix"), std::string::npos);
  EXPECT_EQ(request(options_.http_port, "web.test", "/").body, "v1\n");
}

TEST_F(NginxAdapter, AHostWithACertificateIsServedOnHttpsAndRedirectedFromHttp) {
  auto ca = pki::CertificateAuthority::createNew("berth test CA", systemNowMs(), kDayMs);
  const std::string key = pki::generatePrivateKeyPem();
  auto cert = ca.issueServerCertificate(key, {"web.test"}, systemNowMs(), kDayMs);
  ASSERT_TRUE(cert.ok());
  std::ofstream(root_ + "/web.pem") << cert->cert_pem << ca.certPem();
  std::ofstream(root_ + "/web.key") << key;
  auto state = webState();
  state.certificates["web.test"] = {root_ + "/web.pem", root_ + "/web.key"};
  state.apps[0].hsts = true;
  auto applied = nginx_->apply(state);
  ASSERT_TRUE(applied.ok()) << applied.error().message;
  const auto secure = request(options_.https_port, "web.test", "/", true);
  EXPECT_EQ(secure.status, 200);
  EXPECT_EQ(secure.body, "v1\n");
  const auto plain = request(options_.http_port, "web.test", "/page?q=1");
  EXPECT_EQ(plain.status, 308);
  EXPECT_EQ(plain.location, "https://web.test:" + std::to_string(options_.https_port) + "/page?q=1");
}

// An upstream that answers an Upgrade with 101 and then echoes bytes: what
// nginx sees of a WebSocket (it tunnels the upgraded connection as is).
constexpr const char* kUpgradeEchoServer = R"(
import socket, sys, threading
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('127.0.0.1', int(sys.argv[1]))); s.listen(16)
def serve(c):
    data = b''
    while b'\r\n\r\n' not in data:
        chunk = c.recv(4096)
        if not chunk: return
        data += chunk
    if b'upgrade: websocket' not in data.lower():
        c.sendall(b'HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n'); c.close(); return
    c.sendall(b'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n')
    while True:
        chunk = c.recv(4096)
        if not chunk: return
        c.sendall(chunk)
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
)";

// Servers started: nginx, the python3 upgrade-echo upstream. A tunnel opened
// through app A stays open and echoing across a reload that adds app B.
TEST_F(NginxAdapter, AnotherAppsOpenWebSocketSurvivesARouteChange) {
  const int echoPort = freePort();
  std::ofstream(root_ + "/echo.py") << kUpgradeEchoServer;
  auto echo = Process::spawn({"/usr/bin/python3", root_ + "/echo.py", std::to_string(echoPort)}, root_ + "/echo.log");
  ASSERT_TRUE(eventually([&] { return request(echoPort, "x", "/").status == 200; })) << echo->log();
  ProxyState state;
  state.apps.push_back(AppRoutes{"chat", {{{"chat.test"}, "/", false}}, {{"127.0.0.1", static_cast<std::uint16_t>(echoPort)}}, false});
  ASSERT_TRUE(nginx_->apply(state).ok());

  asio::io_context io;
  asio::ip::tcp::socket tunnel(io);
  tunnel.connect({asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(options_.http_port)});
  const std::string upgrade =
      "GET /ws HTTP/1.1\r\nHost: chat.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
  asio::write(tunnel, asio::buffer(upgrade));
  asio::streambuf head;
  asio::read_until(tunnel, head, "\r\n\r\n");
  const std::string response(asio::buffers_begin(head.data()), asio::buffers_end(head.data()));
  ASSERT_EQ(response.rfind("HTTP/1.1 101", 0), 0u) << response;
  auto echoes = [&](const std::string& text) {
    asio::write(tunnel, asio::buffer(text));
    std::string back(text.size(), '\0');
    boost::system::error_code ec;
    asio::read(tunnel, asio::buffer(back), ec);
    return !ec && back == text;
  };
  EXPECT_TRUE(echoes("before"));

  state.apps.push_back(AppRoutes{"web", {{{"web.test"}, "/", false}}, {{"127.0.0.1", static_cast<std::uint16_t>(upstream_port_)}}, false});
  ASSERT_TRUE(nginx_->apply(state).ok());  // returns once the new workers answer
  EXPECT_EQ(request(options_.http_port, "web.test", "/").body, "v1\n");
  EXPECT_TRUE(echoes("after the reload"));  // still on the old worker, still open
}

}  // namespace
}  // namespace berth::itest
