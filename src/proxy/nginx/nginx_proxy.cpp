#include "proxy/nginx/nginx_proxy.hpp"

#include <fcntl.h>
#include <cerrno>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <thread>
#include <optional>
#include <vector>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <sys/stat.h>

#include "common/ids.hpp"
#include "common/logging.hpp"
#include "common/subprocess.hpp"
#include "proxy/local_http.hpp"

namespace berth::proxy::nginx {
namespace fs = std::filesystem;
namespace {

constexpr int kNginxTimeoutMs = 30'000;
// The entry of a rendered set that is no file: the certificates' stamp, compared with the rest.
constexpr const char* kCertificateStamp = "(certificates)";

Result<void> ensureDirectory(const std::string& path) {
  std::error_code ec;
  fs::create_directories(path, ec);
  if (ec) return makeError("proxy_failed", "cannot create " + path + ": " + ec.message());
  return Ok{};
}

// `path` as a directory every user may enter, created by and belonging to this user; refused
// when something else (a link, another user's directory) is there.
Result<void> ensureSharedDirectory(const std::string& path) {
  if (auto r = ensureDirectory(path); !r) return r;
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != ::geteuid())
    return makeError("proxy_failed", path + " must be a directory of this user's, not a link or another user's");
  if (::chmod(path.c_str(), 0755) != 0) return makeError("proxy_failed", "cannot make " + path + " 0755");
  return Ok{};
}

Result<void> writeFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
  out.close();
  if (!out) return makeError("proxy_failed", "cannot write " + path);
  return Ok{};
}

// The lines of nginx's answer that say what is wrong, without its banner.
std::string complaint(const std::string& output) {
  std::istringstream in(output);
  std::string line, out;
  while (std::getline(in, line)) {
    if (line.find("[emerg]") == std::string::npos && line.find("[error]") == std::string::npos) continue;
    if (!out.empty()) out += "; ";
    out += line.substr(line.find("nginx:") == 0 ? 7 : 0);
  }
  return out.empty() ? output : out;
}

// The token at /.berth-generation on this nginx, "" when it does not answer.
std::string loadedGeneration(const std::string& listen_address, int port) {
  const bool v6 = listen_address.find(':') != std::string::npos;
  const auto answer = localHttp((v6 ? "[::1]:" : "127.0.0.1:") + std::to_string(port), "GET", "/.berth-generation",
                                "_berth", "", 2);
  return answer.status == 200 ? answer.body : "";
}

// A /proc file's text; "" when the process is gone (plain read(2): libstdc++'s
// streams throw when a read fails with ESRCH).
std::string readProcFile(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "";
  std::string text;
  char buf[4096];
  ssize_t n;
  while (text.size() < 65536 && (n = ::read(fd, buf, sizeof buf)) > 0) text.append(buf, static_cast<std::size_t>(n));
  ::close(fd);
  return text;
}

// The master's children (its workers and cache processes), from /proc.
std::vector<int> childrenOf(int master) {
  std::vector<int> children;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/proc", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    const std::string text = readProcFile("/proc/" + name + "/stat");
    // pid (comm) state ppid ...: comm may hold spaces, so read after the last ')'.
    const auto close = text.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream rest(text.substr(close + 1));
    char state;
    int ppid = 0;
    if (rest >> state >> ppid && ppid == master) children.push_back(std::stoi(name));
  }
  return children;
}

// A worker that still accepts connections: alive and not yet "shutting down".
bool stillAccepting(int pid) {
  const std::string title = readProcFile("/proc/" + std::to_string(pid) + "/cmdline");
  return !title.empty() && title.find("shutting down") == std::string::npos;
}

// Size and modification time of every certificate file `state` names: a renewal rewrites
// the same paths, and nginx reads them only when it loads its configuration.
std::string certificateStamp(const ProxyState& state) {
  std::string stamp;
  for (const auto& [host, files] : state.certificates) {
    for (const auto& path : {files.certificate_path, files.key_path}) {
      struct stat st {};
      if (::stat(path.c_str(), &st) == 0)
        stamp += path + ' ' + std::to_string(st.st_size) + ' ' + std::to_string(st.st_mtim.tv_sec) + '.' +
                 std::to_string(st.st_mtim.tv_nsec) + '\n';
      else
        stamp += path + " missing\n";
    }
  }
  return stamp;
}

}  // namespace

NginxProxy::NginxProxy(NginxOptions options, std::string nginx_binary, std::shared_ptr<helper::HostActions> host,
                       std::shared_ptr<nat::UpstreamNat> nat)
    : options_(std::move(options)), binary_(std::move(nginx_binary)), host_(std::move(host)), nat_(std::move(nat)) {
  // A root master runs its workers as another user, who cannot enter a private state directory.
  if (options_.temp_dir.empty() && !host_ && ::geteuid() == 0)
    options_.temp_dir = std::string(kSharedTempRoot) + "/" + sha256Hex(options_.config_dir).substr(0, 16);
}

Result<void> NginxProxy::detect() {
  if (::access(binary_.c_str(), X_OK) != 0)
    return makeError("proxy_missing", "the nginx adapter needs " + binary_ + " (Debian package: nginx)");
  auto version = runProcess({binary_, "-v"}, kNginxTimeoutMs);
  if (!version || version->exit_code != 0)
    return makeError("proxy_missing", binary_ + " -v failed: " + (version ? version->output : version.error().message));
  return Ok{};
}

int NginxProxy::masterPid() const {
  std::ifstream in(options_.runtime_dir + "/nginx.pid");
  int pid = 0;
  if (!(in >> pid) || pid <= 0) return 0;
  // EPERM: alive, but another user's (a master `berth helper` started as root).
  return ::kill(pid, 0) == 0 || errno == EPERM ? pid : 0;
}

Result<void> NginxProxy::writeMain() {
  return writeFile(options_.config_dir + "/nginx.conf", renderMain(options_, options_.config_dir + "/current"));
}

Result<std::string> NginxProxy::check(const std::string& main_path) {
  auto r = runProcess({binary_, "-t", "-q", "-c", main_path}, kNginxTimeoutMs);
  if (!r) return r.error();
  if (r->exit_code != 0) return makeError("proxy_config_refused", "nginx -t refused the new configuration: " + complaint(r->output));
  return r->output;
}

// Replaces the `current` link in one rename, so nginx never sees a half-written set.
Result<void> NginxProxy::pointCurrentAt(const std::string& sites_dir) {
  const std::string link = options_.config_dir + "/current", staged = link + ".new";
  std::error_code ec;
  fs::remove(staged, ec);
  fs::create_directory_symlink(sites_dir, staged, ec);
  if (!ec) fs::rename(staged, link, ec);
  if (ec) return makeError("proxy_failed", "cannot switch " + link + " to " + sites_dir + ": " + ec.message());
  return Ok{};
}

// A reload is a signal: nginx loads the files after `nginx -s reload` has returned.
// Done when its new workers answer with the token of the set they loaded.
Result<void> NginxProxy::reload(const std::string& token) {
  const int master = masterPid();
  const std::vector<int> before = master ? childrenOf(master) : std::vector<int>{};
  if (host_) {
    if (auto h = host_->nginx(helper::NginxSignal::Reload, options_.config_dir + "/nginx.conf"); !h)
      return makeError("proxy_reload_failed", "nginx -s reload failed: " + complaint(h.error().message));
  } else {
    auto r = runProcess({binary_, "-s", "reload", "-c", options_.config_dir + "/nginx.conf"}, kNginxTimeoutMs);
    if (!r) return r.error();
    if (r->exit_code != 0) return makeError("proxy_reload_failed", "nginx -s reload failed: " + complaint(r->output));
  }
  if (auto loaded = waitForGeneration(token); !loaded) return loaded;
  // New workers answer before the master has told the old ones to stop accepting;
  // done when none of the old ones takes new connections any more.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::any_of(before.begin(), before.end(), stillAccepting)) {
    if (std::chrono::steady_clock::now() > deadline)
      return makeError("proxy_reload_failed", "nginx's previous workers still accept connections after 10 s");
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return Ok{};
}

Result<void> NginxProxy::waitForGeneration(const std::string& token) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    if (loadedGeneration(options_.listen_address, options_.http_port) == token) return Ok{};
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return makeError("proxy_reload_failed", "nginx did not load the new configuration within 10 s (see " +
                                              options_.runtime_dir + "/error.log)");
}

Result<void> NginxProxy::start() {
  if (masterPid() != 0) return Ok{};
  for (const auto& dir : {options_.config_dir, options_.runtime_dir})
    if (auto r = ensureDirectory(dir); !r) return r;
  if (!options_.temp_dir.empty()) {
    if (options_.temp_dir.rfind(kSharedTempRoot, 0) == 0)
      if (auto r = ensureSharedDirectory(kSharedTempRoot); !r) return r;
    if (auto r = ensureSharedDirectory(options_.temp_dir); !r) return r;
  }
  const std::string empty = options_.config_dir + "/sites.0";
  for (const auto& sub : {"/apps", "/hosts"})
    if (auto r = ensureDirectory(empty + sub); !r) return r;
  if (auto r = writeFile(empty + "/generation.conf", renderGeneration("sites.0")); !r) return r;
  if (!fs::exists(options_.config_dir + "/current"))
    if (auto r = pointCurrentAt(empty); !r) return r;
  if (auto r = writeMain(); !r) return r;
  if (auto c = check(options_.config_dir + "/nginx.conf"); !c) return c.error();
  // nginx puts its master in the background once it listens.
  if (host_) {
    if (auto h = host_->nginx(helper::NginxSignal::Start, options_.config_dir + "/nginx.conf"); !h)
      return makeError("proxy_start_failed", "nginx did not start: " + complaint(h.error().message));
  } else {
    auto r = runProcess({binary_, "-c", options_.config_dir + "/nginx.conf"}, kNginxTimeoutMs);
    if (!r) return r.error();
    if (r->exit_code != 0) return makeError("proxy_start_failed", "nginx did not start: " + complaint(r->output));
  }
  const fs::path current = fs::read_symlink(options_.config_dir + "/current");
  return waitForGeneration(current.filename().string());
}

std::map<std::string, Upstream> NginxProxy::switchInKernel(const std::string& gateway, const ProxyState& state,
                                                          std::vector<nat::NatService>& services,
                                                          std::optional<Error>& refused) {
  services.clear();
  if (gateway.empty()) return {};
  std::vector<std::string> apps;
  for (const auto& app : state.apps) {
    const bool ipv4 = std::all_of(app.upstreams.begin(), app.upstreams.end(),
                                  [](const Upstream& u) { return u.address.find(':') == std::string::npos; });
    if (!ipv4) return {};  // the kernel rules are IPv4 only: all apps the classic way
    if (!app.upstreams.empty() || (app.hold_ms > 0 && state.hold.port != 0)) apps.push_back(app.app);
  }
  auto ports = nat_->portsFor(gateway, apps);
  if (!ports) {
    refused = makeError(ports.error().code, "no stable upstream ports: " + ports.error().message);
    return {};
  }
  std::map<std::string, Upstream> stable;
  for (const auto& app : state.apps) {
    const auto port = ports->find(app.app);
    if (port == ports->end()) continue;
    stable[app.app] = Upstream{gateway, port->second};
    services.push_back({app.app, port->second, app.upstreams});
  }
  return stable;
}

// Said once while it lasts, not at every change: the fallback (naming the containers and
// reloading) serves meanwhile.
void NginxProxy::noteKernelOutcome(const std::optional<Error>& refused) {
  if (refused && !kernel_refused_)
    log::warn("nginx is reloaded for every change until upstreams can be switched in the kernel",
              {{"error", refused->message}});
  if (!refused && kernel_refused_) log::info("upstreams are switched in the kernel again: updates do not reload nginx");
  kernel_refused_ = refused.has_value();
}

bool NginxProxy::needsReapply() const { return nat_ && nat_->gateway() != tried_gateway_; }

Result<void> NginxProxy::apply(const ProxyState& state) {
  if (auto v = validate(state); !v) return v;
  // Read once: the agent thread may set another gateway meanwhile, and the files and the rules
  // must name the same one.
  const std::string gateway = nat_ ? nat_->gateway() : "";
  tried_gateway_ = gateway;
  std::optional<Error> refused;
  std::vector<nat::NatService> services;
  auto stable = switchInKernel(gateway, state, services, refused);
  const bool rulesChange =
      !refused && !gateway.empty() && (!rules_applied_ || services != active_services_ || gateway != active_gateway_);
  // Rules the new files name go in before the files load; rules no file will name any more (no
  // app switched: all named the classic way, or none left) go only once the files that named
  // them are gone, so no loaded file ever names an address without its rules.
  const bool rulesFirst = rulesChange && !services.empty();
  if (rulesFirst) {
    if (auto applied = nat_->apply(gateway, services); !applied) {
      // The rules in force stay: the files loaded now still name them until the reload below.
      refused = applied.error();
      stable.clear();
      services.clear();
    }
  }
  noteKernelOutcome(refused);
  auto files = renderSites(state, options_, stable);
  files[kCertificateStamp] = certificateStamp(state);
  if (files != active_files_) {
    if (auto loaded = load(files); !loaded) {
      // The running files were loaded with the rules before this change: put those back.
      if (rulesFirst && !refused)
        (void)nat_->apply(active_gateway_.empty() ? gateway : active_gateway_, active_services_);
      return loaded;
    }
    active_files_ = std::move(files);
    if (stale_rules_ && stable.empty()) {
      if (auto removed = stale_rules_->removeRules(); removed) log::info("a previous run's upstream rules were removed");
      else log::warn("a previous run's upstream rules are left in the kernel", {{"error", removed.error().message}});
      stale_rules_.reset();
    }
  }
  if (rulesChange && !rulesFirst) {
    if (auto emptied = nat_->apply(gateway, services); !emptied) {
      log::warn("upstream rules no file names are left in the kernel", {{"error", emptied.error().message}});
      return Ok{};  // served as asked; the next change tries again
    }
  }
  if (rulesChange && !refused) {
    rules_applied_ = true;
    active_gateway_ = gateway;
    active_services_ = std::move(services);
  }
  return Ok{};
}

Result<void> NginxProxy::load(const std::map<std::string, std::string>& files) {
  // A fresh directory per change: the previous one stays untouched until the new one serves.
  std::string sites;
  do {
    sites = options_.config_dir + "/sites." + std::to_string(++generation_) + "-" + std::to_string(::getpid());
  } while (fs::exists(sites));
  std::error_code ec;
  const auto fail = [&](Error error) -> Result<void> {
    fs::remove_all(sites, ec);
    return error;
  };
  for (const auto& sub : {"/apps", "/hosts"})
    if (auto r = ensureDirectory(sites + sub); !r) return fail(r.error());
  for (const auto& [name, text] : files)
    if (name != kCertificateStamp)
      if (auto r = writeFile(sites + "/" + name, text); !r) return fail(r.error());
  const std::string token = fs::path(sites).filename().string();
  if (auto r = writeFile(sites + "/generation.conf", renderGeneration(token)); !r) return fail(r.error());
  // Checked through a main file that includes the staged set: what will be loaded, exactly.
  const std::string checkMain = sites + "/check.conf";
  if (auto r = writeFile(checkMain, renderMain(options_, sites)); !r) return fail(r.error());
  if (auto c = check(checkMain); !c) return fail(c.error());
  const fs::path previous = fs::read_symlink(options_.config_dir + "/current", ec);
  if (auto r = pointCurrentAt(sites); !r) return fail(r.error());
  if (auto r = reload(token); !r) {
    if (!previous.empty()) {
      (void)pointCurrentAt(previous.string());
      (void)reload(previous.filename().string());
    }
    return fail(r.error());
  }
  // Keep the set now serving and the one before it (for a look when something went wrong).
  for (const auto& entry : fs::directory_iterator(options_.config_dir, ec)) {
    const std::string path = entry.path().string();
    if (entry.path().filename().string().rfind("sites.", 0) == 0 && path != sites && path != previous.string())
      fs::remove_all(entry.path(), ec);
  }
  return Ok{};
}

void NginxProxy::stop() {
  if (masterPid() == 0) return;
  if (host_) (void)host_->nginx(helper::NginxSignal::Quit, options_.config_dir + "/nginx.conf");
  else (void)runProcess({binary_, "-s", "quit", "-c", options_.config_dir + "/nginx.conf"}, kNginxTimeoutMs);
}

}  // namespace berth::proxy::nginx
