#include "agent/health_probe.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

namespace berth::agent {
namespace {

using Clock = std::chrono::steady_clock;

Error failed(const std::string& why) { return makeError("probe_failed", why); }

int msLeft(Clock::time_point deadline) {
  return static_cast<int>(
      std::max<long>(0, std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count()));
}

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

Result<void> connectWithin(int fd, const std::string& ip, std::uint16_t port, Clock::time_point deadline) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  if (::inet_pton(AF_INET, ip.c_str(), &addr.sin_addr) != 1) return failed("not an IPv4 address: " + ip);
  ::fcntl(fd, F_SETFL, O_NONBLOCK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) return Ok{};
  if (errno != EINPROGRESS) return failed("connect " + ip + ":" + std::to_string(port) + ": " + std::strerror(errno));
  pollfd p{fd, POLLOUT, 0};
  if (::poll(&p, 1, msLeft(deadline)) <= 0) return failed("connect " + ip + ":" + std::to_string(port) + ": timeout");
  int err = 0;
  socklen_t len = sizeof err;
  ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
  if (err != 0) return failed("connect " + ip + ":" + std::to_string(port) + ": " + std::strerror(err));
  return Ok{};
}

}  // namespace

int httpStatusOf(const std::string& head) {
  if (head.rfind("HTTP/1.", 0) != 0 || head.size() < 12 || head[8] != ' ') return 0;
  int status = 0;
  for (int i = 9; i < 12; ++i) {
    if (head[i] < '0' || head[i] > '9') return 0;
    status = status * 10 + (head[i] - '0');
  }
  return status;
}

Result<void> probeTcp(const std::string& ip, std::uint16_t port, int timeout_ms) {
  Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) return failed(std::string("socket: ") + std::strerror(errno));
  return connectWithin(fd.get(), ip, port, Clock::now() + std::chrono::milliseconds(timeout_ms));
}

Result<void> probeHttp(const std::string& ip, std::uint16_t port, const std::string& path, int timeout_ms) {
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) return failed(std::string("socket: ") + std::strerror(errno));
  if (auto r = connectWithin(fd.get(), ip, port, deadline); !r) return r;
  const std::string request = "GET " + path + " HTTP/1.0\r\nHost: " + ip + "\r\nUser-Agent: berth-health\r\n\r\n";
  std::size_t sent = 0;
  while (sent < request.size()) {
    pollfd p{fd.get(), POLLOUT, 0};
    if (::poll(&p, 1, msLeft(deadline)) <= 0) return failed("GET " + path + ": timeout while sending");
    const ssize_t n = ::send(fd.get(), request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return failed("GET " + path + ": " + std::strerror(errno));
    sent += static_cast<std::size_t>(n);
  }
  std::string head;
  while (head.size() < 12) {
    pollfd p{fd.get(), POLLIN, 0};
    if (::poll(&p, 1, msLeft(deadline)) <= 0) return failed("GET " + path + ": timeout waiting for the answer");
    char buf[512];
    const ssize_t n = ::recv(fd.get(), buf, sizeof buf, 0);
    if (n <= 0) return failed("GET " + path + ": connection closed without an answer");
    head.append(buf, static_cast<std::size_t>(n));
  }
  const int status = httpStatusOf(head);
  if (status == 0) return failed("GET " + path + ": not an HTTP answer");
  if (status >= 400) return failed("GET " + path + " answered " + std::to_string(status));
  return Ok{};
}

}  // namespace berth::agent
