#include "helper/helper_actions.hpp"

#include <fcntl.h>
#include <cerrno>
#include <sys/stat.h>
#include <unistd.h>

#include "common/ids.hpp"
#include "common/subprocess.hpp"

namespace berth::helper {
namespace {

constexpr int kCommandTimeoutMs = 30'000;
constexpr int kCaddyStartTimeoutMs = 60'000;

bool rootOwnedExecutable(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & S_IXUSR) && st.st_uid == 0 &&
         !(st.st_mode & (S_IWOTH | S_IWGRP));
}

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

Error unsafe(const std::string& field, const std::string& why) {
  return makeError("unsafe_path", "field '" + field + "': " + why);
}

// The output of a command that must succeed.
Result<std::string> run(const std::string& name, const std::vector<std::string>& argv) {
  auto r = runProcess(argv, kCommandTimeoutMs);
  if (!r) return r.error();
  if (r->exit_code != 0)
    return makeError("command_failed", name + " exited " + std::to_string(r->exit_code) + ": " + r->output);
  return r->output;
}

// A container's network namespace is not the helper's own: shaping pid 1's or
// any host process's "eth0" is refused before tc runs.
Result<void> checkOwnNetns(int pid) {
  char mine[128] = {}, theirs[128] = {};
  const std::string link = "/proc/" + std::to_string(pid) + "/ns/net";
  if (::readlink(link.c_str(), theirs, sizeof theirs - 1) <= 0)
    return makeError("not_running", "field 'args.pid': no such process");
  if (::readlink("/proc/self/ns/net", mine, sizeof mine - 1) <= 0)
    return makeError("helper_failed", "cannot read the helper's own network namespace");
  if (std::string(mine) == theirs)
    return invalidField("args.pid", "must be a process in a network namespace of its own (a container)");
  return Ok{};
}

Result<std::string> shapeTraffic(const Action& a, const Tools& tools) {
  if (auto r = checkOwnNetns(a.pid); !r) return r.error();
  auto dev = agent::hostInterfaceOf(a.pid, tools.host);
  if (!dev) return dev.error();
  if (auto r = agent::applyTrafficControl(agent::trafficControlPlan(tools.host, *dev, a.pid, a.in_bps, a.out_bps)); !r)
    return r.error();
  return "shaped " + *dev;
}

Result<std::string> writeFile(const Action& a) {
  auto parent = openParentNoFollow(a.path);
  if (!parent) return parent.error();
  Fd dir{parent->first};
  const std::string name = parent->second, tmp = "." + name + ".berth-" + randomHex(6);
  Fd out{::openat(dir.fd, tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600)};
  if (out.fd < 0) return makeError("write_failed", "cannot create a file beside " + a.path);
  std::size_t done = 0;
  while (done < a.content.size()) {
    const ssize_t n = ::write(out.fd, a.content.data() + done, a.content.size() - done);
    if (n <= 0) break;
    done += static_cast<std::size_t>(n);
  }
  // rename(2) replaces a symlink at the target itself, never what it points to.
  if (done != a.content.size() || ::fsync(out.fd) != 0 || ::renameat(dir.fd, tmp.c_str(), dir.fd, name.c_str()) != 0) {
    ::unlinkat(dir.fd, tmp.c_str(), 0);
    return makeError("write_failed", "cannot write " + a.path);
  }
  return "wrote " + std::to_string(done) + " bytes";
}

Result<std::string> caddyStart(const Action& a, const ActionContext& c) {
  if (auto r = checkNoSymlinks("args.config", a.config); !r) return r.error();
  if (auto r = checkNoSymlinks("args.pidfile", a.pidfile); !r) return r.error();
  // The log is opened here, without following symlinks, and handed over as /proc/self/fd/N.
  auto parent = openParentNoFollow(a.log);
  if (!parent) return parent.error();
  Fd dir{parent->first};
  Fd log{::openat(dir.fd, parent->second.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0600)};
  if (log.fd < 0) return unsafe("args.log", "cannot be opened (a symlink?)");
  if (c.proxy_user && ::fchown(log.fd, c.proxy_user->uid, c.proxy_user->gid) != 0)
    return makeError("write_failed", "cannot hand " + a.log + " to the proxy user");
  auto r = runProcessLogged(
      asProxyUser(c.tools.setpriv, c.proxy_user, {c.tools.caddy, "start", "--config", a.config, "--pidfile", a.pidfile}),
      "/proc/self/fd/" + std::to_string(log.fd), kCaddyStartTimeoutMs);
  if (!r) return r.error();
  if (*r != 0) return makeError("command_failed", "caddy start exited " + std::to_string(*r) + " (see " + a.log + ")");
  return std::string("caddy started");
}

}  // namespace

Tools findTools() {
  Tools t;
  const auto& dirs = agent::hostToolDirs();
  t.host.tc = agent::resolveTool("tc", dirs, rootOwnedExecutable);
  t.host.nsenter = agent::resolveTool("nsenter", dirs, rootOwnedExecutable);
  t.host.ip = agent::resolveTool("ip", dirs, rootOwnedExecutable);
  t.nginx = agent::resolveTool("nginx", dirs, rootOwnedExecutable);
  t.caddy = agent::resolveTool("caddy", dirs, rootOwnedExecutable);
  t.setpriv = agent::resolveTool("setpriv", dirs, rootOwnedExecutable);
  return t;
}

std::vector<std::string> asProxyUser(const std::string& setpriv, const std::optional<RunAs>& run_as,
                                     std::vector<std::string> argv) {
  if (!run_as) return argv;
  std::vector<std::string> out = {setpriv,
                                  "--reuid=" + std::to_string(run_as->uid),
                                  "--regid=" + std::to_string(run_as->gid),
                                  "--init-groups",
                                  "--inh-caps=-all,+net_bind_service",
                                  "--ambient-caps=-all,+net_bind_service",
                                  "--bounding-set=-all,+net_bind_service",
                                  "--"};
  out.insert(out.end(), argv.begin(), argv.end());
  return out;
}

Result<std::pair<int, std::string>> openParentNoFollow(const std::string& path) {
  if (path.empty() || path.front() != '/' || path.back() == '/') return unsafe("path", "must be an absolute file path");
  int fd = ::open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return makeError("helper_failed", "cannot open /");
  std::size_t start = 1;
  for (auto slash = path.find('/', start); slash != std::string::npos; slash = path.find('/', start)) {
    const std::string part = path.substr(start, slash - start);
    const int next = ::openat(fd, part.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    ::close(fd);
    if (next < 0)
      return unsafe("path", path.substr(0, slash) + (errno == ELOOP || errno == ENOTDIR ? " is not a plain directory (a symlink?)"
                                                                                         : " cannot be opened"));
    fd = next;
    start = slash + 1;
  }
  return std::pair{fd, path.substr(start)};
}

Result<void> checkNoSymlinks(const std::string& field, const std::string& path) {
  auto parent = openParentNoFollow(path);
  if (!parent) return unsafe(field, parent.error().message.substr(parent.error().message.find(':') + 2));
  Fd dir{parent->first};
  struct stat st {};
  if (::fstatat(dir.fd, parent->second.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode))
    return unsafe(field, path + " is a symlink");
  return Ok{};
}

Result<std::string> perform(const Action& a, const ActionContext& c) {
  const bool proxy = a.verb == Verb::NginxStart || a.verb == Verb::NginxReload || a.verb == Verb::NginxQuit ||
                     a.verb == Verb::CaddyStart;
  if (proxy && c.proxy_user && c.tools.setpriv.empty())
    return makeError("tool_missing", "setpriv (util-linux) not found in /usr/sbin, /sbin, /usr/bin or /bin");
  switch (a.verb) {
    case Verb::TrafficShape:
      return shapeTraffic(a, c.tools);
    case Verb::NginxStart:
    case Verb::NginxReload:
    case Verb::NginxQuit: {
      if (c.tools.nginx.empty()) return makeError("tool_missing", "nginx not found in /usr/sbin, /sbin, /usr/bin or /bin");
      if (auto r = checkNoSymlinks("args.config", a.config); !r) return r.error();
      std::vector<std::string> argv = {c.tools.nginx};
      if (a.verb != Verb::NginxStart) argv.insert(argv.end(), {"-s", a.verb == Verb::NginxReload ? "reload" : "quit"});
      argv.insert(argv.end(), {"-c", a.config});
      return run("nginx", asProxyUser(c.tools.setpriv, c.proxy_user, argv));
    }
    case Verb::CaddyStart:
      if (c.tools.caddy.empty()) return makeError("tool_missing", "caddy not found in /usr/sbin, /sbin, /usr/bin or /bin");
      return caddyStart(a, c);
    case Verb::FileWrite:
      return writeFile(a);
  }
  return makeError("unknown_verb", "no such verb");
}

}  // namespace berth::helper
