// The behaviour every reverse-proxy adapter owes the agent, run against each
// adapter with its real proxy. Servers started per test: the proxy (nginx:
// berth's own master; Caddy 2.6: berth's own, admin API on a loopback port,
// with the adapter's DNS responder for upstreams) on free loopback ports, and
// three python3 http.server upstreams (and the upgrade-echo server where a test says so);
// no dockerd.
// Traefik is not packaged for these machines: its adapter is tested on the
// files it generates only (tests/unit/proxy/traefik_render_test.cpp,
// traefik_proxy_test.cpp). Adapter-specific behaviour (nginx -t rollback,
// Caddy's refusals, WebSockets across changes) is in proxy_nginx_test.cpp and
// proxy_caddy_test.cpp.
#include <gtest/gtest.h>
#include <unistd.h>

#include <array>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <thread>

#include <boost/asio.hpp>

#include "harness.hpp"
#include "proxy/caddy/caddy_proxy.hpp"
#include "proxy/hold/hold_server.hpp"
#include "proxy/nginx/nginx_proxy.hpp"
#include "common/subprocess.hpp"
#include "proxy_support.hpp"

namespace berth::itest {
namespace {
using proxy::AppRoutes;
using proxy::ProxyState;

struct AdapterUnderTest {
  std::unique_ptr<proxy::ReverseProxy> proxy;
  int http_port = 0;
  std::function<bool()> stopped;  // true once the proxy's processes are gone
};

struct AdapterFactory {
  std::string name;
  std::function<AdapterUnderTest(const std::string& root)> make;
};

AdapterFactory nginxFactory() {
  return {"nginx", [](const std::string& root) {
            proxy::nginx::NginxOptions o;
            o.listen_address = "127.0.0.1";
            o.http_port = freePort();
            o.https_port = freePort();
            o.config_dir = root + "/nginx";
            o.runtime_dir = root + "/run";
            auto nginx = std::make_unique<proxy::nginx::NginxProxy>(o);
            auto* raw = nginx.get();
            return AdapterUnderTest{std::move(nginx), o.http_port, [raw] { return raw->masterPid() == 0; }};
          }};
}

AdapterFactory caddyFactory() {
  return {"caddy", [](const std::string& root) {
            auto o = loopbackCaddyOptions(root);
            auto caddy = std::make_unique<proxy::caddy::CaddyProxy>(o, root + "/caddy");
            auto* raw = caddy.get();
            return AdapterUnderTest{std::move(caddy), o.http_port, [raw] { return !raw->running(); }};
          }};
}

// Printed by name in test listings (not as the struct's bytes).
void PrintTo(const AdapterFactory& factory, std::ostream* out) { *out << factory.name; }

class ProxyConformance : public ::testing::TestWithParam<AdapterFactory> {
 protected:
  void SetUp() override {
    std::string pattern = "/tmp/berth-conformance-XXXXXX";
    root_ = ::mkdtemp(pattern.data());
    v1_ = serve("v1", {{"index.html", "v1\n"}});
    // A new container of the same app: same port, another address.
    v2_ = serve("v2", {{"index.html", "v2\n"}}, "127.0.0.2", v1_.port);
    api_ = serve("api", {{"index.html", "api\n"}, {"x.txt", "x\n"}});
    adapter_ = GetParam().make(root_);
    ASSERT_TRUE(adapter_.proxy->detect().ok()) << GetParam().name << " is not installed (scripts/setup.sh installs it)";
    auto started = adapter_.proxy->start();
    ASSERT_TRUE(started.ok()) << started.error().message;
  }
  void TearDown() override {
    if (adapter_.proxy) {
      adapter_.proxy->stop();
      eventually(adapter_.stopped, std::chrono::seconds(10));
    }
    upstreams_.clear();
    std::filesystem::remove_all(root_);
  }

  // A python3 http.server serving `files` on address:port (0: a free one); its upstream.
  proxy::Upstream serve(const std::string& name, const std::map<std::string, std::string>& files,
                        const std::string& address = "127.0.0.1", int port = 0) {
    const std::string dir = root_ + "/" + name;
    std::filesystem::create_directories(dir);
    for (const auto& [file, text] : files) std::ofstream(dir + "/" + file) << text;
    if (port == 0) port = freePort();
    upstreams_.push_back(Process::spawn({"/usr/bin/python3", "-m", "http.server", std::to_string(port), "--bind",
                                         address, "--directory", dir},
                                        root_ + "/" + name + ".log"));
    EXPECT_TRUE(eventually([&] { return request(port, "x", "/", false, address).status == 200; }))
        << upstreams_.back()->log();
    return {address, static_cast<std::uint16_t>(port)};
  }

  static AppRoutes app(const std::string& name, const std::string& host, const std::string& prefix, bool strip,
                       std::vector<proxy::Upstream> upstreams) {
    return AppRoutes{name, {{{host}, prefix, strip}}, std::move(upstreams), false};
  }

  ProxyAnswer get(const std::string& host, const std::string& target) {
    return request(adapter_.http_port, host, target);
  }

  void applyOk(const ProxyState& state) {
    auto applied = adapter_.proxy->apply(state);
    ASSERT_TRUE(applied.ok()) << applied.error().message;
  }

  // As the agent's router does: the proxy sends held requests to the hold server, which
  // then waits for what was applied.
  void applyHeld(ProxyState& state) {
    if (!hold_) {
      auto started = proxy::hold::HoldServer::start("127.0.0.1", 0);
      ASSERT_TRUE(started.ok()) << started.error().message;
      hold_ = std::move(*started);
    }
    state.hold = hold_->endpoint();
    applyOk(state);
    hold_->setTargets(state);
  }

  // POSTs `mib` MiB to the proxy with curl; the status it got ("000": none).
  std::string post(const std::string& host, int mib) {
    const std::string upload = root_ + "/upload.bin";
    {
      std::ofstream out(upload, std::ios::binary);
      const std::string chunk(1 << 20, 'x');
      for (int i = 0; i < mib; ++i) out << chunk;
    }
    auto curl = runProcess({"curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-H", "Host: " + host, "-H", "Expect:",
                            "--data-binary", "@" + upload, "http://127.0.0.1:" + std::to_string(adapter_.http_port) + "/"},
                           60'000);
    return curl ? curl->output : "curl: " + curl.error().message;
  }

  std::future<ProxyAnswer> getLater(const std::string& host, const std::string& target) {
    return std::async(std::launch::async, [this, host, target] { return get(host, target); });
  }

  std::string root_;
  std::vector<std::unique_ptr<Process>> upstreams_;
  proxy::Upstream v1_, v2_, api_;
  AdapterUnderTest adapter_;
  std::unique_ptr<proxy::hold::HoldServer> hold_;
};

TEST_P(ProxyConformance, ARouteIsServedByItsHost) {
  ProxyState s;
  s.apps.push_back(app("web", "web.test", "/", false, {v1_}));
  applyOk(s);
  const auto answer = get("web.test", "/");
  EXPECT_EQ(answer.status, 200);
  EXPECT_EQ(answer.body, "v1\n");
  EXPECT_NE(get("other.test", "/").body, "v1\n");
}

TEST_P(ProxyConformance, TwoAppsShareAHostByPathPrefixAndStripPrefixRemovesIt) {
  ProxyState s;
  s.apps.push_back(app("web", "shop.test", "/", false, {v1_}));
  s.apps.push_back(app("api", "shop.test", "/api", true, {api_}));
  applyOk(s);
  EXPECT_EQ(get("shop.test", "/").body, "v1\n");
  EXPECT_EQ(get("shop.test", "/api/").body, "api\n");  // the api server has no /api/ of its own
  EXPECT_EQ(get("shop.test", "/api/x.txt").body, "x\n");
  EXPECT_EQ(get("shop.test", "/x.txt").status, 404);  // web's, which has no x.txt
  s.apps[1].routes[0].strip_prefix = false;
  applyOk(s);
  EXPECT_EQ(get("shop.test", "/api/x.txt").status, 404);  // api now sees /api/x.txt
}

TEST_P(ProxyConformance, AnAppWithoutUpstreamsAnswers503WithRetryAfter) {
  ProxyState s;
  s.apps.push_back(app("web", "web.test", "/", false, {}));
  s.retry_after_s = 7;
  applyOk(s);
  const auto answer = get("web.test", "/");
  EXPECT_EQ(answer.status, 503);
  EXPECT_EQ(answer.retry_after, "7");
}

TEST_P(ProxyConformance, AnInvalidStateIsRefusedAndThePreviousConfigurationKeepsServing) {
  ProxyState s;
  s.apps.push_back(app("web", "web.test", "/", false, {v1_}));
  applyOk(s);
  auto hostile = s;
  hostile.apps[0].routes[0].path_prefix = "/x;return 200 pwned";
  hostile.apps[0].upstreams = {v2_};
  auto applied = adapter_.proxy->apply(hostile);
  ASSERT_FALSE(applied.ok());
  EXPECT_EQ(applied.error().code, "invalid_argument");
  EXPECT_NE(applied.error().message.find("path_prefix"), std::string::npos) << applied.error().message;
  EXPECT_EQ(get("web.test", "/").body, "v1\n");
}

TEST_P(ProxyConformance, AnUpstreamChangeIsServedOnceApplyReturns) {
  ProxyState s;
  s.apps.push_back(app("web", "web.test", "/", false, {v1_}));
  applyOk(s);
  EXPECT_EQ(get("web.test", "/").body, "v1\n");
  s.apps[0].upstreams = {v2_};
  applyOk(s);
  EXPECT_EQ(get("web.test", "/").body, "v2\n");
  s.apps[0].upstreams = {v1_};
  applyOk(s);
  EXPECT_EQ(get("web.test", "/").body, "v1\n");
}

TEST_P(ProxyConformance, ARemovedAppIsNoLongerServed) {
  ProxyState s;
  s.apps.push_back(app("web", "web.test", "/", false, {v1_}));
  s.apps.push_back(app("api", "api.test", "/", false, {api_}));
  applyOk(s);
  EXPECT_EQ(get("api.test", "/").body, "api\n");
  s.apps.pop_back();
  applyOk(s);
  EXPECT_NE(get("api.test", "/").body, "api\n");
  EXPECT_EQ(get("web.test", "/").body, "v1\n");
}

TEST_P(ProxyConformance, ARequestForAStartingAppWaitsAndIsAnsweredByItsFirstContainer) {
  ProxyState s;
  s.apps.push_back(app("web", "web.test", "/", false, {}));
  s.apps[0].hold_ms = 20'000;
  applyHeld(s);
  auto answer = getLater("web.test", "/");
  ASSERT_TRUE(eventually([&] { return hold_->counts().held >= 1; })) << "the request never reached the hold server";
  EXPECT_EQ(answer.wait_for(std::chrono::milliseconds(300)), std::future_status::timeout) << "answered while nothing runs";
  s.apps[0].upstreams = {v1_};
  applyHeld(s);
  const auto got = answer.get();
  EXPECT_EQ(got.status, 200);
  EXPECT_EQ(got.body, "v1\n");
  EXPECT_EQ(hold_->counts().passed, 1u);
  EXPECT_EQ(get("web.test", "/").body, "v1\n");  // and from now on straight to it
}

TEST_P(ProxyConformance, AHeldRequestGets503WithRetryAfterWhenItsHoldEnds) {
  ProxyState s;
  s.apps.push_back(app("web", "web.test", "/", false, {}));
  s.apps[0].hold_ms = 300;
  s.retry_after_s = 7;
  applyHeld(s);
  const auto answer = get("web.test", "/");
  EXPECT_EQ(answer.status, 503);
  EXPECT_EQ(answer.retry_after, "7");
  EXPECT_EQ(hold_->counts().expired, 1u);
}

TEST_P(ProxyConformance, AContainerRefusingConnectionsIsWaitedForInsteadOfA502) {
  // The app's one container is being replaced (a crash, a restart): its port refuses connections.
  const proxy::Upstream restarting{"127.0.0.1", static_cast<std::uint16_t>(freePort())};
  ProxyState s;
  s.apps.push_back(app("web", "web.test", "/", false, {restarting}));
  s.apps[0].hold_ms = 20'000;
  applyHeld(s);
  auto answer = getLater("web.test", "/");
  EXPECT_EQ(answer.wait_for(std::chrono::milliseconds(700)), std::future_status::timeout) << "answered while nothing runs";
  serve("back", {{"index.html", "back\n"}}, restarting.address, restarting.port);
  const auto got = answer.get();
  EXPECT_EQ(got.status, 200);
  EXPECT_EQ(got.body, "back\n");
}

// A container about to stop (argv[1]: port): keeps a connection alive after its first answer
// (unless asked to close), and closes it without answering the next request on it, as a
// container does that a stop reaches while the proxy sends into its idle connection.
constexpr const char* kStoppingServer = R"PY(
import socket, sys, threading
def serve(conn):
    with conn:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(4096)
            if not chunk: return
            data += chunk
        closing = b"connection: close" in data.lower()
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n" + (b"Connection: close\r\n" if closing else b"") + b"\r\nv1\n")
        if closing: return
        conn.recv(4096)  # the next request on this connection: closed unanswered
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(64)
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
)PY";

TEST_P(ProxyConformance, AConnectionThroughTheHoldServerIsNotReusedAfterItsContainerGoes) {
  // A request passed on by the hold server makes the proxy's connection to it a tunnel to one
  // container. Kept alive, the proxy reuses it at the next update, when that container is stopping
  // and the hold server is the proxy's last server: a 502 (seen in the routes benchmark).
  const proxy::Upstream starting{"127.0.0.1", static_cast<std::uint16_t>(freePort())};
  ProxyState s;
  s.apps.push_back(app("web", "web.test", "/", false, {starting}));
  s.apps[0].hold_ms = 20'000;
  applyHeld(s);
  auto first = getLater("web.test", "/");
  // nginx sends it to the hold server; Caddy, with an upstream listed, tries that itself.
  eventually([&] { return hold_->counts().held >= 1; }, std::chrono::seconds(1));
  upstreams_.push_back(Process::spawn({"/usr/bin/python3", "-c", kStoppingServer, std::to_string(starting.port)},
                                      root_ + "/stopping.log"));
  EXPECT_EQ(first.get().status, 200);
  // The proxy counts the container's refusal against it for a while: the next requests go to the
  // hold server again, over the connection the first one left (if it was left open).
  for (int i = 0; i < 3; ++i) {
    const auto next = get("web.test", "/");
    EXPECT_EQ(next.status, 200) << "request " << i + 2 << " (0: no answer) " << next.body;
  }
}

TEST_P(ProxyConformance, AHeldUploadWhoseHoldEndsGets503NotAReset) {
  // The hold server answers 503 before reading all of a large body: closing with it unread
  // resets the connection, and the proxy then reports 502 (or nothing) instead of the 503.
  ProxyState s;
  s.apps.push_back(app("web", "web.test", "/", false, {}));
  s.apps[0].hold_ms = 300;
  s.retry_after_s = 7;
  applyHeld(s);
  EXPECT_EQ(post("web.test", 20), "503");
  EXPECT_EQ(hold_->counts().expired, 1u);
}

TEST_P(ProxyConformance, ABodyLargerThanTheProxysMemoryBuffersReachesTheApp) {
  // nginx keeps such a body in a temp file its workers write; under a private (0700) directory,
  // as this test's root and the agent's state are, they could not, and every upload got 500.
  const int port = freePort();
  std::ofstream(root_ + "/sink.py") << "import http.server, sys\n"
                                       "class H(http.server.BaseHTTPRequestHandler):\n"
                                       "    def do_POST(self):\n"
                                       "        n = int(self.headers['Content-Length'])\n"
                                       "        got = len(self.rfile.read(n))\n"
                                       "        self.send_response(200 if got == n else 400)\n"
                                       "        self.send_header('Content-Length', '0')\n"
                                       "        self.end_headers()\n"
                                       "http.server.HTTPServer(('127.0.0.1', int(sys.argv[1])), H).serve_forever()\n";
  upstreams_.push_back(Process::spawn({"/usr/bin/python3", root_ + "/sink.py", std::to_string(port)}, root_ + "/sink.log"));
  ProxyState s;
  s.apps.push_back(app("web", "web.test", "/", false, {{"127.0.0.1", static_cast<std::uint16_t>(port)}}));
  applyOk(s);
  EXPECT_TRUE(eventually([&] { return post("web.test", 0) == "200"; }));
  EXPECT_EQ(post("web.test", 2), "200");  // the app read all 2 MiB
}

// What one GET through the proxy has received when `wanted` arrived or `limit` passed.
std::string receivedWithin(int port, const std::string& host, const std::string& path, const std::string& wanted,
                           std::chrono::seconds limit) {
  boost::asio::io_context io;
  boost::asio::ip::tcp::socket socket(io);
  boost::system::error_code ec;
  socket.connect({boost::asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)}, ec);
  if (ec) return "";
  const std::string get = "GET " + path + " HTTP/1.1\r\nHost: " + host + "\r\nAccept: text/event-stream\r\n\r\n";
  boost::asio::write(socket, boost::asio::buffer(get), ec);
  std::string seen;
  std::array<char, 4096> buffer{};
  boost::asio::steady_timer deadline(io, limit);
  deadline.async_wait([&](const boost::system::error_code& e) {
    if (!e) socket.close();
  });
  std::function<void()> readMore = [&] {
    socket.async_read_some(boost::asio::buffer(buffer), [&](const boost::system::error_code& e, std::size_t n) {
      seen.append(buffer.data(), n);
      if (e || seen.find(wanted) != std::string::npos) {
        deadline.cancel();
        return;
      }
      readMore();
    });
  };
  readMore();
  io.run();
  return seen;
}

TEST_P(ProxyConformance, AnEventStreamReachesTheClientAsTheAppWritesIt) {
  // A proxy that buffers answers would hold each event until its buffer fills or the stream ends.
  const int port = freePort();
  std::ofstream(root_ + "/events.py") << kUpgradeEchoServer;
  upstreams_.push_back(Process::spawn({"/usr/bin/python3", root_ + "/events.py", std::to_string(port)}, root_ + "/events.log"));
  ASSERT_TRUE(eventually([&] { return request(port, "x", "/").status == 200; })) << upstreams_.back()->log();
  ProxyState state;
  state.apps.push_back(app("events", "events.test", "/", false, {{"127.0.0.1", static_cast<std::uint16_t>(port)}}));
  ASSERT_TRUE(adapter_.proxy->apply(state).ok());
  for (const std::string path : {"/events", "/events-until-close"}) {
    // Chunked, as HTTP/1.1 servers stream; or ended by the close, which nginx buffers unless the
    // app sends `X-Accel-Buffering: no` (docs/routes.md).
    const auto seen = receivedWithin(adapter_.http_port, "events.test", path, "data: one", std::chrono::seconds(5));
    EXPECT_NE(seen.find("text/event-stream"), std::string::npos) << path << ": " << seen;
    EXPECT_NE(seen.find("data: one"), std::string::npos) << path << ": the event was held back by the proxy; received: " << seen;
  }
}

INSTANTIATE_TEST_SUITE_P(Adapters, ProxyConformance, ::testing::Values(nginxFactory(), caddyFactory()),
                         [](const ::testing::TestParamInfo<AdapterFactory>& info) { return info.param.name; });

}  // namespace
}  // namespace berth::itest
