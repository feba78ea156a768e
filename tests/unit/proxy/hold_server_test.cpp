// The hold server against raw sockets: what a proxy (or anyone on the node)
// connecting to its port gets.
#include "proxy/hold/hold_server.hpp"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <vector>
#include <thread>

#include "../temp_dir.hpp"

namespace berth::proxy::hold {
namespace {

using namespace std::chrono_literals;

// Polls `condition` for up to 20 s (a bound on a hang, not a timing claim).
bool holdEventually(const std::function<bool()>& condition) {
  for (auto until = std::chrono::steady_clock::now() + 20s; std::chrono::steady_clock::now() < until;
       std::this_thread::sleep_for(10ms))
    if (condition()) return true;
  return condition();
}

sockaddr_in loopback(std::uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

int connectTo(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  auto a = loopback(port);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  timeval limit{20, 0};  // a bound on a hang
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
  return fd;
}

void sendAll(int fd, const std::string& text) { ASSERT_EQ(::send(fd, text.data(), text.size(), MSG_NOSIGNAL), static_cast<ssize_t>(text.size())); }

// Everything until the peer closes (or the 20 s bound).
std::string readAll(int fd) {
  std::string out;
  char buffer[4096];
  for (ssize_t n; (n = ::recv(fd, buffer, sizeof buffer, 0)) > 0;) out.append(buffer, static_cast<std::size_t>(n));
  return out;
}

// An app's container: a port that refuses connections until `listen()`, then answers
// every connection "200 ok" and counts them.
class FakeUpstream {
 public:
  FakeUpstream() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    auto a = loopback(0);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
  }
  ~FakeUpstream() {
    ::shutdown(fd_, SHUT_RDWR);
    if (thread_.joinable()) thread_.join();
    ::close(fd_);
  }
  Upstream upstream() const { return {"127.0.0.1", port_}; }
  int accepted() const { return accepted_.load(); }
  std::vector<std::string> requests() const {
    std::lock_guard lock(mutex_);
    return requests_;
  }
  // The first `count` connections are accepted and closed without an answer.
  void closeUnanswered(int count) { unanswered_ = count; }
  void answerWith(std::string answer) { answer_ = std::move(answer); }
  void listen() {
    ::listen(fd_, 16);
    thread_ = std::thread([this] {
      for (int client; (client = ::accept(fd_, nullptr, nullptr)) >= 0;) {
        if (++accepted_ <= unanswered_) {  // as Docker's port proxy with nothing listening behind it
          ::close(client);
          continue;
        }
        char buffer[4096];
        std::string head;
        const auto complete = [&] {
          return head.find("\r\n\r\n") != std::string::npos &&
                 (head.find("Content-Length: 4\r\n") == std::string::npos || head.ends_with("body"));
        };
        for (ssize_t n; !complete() && (n = ::recv(client, buffer, sizeof buffer, 0)) > 0;)
          head.append(buffer, static_cast<std::size_t>(n));
        std::lock_guard lock(mutex_);
        requests_.push_back(head);
        ::send(client, answer_.data(), answer_.size(), MSG_NOSIGNAL);
        ::close(client);
      }
    });
  }

 private:
  int fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<int> accepted_{0};
  int unanswered_ = 0;
  std::string answer_ = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n";
  mutable std::mutex mutex_;
  std::vector<std::string> requests_;
  std::thread thread_;
};

ProxyState heldApp(const std::string& app, std::vector<Upstream> upstreams, int hold_ms) {
  ProxyState state;
  AppRoutes routes;
  routes.app = app;
  routes.routes = {{{app + ".test"}, "/", false}};
  routes.upstreams = std::move(upstreams);
  routes.hold_ms = hold_ms;
  state.apps.push_back(routes);
  return state;
}

const std::string kGet = "GET / HTTP/1.1\r\nHost: web.test\r\nX-Berth-App: web\r\n\r\n";

TEST(HoldServer, ARequestWhoseClientLeftWhileHeldIsDroppedNotSentToTheAppLater) {
  auto server = HoldServer::start("127.0.0.1", 0);
  ASSERT_TRUE(server.ok()) << server.error().message;
  auto& hold = **server;
  FakeUpstream container;
  hold.setTargets(heldApp("web", {container.upstream()}, 120'000));

  const int gone = connectTo(hold.endpoint().port);
  ASSERT_GE(gone, 0);
  sendAll(gone, "POST /pay HTTP/1.1\r\nHost: web.test\r\nX-Berth-App: web\r\nContent-Length: 0\r\n\r\n");
  ASSERT_TRUE(holdEventually([&] { return hold.counts().held == 1; }));
  ::close(gone);  // the proxy gave up on it (its client went away)
  EXPECT_TRUE(holdEventually([&] { return hold.counts().left == 1; }))
      << "a request nobody waits for any more is still held (it takes a slot for the whole hold)";

  // The container comes up: only the request someone still waits for reaches it.
  container.listen();
  const int waiting = connectTo(hold.endpoint().port);
  ASSERT_GE(waiting, 0);
  sendAll(waiting, kGet);
  EXPECT_NE(readAll(waiting).find("200 OK"), std::string::npos);
  ::close(waiting);
  EXPECT_EQ(container.accepted(), 1) << "the abandoned POST was sent to the app after its client left";
  EXPECT_EQ(hold.counts().passed, 1u);
}

TEST(HoldServer, ABodySentWhileHeldIsPassedOnWithTheHead) {
  auto server = HoldServer::start("127.0.0.1", 0);
  ASSERT_TRUE(server.ok()) << server.error().message;
  auto& hold = **server;
  FakeUpstream container;
  hold.setTargets(heldApp("web", {container.upstream()}, 120'000));
  const int client = connectTo(hold.endpoint().port);
  ASSERT_GE(client, 0);
  sendAll(client, "POST / HTTP/1.1\r\nHost: web.test\r\nX-Berth-App: web\r\nContent-Length: 4\r\n\r\n");
  ASSERT_TRUE(holdEventually([&] { return hold.counts().held == 1; }));
  sendAll(client, "body");  // arrives while the request waits
  std::this_thread::sleep_for(200ms);
  container.listen();
  EXPECT_NE(readAll(client).find("200 OK"), std::string::npos);
  ::close(client);
  ASSERT_EQ(container.requests().size(), 1u);
  EXPECT_TRUE(container.requests()[0].ends_with("\r\n\r\nbody")) << container.requests()[0];
  EXPECT_EQ(hold.counts().left, 0u);
}

TEST(HoldServer, RequestsHeldForAnAppThatStopsGet503AtOnceNotAtTheEndOfTheirHold) {
  auto server = HoldServer::start("127.0.0.1", 0);
  ASSERT_TRUE(server.ok()) << server.error().message;
  auto& hold = **server;
  FakeUpstream container;  // never listens
  hold.setTargets(heldApp("web", {container.upstream()}, 120'000));
  const int client = connectTo(hold.endpoint().port);
  ASSERT_GE(client, 0);
  sendAll(client, kGet);
  ASSERT_TRUE(holdEventually([&] { return hold.counts().held == 1; }));
  hold.setTargets(heldApp("web", {}, 0));  // `app stop`: not held any more
  const auto answer = readAll(client);     // bounded by 20 s, far below the 120 s hold
  ::close(client);
  EXPECT_NE(answer.find("503"), std::string::npos) << "still held after the app stopped: '" << answer << "'";
}

TEST(HoldServer, ADeletedAppsHeldRequestsGet503) {
  auto server = HoldServer::start("127.0.0.1", 0);
  ASSERT_TRUE(server.ok()) << server.error().message;
  auto& hold = **server;
  FakeUpstream container;
  hold.setTargets(heldApp("web", {container.upstream()}, 120'000));
  const int client = connectTo(hold.endpoint().port);
  ASSERT_GE(client, 0);
  sendAll(client, kGet);
  ASSERT_TRUE(holdEventually([&] { return hold.counts().held == 1; }));
  hold.setTargets(ProxyState{});
  const auto answer = readAll(client);
  ::close(client);
  EXPECT_NE(answer.find("503"), std::string::npos) << answer;
}

TEST(HoldServer, AGetWhoseUpstreamClosesWithoutAnsweringIsSentAgainNotCutShort) {
  // A stop-then-start update: Docker's port proxy (or a stopping container) takes the connection
  // and closes it. Passed on, that close is a 502 from the proxy, which has no next server.
  auto server = HoldServer::start("127.0.0.1", 0);
  ASSERT_TRUE(server.ok()) << server.error().message;
  auto& hold = **server;
  FakeUpstream container;
  container.closeUnanswered(3);
  container.listen();
  hold.setTargets(heldApp("web", {container.upstream()}, 120'000));
  const int client = connectTo(hold.endpoint().port);
  ASSERT_GE(client, 0);
  sendAll(client, kGet);
  const auto answer = readAll(client);
  ::close(client);
  EXPECT_NE(answer.find("200 OK"), std::string::npos) << "'" << answer << "'";
  EXPECT_EQ(container.accepted(), 4);
  ASSERT_EQ(container.requests().size(), 1u);
  EXPECT_NE(container.requests()[0].find("\r\nConnection: close\r\n"), std::string::npos)
      << "kept alive, the proxy would reuse this tunnel to this container after it stopped";
  EXPECT_EQ(hold.counts().resent, 3u);
  EXPECT_EQ(hold.counts().passed, 1u);
}

TEST(HoldServer, APostWhoseUpstreamClosesWithoutAnsweringIsNotSentAgain) {
  // The app may have acted on it before it closed: sending it again could pay twice.
  auto server = HoldServer::start("127.0.0.1", 0);
  ASSERT_TRUE(server.ok()) << server.error().message;
  auto& hold = **server;
  FakeUpstream container;
  container.closeUnanswered(1);
  container.listen();
  hold.setTargets(heldApp("web", {container.upstream()}, 120'000));
  const int client = connectTo(hold.endpoint().port);
  ASSERT_GE(client, 0);
  sendAll(client, "POST /pay HTTP/1.1\r\nHost: web.test\r\nX-Berth-App: web\r\nContent-Length: 4\r\n\r\nbody");
  const auto answer = readAll(client);
  ::close(client);
  EXPECT_EQ(answer.find("200 OK"), std::string::npos) << answer;
  EXPECT_EQ(container.accepted(), 1);
  EXPECT_EQ(hold.counts().resent, 0u);
}

TEST(HoldServer, AnUpstreamThatNeverAnswersEndsIn503WhenTheHoldIsOverNamingWhy) {
  auto server = HoldServer::start("127.0.0.1", 0);
  ASSERT_TRUE(server.ok()) << server.error().message;
  auto& hold = **server;
  FakeUpstream container;
  container.closeUnanswered(1'000'000);
  container.listen();
  hold.setTargets(heldApp("web", {container.upstream()}, 500));
  const int client = connectTo(hold.endpoint().port);
  ASSERT_GE(client, 0);
  sendAll(client, kGet);
  const auto answer = readAll(client);
  ::close(client);
  EXPECT_NE(answer.find("503"), std::string::npos) << answer;
  EXPECT_NE(answer.find("closed the connection without answering"), std::string::npos) << answer;
  EXPECT_GE(container.accepted(), 2);  // sent again at least once within the 500 ms
  EXPECT_LE(container.accepted(), 6);  // every 100 ms, not in a busy loop
}

TEST(HoldServer, AnUpgradeAnsweredWithoutSwitchingAsksTheProxyToCloseTheTunnel) {
  // Kept alive, the proxy would pool it and send later requests of anyone to this one container.
  const std::string upgrade =
      "GET /ws HTTP/1.1\r\nHost: web.test\r\nX-Berth-App: web\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n";
  for (const bool switches : {false, true}) {
    auto server = HoldServer::start("127.0.0.1", 0);
    ASSERT_TRUE(server.ok()) << server.error().message;
    FakeUpstream container;
    container.answerWith(switches ? "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
                                  : "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n");
    container.listen();
    (*server)->setTargets(heldApp("web", {container.upstream()}, 120'000));
    const int client = connectTo((*server)->endpoint().port);
    ASSERT_GE(client, 0);
    sendAll(client, upgrade);
    const auto answer = readAll(client);
    ::close(client);
    ASSERT_EQ(container.requests().size(), 1u);
    EXPECT_NE(container.requests()[0].find("Connection: upgrade"), std::string::npos) << "the upgrade was not asked";
    if (switches) {
      EXPECT_NE(answer.find("Connection: Upgrade\r\n"), std::string::npos) << answer;
      EXPECT_EQ(answer.find("Connection: close"), std::string::npos) << answer;
    } else {
      EXPECT_NE(answer.find("200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n"), std::string::npos) << answer;
    }
  }
}

TEST(HoldServer, TheAgentsHoldPortIsKeptAcrossRestartsAndPrivileged) {
  // The proxy's configuration names the port and outlives the agent: a new port after a restart
  // leaves held apps' requests on a dead port (502) until routes are applied again, and a port any
  // user may bind lets a local user take it meanwhile and read (and answer) those requests.
  berth::testing::TempDir dir;
  const std::string file = dir.path() + "/hold_port";
  std::uint16_t first = 0;
  {
    auto server = HoldServer::startKept("127.0.0.1", file);
    ASSERT_TRUE(server.ok()) << server.error().message;
    first = (*server)->endpoint().port;
    if (::geteuid() == 0) {
      EXPECT_LT(first, 1024) << "an unprivileged user could bind the hold port while the agent is down";
    }
  }
  auto again = HoldServer::startKept("127.0.0.1", file);
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_EQ((*again)->endpoint().port, first);

  // Taken (by what only root can run): another port, kept from then on.
  auto moved = HoldServer::startKept("127.0.0.1", file);
  ASSERT_TRUE(moved.ok()) << moved.error().message;
  const auto second = (*moved)->endpoint().port;
  EXPECT_NE(second, first);
  std::ifstream in(file);
  std::string kept;
  std::getline(in, kept);
  EXPECT_EQ(kept, std::to_string(second));
}

TEST(HoldServer, TheFirstStartKeepsItsPortBeforeTheAgentsStateDirectoryExists) {
  // `berth dev`'s first start: the hold server starts before anything else made the state directory.
  berth::testing::TempDir dir;
  const std::string file = dir.path() + "/agent/hold_port";
  std::uint16_t first = 0;
  {
    auto server = HoldServer::startKept("127.0.0.1", file);
    ASSERT_TRUE(server.ok()) << server.error().message;
    first = (*server)->endpoint().port;
  }
  std::ifstream in(file);
  std::string kept;
  std::getline(in, kept);
  EXPECT_EQ(kept, std::to_string(first)) << "the port was not kept";
  EXPECT_EQ(std::filesystem::status(dir.path() + "/agent").permissions() & std::filesystem::perms::others_all,
            std::filesystem::perms::none);
}

}  // namespace
}  // namespace berth::proxy::hold
