#include "helper/helper_client.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <sstream>

#include "common/ids.hpp"
#include "helper/helper_protocol.hpp"

namespace berth::helper {
namespace {

// How far ahead a request expires: well inside the helper's default 30 s lifetime.
constexpr std::int64_t kRequestLifetimeMs = 20'000;

Result<void> ignoreOutput(Result<std::string> r) {
  if (!r) return r.error();
  return Ok{};
}

}  // namespace

Result<std::shared_ptr<HelperClient>> HelperClient::open(std::string socket, const std::string& key_file, Clock clock) {
  std::ifstream in(key_file);
  if (!in) return makeError("bad_key", "cannot read the helper key " + key_file + " (the agent's user must be in its group)");
  std::ostringstream text;
  text << in.rdbuf();
  auto key = parseKey(text.str().substr(0, 200));
  if (!key) return key.error();
  return std::shared_ptr<HelperClient>(new HelperClient(std::move(socket), std::move(*key), std::move(clock)));
}

Result<std::string> HelperClient::call(const std::string& verb, const nlohmann::json& args, int timeout_ms) {
  const auto unavailable = [&](const std::string& why) {
    return makeError("helper_unavailable", "berth helper at " + socket_ + ": " + why);
  };
  sockaddr_un addr{};
  if (socket_.size() >= sizeof addr.sun_path) return unavailable("socket path too long");
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return unavailable("socket() failed");
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  addr.sun_family = AF_UNIX;
  std::copy(socket_.begin(), socket_.end(), addr.sun_path);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return unavailable(std::strerror(errno));
  timeval tv{timeout_ms / 1000, (timeout_ms % 1000) * 1000};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  const std::string out = frame(encodeRequest(key_, verb, args, randomHex(kNonceHexChars / 2), clock_() + kRequestLifetimeMs));
  for (std::size_t done = 0; done < out.size();) {
    const ssize_t n = ::send(fd, out.data() + done, out.size() - done, MSG_NOSIGNAL);
    if (n <= 0) return unavailable("the request could not be sent");
    done += static_cast<std::size_t>(n);
  }
  auto readExact = [&](char* buf, std::size_t n) {
    for (std::size_t done = 0; done < n;) {
      const ssize_t r = ::recv(fd, buf + done, n - done, 0);
      if (r <= 0) return false;
      done += static_cast<std::size_t>(r);
    }
    return true;
  };
  unsigned char header[4];
  if (!readExact(reinterpret_cast<char*>(header), 4)) return unavailable("no answer");
  const std::uint32_t size = frameLength(header);
  if (size > kMaxResponseBytes) return unavailable("answer too large");
  std::string body(size, '\0');
  if (!readExact(body.data(), size)) return unavailable("answer cut short");
  return parseResponse(body);
}

Result<void> HelperClient::shapeTraffic(int pid, std::int64_t in_bps, std::int64_t out_bps) {
  return ignoreOutput(call("traffic.shape", {{"pid", pid}, {"in_bps", in_bps}, {"out_bps", out_bps}}));
}

Result<void> HelperClient::nginx(NginxSignal signal, const std::string& config) {
  const char* verb = signal == NginxSignal::Start ? "nginx.start" : signal == NginxSignal::Reload ? "nginx.reload" : "nginx.quit";
  return ignoreOutput(call(verb, {{"config", config}}));
}

Result<void> HelperClient::caddyStart(const std::string& config, const std::string& pidfile, const std::string& log) {
  return ignoreOutput(call("caddy.start", {{"config", config}, {"pidfile", pidfile}, {"log", log}}));
}

Result<void> HelperClient::writeFile(const std::string& path, const std::string& content) {
  return ignoreOutput(call("file.write", {{"path", path}, {"content", content}}));
}

}  // namespace berth::helper
