// Kernel-side upstream switching (I/O part; rules in nat_rules): what the nginx
// adapter uses to move an app's traffic between containers without a reload.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "proxy/nat/nat_rules.hpp"

namespace berth::proxy::nat {

class UpstreamNat {
 public:
  virtual ~UpstreamNat() = default;
  // The address the proxy names for every switched app; "" while there is none (the app network's
  // gateway is not known yet, or this process cannot change the rules): the proxy then names the
  // containers themselves and reloads for every change. May change at any time (the network was
  // made again with another subnet): a caller reads it once per change and passes it on below.
  virtual std::string gateway() const = 0;
  // A stable port per app in `apps`, kept across restarts (nginx's files name them); apps not in
  // `apps` give theirs back. A new app never gets a port something else on the host takes at
  // `gateway` (a listener, another program's or agent's rule). Fails, keeping the ports as they
  // were, when they cannot be kept (a full disk).
  virtual Result<std::map<std::string, std::uint16_t>> portsFor(const std::string& gateway,
                                                                const std::vector<std::string>& apps) = 0;
  // Makes the kernel send each service's connections at `gateway` to its targets (refuse them when
  // none), all services at once; connections already open keep their container. On failure the
  // rules in force stay as they were.
  virtual Result<void> apply(const std::string& gateway, const std::vector<NatService>& services) = 0;
};

// Through iptables-restore: this agent's chain (chainNameFor(key)) in the nat and filter tables'
// OUTPUT, replaced whole on every apply. Needs root; the rules outlive the agent, so nginx keeps
// serving while it restarts. Thread-safe (the agent thread sets the gateway while the proxy applies).
class IptablesNat final : public UpstreamNat {
 public:
  // `state_dir`: where the ports are kept (nat_ports) and the rules in force written (nat.rules);
  // `key`: names the chain and the port block (the agent's proxy directory).
  IptablesNat(std::string state_dir, std::string key, std::string iptables_restore = "/usr/sbin/iptables-restore",
              std::string iptables = "/usr/sbin/iptables", std::string iptables_save = "/usr/sbin/iptables-save");
  // The app network's gateway is known: switching can start, if this process may change the
  // rules (root, iptables there); else it stays off and says why.
  Result<void> useGateway(const std::string& gateway);
  std::string gateway() const override;
  Result<std::map<std::string, std::uint16_t>> portsFor(const std::string& gateway,
                                                        const std::vector<std::string>& apps) override;
  Result<void> apply(const std::string& gateway, const std::vector<NatService>& services) override;
  // Unhooks and deletes this agent's chains and forgets the ports (tests; a node leaving kernel
  // switching: NginxProxy::retireKernelRules).
  Result<void> removeRules();
  std::string chain() const { return chain_; }

 private:
  Result<void> ensureJumps(const std::string& gateway);
  Result<std::vector<std::vector<std::string>>> jumpsIn(const char* table);
  Result<void> removeJump(const char* table, const std::vector<std::string>& rule);
  void loadPortsLocked();
  Result<void> savePorts(const std::map<std::string, std::uint16_t>& ports);
  // Ports a new app must not get at `gateway`: matched by others' rules, or listened on.
  Result<std::set<std::uint16_t>> takenElsewhere();

  std::string state_dir_, chain_, restore_binary_, iptables_binary_, save_binary_;
  std::uint16_t block_start_;
  mutable std::mutex mutex_;
  std::string gateway_;
  bool ports_loaded_ = false;
  std::map<std::string, std::uint16_t> ports_;
};

}  // namespace berth::proxy::nat
