#include "helper/helper_server.hpp"

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <thread>

#include "common/ids.hpp"
#include "common/json.hpp"
#include "common/logging.hpp"

namespace berth::helper {
namespace {

constexpr std::size_t kNonceCapacity = 100'000;
constexpr std::size_t kMaxOutputBytes = 64u << 10;
constexpr std::size_t kMaxLoggedArgsBytes = 4096;

bool readExact(int fd, char* buf, std::size_t n) {
  std::size_t done = 0;
  while (done < n) {
    const ssize_t r = ::recv(fd, buf + done, n - done, 0);
    if (r <= 0) return false;
    done += static_cast<std::size_t>(r);
  }
  return true;
}

bool writeAll(int fd, const std::string& data) {
  std::size_t done = 0;
  while (done < data.size()) {
    const ssize_t r = ::send(fd, data.data() + done, data.size() - done, MSG_NOSIGNAL);
    if (r <= 0) return false;
    done += static_cast<std::size_t>(r);
  }
  return true;
}

int groupId(const std::string& name) {
  struct group grp {};
  struct group* found = nullptr;
  char buf[4096];
  return ::getgrnam_r(name.c_str(), &grp, buf, sizeof buf, &found) == 0 && found ? static_cast<int>(found->gr_gid) : -1;
}

Result<std::optional<RunAs>> proxyUser(const std::string& name) {
  if (name == "root") return std::optional<RunAs>{};
  struct passwd pw {};
  struct passwd* found = nullptr;
  char buf[4096];
  if (::getpwnam_r(name.c_str(), &pw, buf, sizeof buf, &found) != 0 || !found)
    return makeError("invalid_config", "config field 'proxy_user': no user '" + name + "' on this host");
  if (found->pw_uid == 0) return std::optional<RunAs>{};
  return std::optional<RunAs>{RunAs{found->pw_uid, found->pw_gid}};
}

Result<int> bindSocket(const std::string& path, int gid) {
  sockaddr_un addr{};
  if (path.size() >= sizeof addr.sun_path) return makeError("invalid_config", "config field 'socket': path too long");
  std::error_code ec;
  const auto dir = std::filesystem::path(path).parent_path();
  if (!std::filesystem::exists(dir, ec)) {
    std::filesystem::create_directories(dir, ec);
    if (ec) return makeError("bind_failed", "cannot create " + dir.string() + ": " + ec.message());
    ::chmod(dir.c_str(), 0750);
    if (gid >= 0) (void)::chown(dir.c_str(), 0, static_cast<gid_t>(gid));
  }
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) return makeError("bind_failed", path + " exists and is not a socket");
    ::unlink(path.c_str());
  }
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return makeError("bind_failed", "socket() failed");
  addr.sun_family = AF_UNIX;
  std::copy(path.begin(), path.end(), addr.sun_path);
  const mode_t old = ::umask(0177);  // never wider than 0600 before the chmod below
  const bool bound = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::umask(old);
  if (!bound || ::listen(fd, 64) != 0) {
    ::close(fd);
    return makeError("bind_failed", "cannot listen on " + path + ": " + std::strerror(errno));
  }
  if (gid >= 0 && ::chown(path.c_str(), 0, static_cast<gid_t>(gid)) != 0)
    log::warn("cannot give the helper socket to its group", {{"socket", path}});
  ::chmod(path.c_str(), 0660);
  return fd;
}

}  // namespace

Result<std::string> loadOrCreateKey(const std::string& path, int gid) {
  int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0 && errno == ENOENT) {
    const std::string text = randomHex(kKeyBytes) + "\n";
    const int out = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0640);
    if (out < 0) return makeError("bad_key", "cannot create the helper key " + path + ": " + std::strerror(errno));
    const bool ok = ::fchmod(out, 0640) == 0 && (gid < 0 || ::fchown(out, 0, static_cast<gid_t>(gid)) == 0) &&
                    ::write(out, text.data(), text.size()) == static_cast<ssize_t>(text.size()) && ::fsync(out) == 0;
    ::close(out);
    if (!ok) {
      ::unlink(path.c_str());
      return makeError("bad_key", "cannot write the helper key " + path);
    }
    log::info("helper key created", {{"key_file", path}});
    fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  }
  if (fd < 0) return makeError("unsafe_key", "cannot open the helper key " + path + " (a symlink?)");
  struct stat st {};
  std::string text(200, '\0');
  const bool statted = ::fstat(fd, &st) == 0;
  const ssize_t n = ::read(fd, text.data(), text.size());
  ::close(fd);
  if (!statted || !S_ISREG(st.st_mode) || (st.st_mode & 0027) != 0 || (::geteuid() == 0 && st.st_uid != 0))
    return makeError("unsafe_key", "the helper key " + path +
                                       " must be a regular file owned by root, mode 0640 or narrower");
  text.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
  return parseKey(text);
}

Result<std::unique_ptr<HelperServer>> HelperServer::create(HelperConfig config, Clock clock) {
  std::unique_ptr<HelperServer> s(new HelperServer());
  const int gid = groupId(config.socket_group);
  auto user = proxyUser(config.proxy_user);
  if (!user) return user.error();
  auto key = loadOrCreateKey(config.key_file, gid);
  if (!key) return key.error();
  s->key_ = std::move(*key);
  s->context_.tools = findTools();
  s->context_.proxy_user = *user;
  s->policy_ = Policy{config.proxy_dirs, config.writable_files};
  s->freshness_ = Freshness{config.max_request_lifetime_s * 1000LL, config.clock_skew_s * 1000LL};
  s->nonces_ = std::make_unique<NonceCache>(kNonceCapacity, s->freshness_.skew_ms);
  s->clock_ = std::move(clock);
  auto fd = bindSocket(config.socket, gid);
  if (!fd) return fd.error();
  s->listen_fd_ = *fd;
  s->config_ = std::move(config);
  return s;
}

HelperServer::~HelperServer() {
  stopping_ = true;
  while (active_ > 0) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  if (listen_fd_ >= 0) ::close(listen_fd_);
}

void HelperServer::run() {
  log::info("berth helper listening", {{"socket", config_.socket},
                                       {"proxy_user", config_.proxy_user},
                                       {"proxy_dirs", config_.proxy_dirs},
                                       {"writable_files", config_.writable_files}});
  while (!stopping_) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (::poll(&p, 1, 200) <= 0) continue;
    const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    if (active_.fetch_add(1) >= kMaxConnections) {
      active_--;
      (void)writeAll(fd, frame(errorResponse(makeError("busy", "too many connections; try again shortly"))));
      ::close(fd);
      continue;
    }
    std::thread([this, fd] {
      serve(fd);
      ::close(fd);
      active_--;
    }).detach();
  }
}

void HelperServer::serve(int fd) {
  timeval tv{kIoTimeoutS, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  Peer peer;
  ucred cred{};
  socklen_t len = sizeof cred;
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0) peer = Peer{cred.pid, static_cast<int>(cred.uid)};
  unsigned char header[4];
  if (!readExact(fd, reinterpret_cast<char*>(header), sizeof header)) return;
  const std::uint32_t size = frameLength(header);
  if (size == 0 || size > kMaxRequestBytes) {
    log::warn("helper request refused", {{"outcome", "frame_too_large"}, {"bytes", size}, {"peer_uid", peer.uid},
                                         {"peer_pid", peer.pid}});
    (void)writeAll(fd, frame(errorResponse(makeError("frame_too_large", "a request must be 1 byte to 1 MiB"))));
    return;
  }
  std::string body(size, '\0');
  if (!readExact(fd, body.data(), size)) return;
  (void)writeAll(fd, frame(handle(body, peer)));
}

std::string HelperServer::handle(const std::string& body, const Peer& peer) {
  nlohmann::json line = {{"peer_uid", peer.uid}, {"peer_pid", peer.pid}};
  Result<std::string> outcome = makeError("helper_failed", "internal error");
  try {
    outcome = [&]() -> Result<std::string> {
      auto request = parseRequest(body);
      if (!request) return request.error();
      line["verb"] = request->verb;
      const std::string args = dumpJson(describeArgs(request->verb, request->args));
      line["args"] = args.size() <= kMaxLoggedArgsBytes ? parseJsonOrDiscarded(args) : nlohmann::json{{"bytes", args.size()}};
      const UnixMs now = clock_();
      if (auto a = authenticate(*request, key_, now, freshness_); !a) return a.error();
      {
        std::lock_guard lock(nonces_mutex_);
        if (auto n = nonces_->insert(request->nonce, request->expires_ms, now); !n) return n.error();
      }
      auto action = parseAction(request->verb, request->args, policy_);
      if (!action) return action.error();
      return perform(*action, context_);
    }();
  } catch (const std::exception& e) {  // a bug, not the client's fault: answered and logged, never fatal
    outcome = makeError("helper_failed", std::string("internal error: ") + e.what());
  }
  if (outcome) {
    line["outcome"] = "ok";
    log::info("helper request", line);
    return okResponse(truncateUtf8(*outcome, kMaxOutputBytes));
  }
  line["outcome"] = outcome.error().code;
  line["error"] = truncateUtf8(outcome.error().message, kMaxOutputBytes);
  log::warn("helper request", line);
  return errorResponse(Error{outcome.error().code, truncateUtf8(outcome.error().message, kMaxOutputBytes)});
}

}  // namespace berth::helper
