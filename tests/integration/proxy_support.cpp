#include "proxy_support.hpp"

#include <fstream>
#include <stdexcept>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include "common/clock.hpp"
#include "common/subprocess.hpp"
#include "pki/authority.hpp"
#include "pki/keys.hpp"

namespace berth::itest {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

proxy::caddy::CaddyOptions loopbackCaddyOptions(const std::string& root) {
  proxy::caddy::CaddyOptions o;
  o.admin_listen = "127.0.0.1:" + std::to_string(freePort());
  o.listen_address = "127.0.0.1";
  o.http_port = freePort();
  o.https_port = freePort();
  o.storage_dir = root + "/storage";
  o.acme_directory_url = "https://127.0.0.1:" + std::to_string(freePort()) + "/dir";
  return o;
}

int freePort() {
  auto r = runProcess({"python3", "-c", "import socket;s=socket.socket();s.bind(('127.0.0.1',0));print(s.getsockname()[1])"},
                      5000);
  return r ? std::atoi(r->output.c_str()) : 0;
}

// Asynchronous under one deadline: a request the proxy never answers fails after 30 s (status 0)
// instead of hanging its test until ctest's limit (RoutesTest.TenUpdates… once waited 300 s for
// one in a loaded run; nginx gives an upstream 1 h to answer).
ProxyAnswer request(int port, const std::string& host, const std::string& target, bool tls, const std::string& address,
                    const std::string& ca_file) {
  asio::io_context io;
  http::request<http::empty_body> req{http::verb::get, target, 11};
  req.set(http::field::host, host);
  req.set(http::field::connection, "close");
  http::response<http::string_body> res;
  beast::flat_buffer buffer;
  beast::error_code ec;
  asio::ip::tcp::endpoint endpoint(asio::ip::make_address(address), static_cast<unsigned short>(port));
  asio::ssl::context ctx(asio::ssl::context::tls_client);
  if (tls && !ca_file.empty()) {
    ctx.load_verify_file(ca_file, ec);
    if (ec) return {};
    ctx.set_verify_mode(asio::ssl::verify_peer);
  }
  beast::ssl_stream<beast::tcp_stream> tlsStream(io, ctx);
  beast::tcp_stream& tcp = beast::get_lowest_layer(tlsStream);
  bool finished = false;
  auto exchange = [&]() -> asio::awaitable<void> {
    auto token = asio::redirect_error(asio::use_awaitable, ec);
    co_await tcp.async_connect(endpoint, token);
    if (tls) {
      SSL_set_tlsext_host_name(tlsStream.native_handle(), host.c_str());
      if (!ca_file.empty()) tlsStream.set_verify_callback(asio::ssl::host_name_verification(host));
      if (!ec) co_await tlsStream.async_handshake(asio::ssl::stream_base::client, token);
      if (!ec) co_await http::async_write(tlsStream, req, token);
      if (!ec) co_await http::async_read(tlsStream, buffer, res, token);
    } else {
      if (!ec) co_await http::async_write(tcp, req, token);
      if (!ec) co_await http::async_read(tcp, buffer, res, token);
    }
    finished = true;
  };
  asio::co_spawn(io, exchange(), asio::detached);
  io.run_for(std::chrono::seconds(30));
  if (!finished || ec) return {};
  return {static_cast<int>(res.result_int()), res.body(), std::string(res[http::field::location]),
          std::string(res["Retry-After"]), std::string(res[http::field::strict_transport_security])};
}

const char* const kUpgradeEchoServer = R"(
import socket, sys, threading, time
body = ((sys.argv[2] if len(sys.argv) > 2 else 'ok') + '\n').encode()
host = sys.argv[3] if len(sys.argv) > 3 else '127.0.0.1'
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((host, int(sys.argv[1]))); s.listen(16)
def serve(c):
    data = b''
    while b'\r\n\r\n' not in data:
        chunk = c.recv(4096)
        if not chunk: return
        data += chunk
    if data.startswith(b'GET /events-until-close '):
        # HTTP/1.0-style: the body ends with the connection; the header asks nginx not to buffer it.
        c.sendall(b'HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nX-Accel-Buffering: no\r\n'
                  b'Connection: close\r\n\r\ndata: one\n\n')
        time.sleep(30); c.close(); return
    if data.startswith(b'GET /events '):
        c.sendall(b'HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n'
                  b'Transfer-Encoding: chunked\r\n\r\n')
        event = b'data: one\n\n'
        c.sendall(b'%x\r\n%s\r\n' % (len(event), event))
        time.sleep(30); c.close(); return
    if b'upgrade: websocket' not in data.lower():
        c.sendall(b'HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n' % len(body) + body); c.close(); return
    c.sendall(b'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n')
    while True:
        chunk = c.recv(4096)
        if not chunk: return
        c.sendall(chunk)
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
)";

bool UpgradedTunnel::open(int port, const std::string& host) {
  boost::system::error_code ec;
  socket_.connect({asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)}, ec);
  if (ec) return false;
  const std::string upgrade = "GET /ws HTTP/1.1\r\nHost: " + host +
                              "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                              "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
  asio::write(socket_, asio::buffer(upgrade), ec);
  asio::streambuf head;
  if (!ec) asio::read_until(socket_, head, "\r\n\r\n", ec);
  if (ec) return false;
  const std::string response(asio::buffers_begin(head.data()), asio::buffers_end(head.data()));
  return response.rfind("HTTP/1.1 101", 0) == 0;
}

bool UpgradedTunnel::echoes(const std::string& text) {
  boost::system::error_code ec;
  asio::write(socket_, asio::buffer(text), ec);
  std::string back(text.size(), '\0');
  if (!ec) asio::read(socket_, asio::buffer(back), ec);
  return !ec && back == text;
}

proxy::CertificateFiles writeTestCertificate(const std::string& dir, const std::string& host) {
  auto ca = pki::CertificateAuthority::createNew("berth test CA", systemNowMs(), kDayMs);
  const std::string key = pki::generatePrivateKeyPem();
  auto leaf = ca.issueServerCertificate(key, {host}, systemNowMs(), kDayMs);
  if (!leaf) throw std::runtime_error("test certificate: " + leaf.error().message);
  const proxy::CertificateFiles files{dir + "/" + host + ".pem", dir + "/" + host + ".key"};
  std::ofstream(files.certificate_path) << leaf->cert_pem << ca.certPem();
  std::ofstream(files.key_path) << key;
  return files;
}

}  // namespace berth::itest
