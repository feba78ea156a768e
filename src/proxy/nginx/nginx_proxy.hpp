// The nginx adapter: berth's own nginx master (`nginx -c <config_dir>/nginx.conf`),
// configured by staging each new set of files in a fresh sites.N directory,
// checking it with `nginx -t`, switching the `current` link to it and reloading.
// A failed check or reload leaves (or puts back) the previous files, which keep
// serving. A reload keeps open connections on the old workers, so other apps'
// WebSockets survive a route change (docs/routes.md).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "helper/host_actions.hpp"

#include "proxy/nat/upstream_nat.hpp"
#include "proxy/nginx/nginx_render.hpp"
#include "proxy/reverse_proxy.hpp"

namespace berth::proxy::nginx {

// Where a root master's workers keep request bodies and buffered answers: root-owned and
// readable by all (only root can create entries, so no other user can plant a link there),
// one directory per berth nginx under it.
inline constexpr const char* kSharedTempRoot = "/var/lib/berth-proxy-temp";

class NginxProxy : public ReverseProxy {
 public:
  // With `host`, starting, reloading and stopping the master go through it
  // (`berth helper`: the port binding needs privilege); checks run here.
  // With `nat` (once it has a gateway), apps' upstreams are stable addresses the kernel forwards
  // to their containers: an update changes rules, not files, and nginx is not reloaded.
  NginxProxy(NginxOptions options, std::string nginx_binary = "/usr/sbin/nginx",
             std::shared_ptr<helper::HostActions> host = nullptr, std::shared_ptr<nat::UpstreamNat> nat = nullptr);
  // Without kernel switching now, but with a previous run's rules in the kernel (`stale`): they go
  // once files that no longer name them have loaded (a node turned to proxy_switch=reload).
  void retireKernelRules(std::shared_ptr<nat::IptablesNat> stale) { stale_rules_ = std::move(stale); }
  std::string name() const override { return "nginx"; }
  Result<void> detect() override;
  Result<void> start() override;
  Result<void> apply(const ProxyState& state) override;
  void stop() override;
  bool running() override { return masterPid() != 0; }
  // With kernel switching, pooled connections keep their container up to keepalive_time (1 s).
  int switchSettleMs() const override { return rules_applied_ && !active_services_.empty() ? 1000 : 0; }
  // The app network's gateway moved since the last apply (its files and rules name the old one).
  bool needsReapply() const override;

  // The master's pid, 0 when not running (from its pid file).
  int masterPid() const;

 private:
  Result<void> writeMain();
  // Stages `files` in a fresh sites.N, checks, switches `current` and reloads; on failure the
  // previous set keeps (or is put back) serving.
  Result<void> load(const std::map<std::string, std::string>& files);
  Result<std::string> check(const std::string& main_path);
  Result<void> pointCurrentAt(const std::string& sites_dir);
  Result<void> reload(const std::string& token);
  Result<void> waitForGeneration(const std::string& token);
  // The apps `state` sends through the kernel, at their stable addresses, and the rules for them;
  // none when switching is off or fails (then the containers are named and nginx reloads).
  // `refused` says why when switching should work but did not.
  std::map<std::string, Upstream> switchInKernel(const std::string& gateway, const ProxyState& state,
                                                 std::vector<nat::NatService>& services,
                                                 std::optional<Error>& refused);
  void noteKernelOutcome(const std::optional<Error>& refused);

  NginxOptions options_;
  std::string binary_;
  std::uint64_t generation_ = 0;
  std::shared_ptr<helper::HostActions> host_;
  std::shared_ptr<nat::UpstreamNat> nat_;
  std::shared_ptr<nat::IptablesNat> stale_rules_;
  // What the running nginx loaded (files, and the certificates' sizes and times: a renewal
  // rewrites the same paths), and the kernel rules in force: an apply that changes neither
  // file nor certificate does not reload.
  std::map<std::string, std::string> active_files_;
  std::vector<nat::NatService> active_services_;  // the rules in force, at active_gateway_
  std::string active_gateway_;
  std::string tried_gateway_;    // the gateway the last apply saw ("" none)
  bool rules_applied_ = false;   // once per process: the kernel may hold a previous run's rules
  bool kernel_refused_ = false;  // switching should work but did not (said once, not per change)
};

}  // namespace berth::proxy::nginx
