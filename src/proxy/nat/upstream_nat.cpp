#include "proxy/nat/upstream_nat.hpp"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "common/logging.hpp"
#include "common/subprocess.hpp"

namespace berth::proxy::nat {
namespace {

constexpr int kIptablesTimeoutMs = 10'000;
constexpr int kPortsPerAgent = 1000;

std::string firstLine(const std::string& text) { return text.substr(0, text.find('\n')); }

}  // namespace

IptablesNat::IptablesNat(std::string state_dir, std::string key, std::string iptables_restore, std::string iptables)
    : state_dir_(std::move(state_dir)),
      chain_(chainNameFor(key)),
      restore_binary_(std::move(iptables_restore)),
      iptables_binary_(std::move(iptables)),
      block_start_(portBlockStart(key)) {}

Result<void> IptablesNat::useGateway(const std::string& gateway) {
  if (::geteuid() != 0) return makeError("unsupported", "switching upstreams in the kernel needs root");
  for (const auto& binary : {restore_binary_, iptables_binary_})
    if (::access(binary.c_str(), X_OK) != 0)
      return makeError("unsupported", "switching upstreams in the kernel needs " + binary + " (Debian package: iptables)");
  NatTable probe{chain_, gateway, {}};
  if (auto v = validate(probe); !v) return v;
  std::lock_guard lock(mutex_);
  gateway_ = gateway;
  return Ok{};
}

std::string IptablesNat::gateway() const {
  std::lock_guard lock(mutex_);
  return gateway_;
}

void IptablesNat::loadPortsLocked() {
  if (ports_loaded_) return;
  ports_loaded_ = true;
  std::ifstream in(state_dir_ + "/nat_ports");
  std::string app;
  unsigned port = 0;
  while (in >> app >> port) {
    if (port >= block_start_ && port < block_start_ + kPortsPerAgent) ports_[app] = static_cast<std::uint16_t>(port);
  }
}

Result<void> IptablesNat::savePortsLocked() {
  const std::string path = state_dir_ + "/nat_ports", staged = path + ".new";
  {
    std::ofstream out(staged, std::ios::trunc);
    for (const auto& [app, port] : ports_) out << app << ' ' << port << '\n';
    out.close();
    if (!out) return makeError("proxy_failed", "cannot write " + staged);
  }
  std::error_code ec;
  std::filesystem::rename(staged, path, ec);
  if (ec) return makeError("proxy_failed", "cannot replace " + path + ": " + ec.message());
  return Ok{};
}

Result<std::map<std::string, std::uint16_t>> IptablesNat::portsFor(const std::vector<std::string>& apps) {
  std::lock_guard lock(mutex_);
  loadPortsLocked();
  const std::set<std::string> wanted(apps.begin(), apps.end());
  auto before = ports_;
  std::erase_if(ports_, [&](const auto& entry) { return !wanted.contains(entry.first); });
  std::set<std::uint16_t> used;
  for (const auto& [app, port] : ports_) used.insert(port);
  std::map<std::string, std::uint16_t> out;
  for (const auto& app : wanted) {
    auto found = ports_.find(app);
    if (found == ports_.end()) {
      std::uint16_t port = block_start_;
      while (used.contains(port) && port < block_start_ + kPortsPerAgent) ++port;
      if (used.contains(port) || port >= block_start_ + kPortsPerAgent)
        return makeError("proxy_failed", "more than " + std::to_string(kPortsPerAgent) + " routed apps on one node");
      used.insert(port);
      found = ports_.emplace(app, port).first;
    }
    out[app] = found->second;
  }
  if (ports_ != before)
    if (auto saved = savePortsLocked(); !saved) return saved.error();
  return out;
}

// The chains hang off OUTPUT (nginx runs on this host): inserted once, first, in both tables.
Result<void> IptablesNat::ensureJumps() {
  for (const char* table : {"nat", "filter"}) {
    auto present = runProcess({iptables_binary_, "-w", "-t", table, "-C", "OUTPUT", "-j", chain_}, kIptablesTimeoutMs);
    if (!present) return present.error();
    if (present->exit_code == 0) continue;
    auto added = runProcess({iptables_binary_, "-w", "-t", table, "-I", "OUTPUT", "1", "-j", chain_}, kIptablesTimeoutMs);
    if (!added) return added.error();
    if (added->exit_code != 0)
      return makeError("proxy_failed", std::string("iptables could not hook ") + chain_ + " into " + table +
                                           " OUTPUT: " + firstLine(added->output));
  }
  return Ok{};
}

Result<void> IptablesNat::apply(const std::vector<NatService>& services) {
  std::lock_guard lock(mutex_);
  if (gateway_.empty()) return makeError("unsupported", "no gateway address to switch upstreams on");
  auto rules = renderRestore({chain_, gateway_, services});
  if (!rules) return rules.error();
  const std::string path = state_dir_ + "/nat.rules";
  {
    std::ofstream out(path, std::ios::trunc);
    out << *rules;
    out.close();
    if (!out) return makeError("proxy_failed", "cannot write " + path);
  }
  // One transaction per table: the chain is flushed and refilled with nothing in between.
  auto restored = runProcess({restore_binary_, "--noflush", path}, kIptablesTimeoutMs);
  if (!restored) return restored.error();
  if (restored->exit_code != 0)
    return makeError("proxy_failed", "iptables-restore refused the upstream rules: " + firstLine(restored->output));
  if (!jumps_) {
    if (auto hooked = ensureJumps(); !hooked) return hooked;
    jumps_ = true;
  }
  return Ok{};
}

Result<void> IptablesNat::removeRules() {
  std::lock_guard lock(mutex_);
  for (const char* table : {"nat", "filter"}) {
    // -D removes one jump per call; an interrupted earlier run may have left two.
    for (int i = 0; i < 8; ++i) {
      auto removed = runProcess({iptables_binary_, "-w", "-t", table, "-D", "OUTPUT", "-j", chain_}, kIptablesTimeoutMs);
      if (!removed) return removed.error();
      if (removed->exit_code != 0) break;
    }
    for (const char* step : {"-F", "-X"}) {
      auto done = runProcess({iptables_binary_, "-w", "-t", table, step, chain_}, kIptablesTimeoutMs);
      if (!done) return done.error();
    }
  }
  jumps_ = false;
  return Ok{};
}

}  // namespace berth::proxy::nat
