#include "proxy/caddy/caddy_proxy.hpp"

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "common/subprocess.hpp"
#include "proxy/local_http.hpp"

namespace berth::proxy::caddy {
namespace fs = std::filesystem;
namespace {

constexpr int kCaddyTimeoutMs = 30'000;
// Beyond upstream_refresh_ms: Caddy stamps a lookup when it has read the answer, which on a loaded
// machine can be a while after the responder sent it.
constexpr int kLookupMarginMs = 250;

}  // namespace

CaddyProxy::CaddyProxy(CaddyOptions options, std::string config_dir, std::string caddy_binary,
                       std::shared_ptr<helper::HostActions> host)
    : options_(std::move(options)),
      config_dir_(std::move(config_dir)),
      binary_(std::move(caddy_binary)),
      host_(std::move(host)) {}

LocalAnswer CaddyProxy::admin(const std::string& method, const std::string& path, const std::string& body) {
  // Caddy checks Host against its admin address ("host:port"); on a unix socket
  // the Host is not an address and is not checked.
  const bool onSocketFile = options_.admin_listen.rfind("unix/", 0) == 0;
  return localHttp(options_.admin_listen, method, path, onSocketFile ? "localhost" : options_.admin_listen, body);
}

Result<void> CaddyProxy::detect() {
  if (::access(binary_.c_str(), X_OK) != 0)
    return makeError("proxy_missing", "the caddy adapter needs " + binary_ + " (Debian package: caddy)");
  auto version = runProcess({binary_, "version"}, kCaddyTimeoutMs);
  // Upstream builds say "v2.6.2 h1:...", Debian's "2.6.2".
  if (!version || version->exit_code != 0 ||
      (version->output.rfind("v2.", 0) != 0 && version->output.rfind("2.", 0) != 0))
    return makeError("proxy_missing", binary_ + " version did not say Caddy 2: " +
                                          (version ? version->output : version.error().message));
  return Ok{};
}

bool CaddyProxy::running() { return admin("GET", "/config/", "").status == 200; }

Result<void> CaddyProxy::ensureResponder() {
  if (!options_.dynamic_upstreams || responder_) return Ok{};
  // 0 would be Caddy's default of one minute.
  if (options_.upstream_refresh_ms < 1 || options_.upstream_refresh_ms > 10'000)
    return invalidField("upstream_refresh_ms", "must be between 1 and 10000");
  if (options_.upstream_dns_port < 0 || options_.upstream_dns_port > 65535)
    return invalidField("upstream_dns_port", "must be between 0 and 65535");
  auto started = dns::DnsResponder::start(options_.upstream_dns_listen,
                                          static_cast<std::uint16_t>(options_.upstream_dns_port), kUpstreamZone);
  if (!started) return started.error();
  responder_ = std::move(*started);
  const bool v6 = options_.upstream_dns_listen.find(':') != std::string::npos;
  // Caddy 2.6.2 dials resolver addresses over TCP unless told otherwise; the responder is UDP only.
  const std::string host = v6 ? "[" + options_.upstream_dns_listen + "]" : options_.upstream_dns_listen;
  options_.upstream_resolver = "udp/" + host + ":" + std::to_string(responder_->port());
  return Ok{};
}

Result<void> CaddyProxy::start() {
  if (auto r = ensureResponder(); !r) return r;
  if (running()) return Ok{};
  std::error_code ec;
  fs::create_directories(config_dir_, ec);
  if (ec) return makeError("proxy_failed", "cannot create " + config_dir_ + ": " + ec.message());
  loaded_.reset();  // a new process: nothing of ours is loaded yet
  const std::string file = config_dir_ + "/caddy.json";
  std::ofstream(file, std::ios::trunc) << renderConfig(ProxyState{}, options_).dump(2);
  // `caddy start` returns once the background process has loaded the file (or failed to).
  const std::string log = config_dir_ + "/caddy.log";
  if (host_) {
    if (auto h = host_->caddyStart(file, config_dir_ + "/caddy.pid", log); !h)
      return makeError("proxy_start_failed", "caddy did not start: " + h.error().message);
    return Ok{};
  }
  auto r = runProcessLogged({binary_, "start", "--config", file, "--pidfile", config_dir_ + "/caddy.pid"}, log,
                            kCaddyTimeoutMs);
  if (!r) return r.error();
  if (*r != 0) {
    std::ifstream in(log);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (text.size() > 1500) text = text.substr(text.size() - 1500);
    return makeError("proxy_start_failed", "caddy did not start (exit " + std::to_string(*r) + "): " + text);
  }
  return Ok{};
}

Result<void> CaddyProxy::apply(const ProxyState& state) {
  if (auto v = validate(state); !v) return v;
  if (auto r = ensureResponder(); !r) return r;
  const auto config = renderConfig(state, options_);
  const auto previous = responder_ ? responder_->records() : dns::Records{};
  const auto records = responder_ ? upstreamRecords(state) : dns::Records{};
  // The new names answer before a configuration that asks for them is loaded.
  std::chrono::steady_clock::time_point last_old_answer{};
  const bool moved = records != previous;
  if (responder_ && moved) last_old_answer = responder_->setRecords(records);
  if (!loaded_ || *loaded_ != config) {
    const auto answer = admin("POST", "/load", config.dump());
    ++loads_posted_;
    if (answer.status != 200) {
      if (responder_ && moved) responder_->setRecords(previous);
      if (answer.status == 0)
        return makeError("proxy_unreachable", "caddy's admin endpoint " + options_.admin_listen + " does not answer");
      return makeError("proxy_config_refused", "caddy refused the new configuration (" + std::to_string(answer.status) +
                                                   "): " + answer.body.substr(0, 2000));
    }
    loaded_ = config;
  }
  // Caddy caches each lookup for upstream_refresh_ms (across loads too): once the
  // last answer from the old table is that old, every request uses the new table.
  if (moved && last_old_answer != std::chrono::steady_clock::time_point{})
    std::this_thread::sleep_until(last_old_answer +
                                  std::chrono::milliseconds(options_.upstream_refresh_ms + kLookupMarginMs));
  return Ok{};
}

void CaddyProxy::stop() {
  (void)admin("POST", "/stop", "");
  loaded_.reset();
}

}  // namespace berth::proxy::caddy
