// bench/route_load: an open-loop HTTP/1.1 load client for the routes benchmark
// (bench/routes_bench.sh). C keep-alive connections to one address, each sending
// GET / with a Host header on its own fixed schedule (rate R/C), so the whole
// client sends R requests a second whatever the server does. A request's latency
// runs from the moment it was due, not from when it was sent (a stalled
// connection's queued requests count their wait, as in wrk2), and every request
// is recorded: when it was due, sent and answered (wall-clock ms), the status
// (0: no answer), why it failed, whether its connection had served a request
// before, whether it was retried, and the first line of the body (the app's version).
//
// A GET that meets a reused keep-alive connection closed under it before any byte
// of its answer is sent again once on a new connection, as browsers, curl and
// most client libraries do (RFC 9112 §9.3.1: the server may close an idle
// connection at any time, e.g. nginx's old workers at a reload); `retried` marks
// it and its latency includes the retry. --no-retry turns this off.
//
// Runs until SIGINT or SIGTERM, then writes one CSV line per request to --out.
// Usage: route_load --port P --host H [--address 127.0.0.1] [--rate 2000]
//                   [--connections 50] [--timeout-ms 10000] [--no-retry 1] --out FILE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace {

volatile std::sig_atomic_t g_stop = 0;
void onSignal(int) { g_stop = 1; }

using Clock = std::chrono::steady_clock;
using Nanos = std::chrono::nanoseconds;

struct Options {
  std::string address = "127.0.0.1";
  int port = 0;
  std::string host;
  double rate = 2000;
  int connections = 50;
  long timeout_ms = 10000;
  bool retry = true;
  std::string out;
};

// Why a request got no answer.
enum class Failure { kNone, kConnect, kReset, kClosed, kTimeout, kMalformed };
const char* failureName(Failure f) {
  switch (f) {
    case Failure::kNone: return "";
    case Failure::kConnect: return "connect";
    case Failure::kReset: return "reset";
    case Failure::kClosed: return "closed";  // EOF before a complete response
    case Failure::kTimeout: return "timeout";
    case Failure::kMalformed: return "malformed";
  }
  return "";
}

struct Record {
  double due_ms, sent_ms, done_ms;
  int status;
  Failure failure;
  bool reused;
  bool retried;
  char version[16];
};

enum class State { kClosed, kConnecting, kIdle, kWaiting };

struct Connection {
  int fd = -1;
  State state = State::kClosed;
  Clock::time_point due;     // when its next (or in-flight) request is due
  Clock::time_point sent;
  int served = 0;            // requests answered on this socket
  bool retrying = false;     // the request in flight is a retry
  std::string in;
};

class LoadClient {
 public:
  explicit LoadClient(Options o) : o_(std::move(o)) {
    request_ = "GET / HTTP/1.1\r\nHost: " + o_.host + "\r\nUser-Agent: berth-route-load\r\n\r\n";
    interval_ = Nanos(static_cast<long long>(1e9 * o_.connections / o_.rate));
    wall0_ms_ = std::chrono::duration<double, std::milli>(std::chrono::system_clock::now().time_since_epoch()).count();
    steady0_ = Clock::now();
    records_.reserve(static_cast<size_t>(o_.rate * 900));
  }

  int run() {
    epoll_ = epoll_create1(0);
    conns_.resize(o_.connections);
    const auto first = Clock::now() + std::chrono::milliseconds(100);
    for (int i = 0; i < o_.connections; ++i) {
      conns_[i].due = first + Nanos(static_cast<long long>(1e9 * i / o_.rate));
    }
    std::vector<epoll_event> events(256);
    while (!g_stop) {
      const auto now = Clock::now();
      Clock::time_point next = now + std::chrono::milliseconds(50);
      for (size_t i = 0; i < conns_.size(); ++i) {
        auto& c = conns_[i];
        if ((c.state == State::kWaiting || c.state == State::kConnecting) &&
            now - c.sent > std::chrono::milliseconds(o_.timeout_ms)) {
          finish(i, 0, c.state == State::kWaiting ? Failure::kTimeout : Failure::kConnect, "");
          continue;
        }
        if (c.state == State::kWaiting || c.state == State::kConnecting) continue;
        if (c.due <= now) {
          start(i);
        } else {
          next = std::min(next, c.due);
        }
      }
      // Rounded up: a send at most 1 ms late (counted in its latency) instead of a busy loop.
      const auto wait = std::chrono::ceil<std::chrono::milliseconds>(next - Clock::now()).count();
      const int n = epoll_wait(epoll_, events.data(), static_cast<int>(events.size()), static_cast<int>(std::max<long>(0, wait)));
      for (int e = 0; e < n; ++e) onEvent(events[e].data.u32, events[e].events);
    }
    return write();
  }

 private:
  double wallMs(Clock::time_point t) const {
    return wall0_ms_ + std::chrono::duration<double, std::milli>(t - steady0_).count();
  }

  void start(size_t i) {
    auto& c = conns_[i];
    if (c.state == State::kClosed) {
      c.fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      int one = 1;
      setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      sockaddr_in sa{};
      sa.sin_family = AF_INET;
      sa.sin_port = htons(static_cast<uint16_t>(o_.port));
      inet_pton(AF_INET, o_.address.c_str(), &sa.sin_addr);
      c.served = 0;
      c.in.clear();
      c.sent = Clock::now();
      if (connect(c.fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 && errno != EINPROGRESS) {
        finish(i, 0, Failure::kConnect, "");
        return;
      }
      c.state = State::kConnecting;
      epoll_event ev{EPOLLOUT | EPOLLIN | EPOLLRDHUP, {}};
      ev.data.u32 = static_cast<uint32_t>(i);
      epoll_ctl(epoll_, EPOLL_CTL_ADD, c.fd, &ev);
      return;
    }
    send(i);
  }

  void send(size_t i) {
    auto& c = conns_[i];
    c.sent = Clock::now();
    c.state = State::kWaiting;
    const ssize_t n = ::send(c.fd, request_.data(), request_.size(), MSG_NOSIGNAL);
    if (n != static_cast<ssize_t>(request_.size())) finish(i, 0, c.served > 0 ? Failure::kReset : Failure::kConnect, "");
  }

  void onEvent(uint32_t i, uint32_t events) {
    auto& c = conns_[i];
    if (c.state == State::kConnecting) {
      int err = 0;
      socklen_t len = sizeof err;
      getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err != 0 || (events & EPOLLERR)) {
        finish(i, 0, Failure::kConnect, "");
        return;
      }
      epoll_event ev{EPOLLIN | EPOLLRDHUP, {}};
      ev.data.u32 = i;
      epoll_ctl(epoll_, EPOLL_CTL_MOD, c.fd, &ev);
      c.state = State::kIdle;
      send(i);
      return;
    }
    char buf[16384];
    while (c.fd >= 0) {
      const ssize_t n = recv(c.fd, buf, sizeof buf, 0);
      if (n > 0) {
        c.in.append(buf, static_cast<size_t>(n));
        if (c.state == State::kWaiting) parse(i);
        continue;
      }
      if (n == 0) {
        if (c.state == State::kWaiting) {
          finish(i, 0, Failure::kClosed, "");
        } else {
          close(i);  // an idle keep-alive connection closed by the server: reopened when next due
        }
        return;
      }
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      if (c.state == State::kWaiting) {
        finish(i, 0, Failure::kReset, "");
      } else {
        close(i);
      }
      return;
    }
  }

  // A complete response in c.in (Content-Length bodies; anything else is read to EOF by the
  // server's close, which the proxy never does for a 200 here).
  void parse(size_t i) {
    auto& c = conns_[i];
    const size_t end = c.in.find("\r\n\r\n");
    if (end == std::string::npos) return;
    const std::string_view head(c.in.data(), end);
    if (head.size() < 12 || head.substr(0, 5) != "HTTP/") {
      finish(i, 0, Failure::kMalformed, "");
      return;
    }
    const int status = std::atoi(std::string(head.substr(9, 3)).c_str());
    long length = -1;
    bool closeAfter = false;
    std::string lower(head);
    std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char ch) { return std::tolower(ch); });
    if (auto p = lower.find("\r\ncontent-length:"); p != std::string::npos) length = std::atol(lower.c_str() + p + 17);
    if (lower.find("\r\nconnection: close") != std::string::npos) closeAfter = true;
    if (length < 0) {
      finish(i, 0, Failure::kMalformed, "");
      return;
    }
    if (c.in.size() < end + 4 + static_cast<size_t>(length)) return;
    std::string body = c.in.substr(end + 4, static_cast<size_t>(length));
    body = body.substr(0, body.find('\n'));
    c.in.erase(0, end + 4 + static_cast<size_t>(length));
    finish(i, status, Failure::kNone, body);
    if (closeAfter) close(i);
  }

  void finish(size_t i, int status, Failure failure, const std::string& version) {
    auto& c = conns_[i];
    const bool closedUnderIt = failure == Failure::kReset || failure == Failure::kClosed;
    if (o_.retry && closedUnderIt && c.served > 0 && c.in.empty() && !c.retrying) {
      close(i);
      c.retrying = true;
      start(i);  // same request, same due time, on a new connection
      return;
    }
    Record r{};
    r.due_ms = wallMs(c.due);
    r.sent_ms = wallMs(c.sent);
    r.done_ms = wallMs(Clock::now());
    r.status = status;
    r.failure = failure;
    r.reused = c.served > 0;
    r.retried = c.retrying;
    c.retrying = false;
    std::snprintf(r.version, sizeof r.version, "%s", version.c_str());
    records_.push_back(r);
    c.due += interval_;
    if (failure != Failure::kNone) {
      close(i);
      return;
    }
    ++c.served;
    c.state = State::kIdle;
  }

  void close(size_t i) {
    auto& c = conns_[i];
    if (c.fd >= 0) {
      epoll_ctl(epoll_, EPOLL_CTL_DEL, c.fd, nullptr);
      ::close(c.fd);
    }
    c.fd = -1;
    c.state = State::kClosed;
    c.in.clear();
  }

  int write() const {
    FILE* f = std::fopen(o_.out.c_str(), "w");
    if (f == nullptr) {
      std::perror(o_.out.c_str());
      return 1;
    }
    std::fprintf(f, "due_ms,sent_ms,done_ms,status,failure,reused,retried,version\n");
    for (const auto& r : records_) {
      std::fprintf(f, "%.3f,%.3f,%.3f,%d,%s,%d,%d,%s\n", r.due_ms, r.sent_ms, r.done_ms, r.status, failureName(r.failure),
                   r.reused ? 1 : 0, r.retried ? 1 : 0, r.version);
    }
    return std::fclose(f) == 0 ? 0 : 1;
  }

  Options o_;
  std::string request_;
  Nanos interval_{};
  double wall0_ms_ = 0;
  Clock::time_point steady0_;
  int epoll_ = -1;
  std::vector<Connection> conns_;
  std::vector<Record> records_;
};

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string_view k = argv[i];
    const char* v = argv[i + 1];
    if (k == "--address") o.address = v;
    else if (k == "--port") o.port = std::atoi(v);
    else if (k == "--host") o.host = v;
    else if (k == "--rate") o.rate = std::atof(v);
    else if (k == "--connections") o.connections = std::atoi(v);
    else if (k == "--timeout-ms") o.timeout_ms = std::atol(v);
    else if (k == "--out") o.out = v;
    else if (k == "--no-retry") o.retry = std::string_view(v) != "1";
    else {
      std::fprintf(stderr, "unknown option %s\n", argv[i]);
      return 2;
    }
  }
  if (o.port <= 0 || o.host.empty() || o.out.empty() || o.rate <= 0 || o.connections <= 0) {
    std::fprintf(stderr, "usage: route_load --port P --host H --out FILE [--rate R] [--connections C]\n");
    return 2;
  }
  std::signal(SIGINT, onSignal);
  std::signal(SIGTERM, onSignal);
  std::signal(SIGPIPE, SIG_IGN);
  return LoadClient(std::move(o)).run();
}
