#include "proxy/nat/upstream_nat.hpp"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
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

// The rules in `table`'s OUTPUT that jump to this agent's chain, as `iptables -S` prints them
// ("-A OUTPUT -d 172.18.0.1/32 -p tcp -j BERTH-…").
Result<std::vector<std::vector<std::string>>> IptablesNat::jumpsIn(const char* table) {
  auto listed = runProcess({iptables_binary_, "-w", "-t", table, "-S", "OUTPUT"}, kIptablesTimeoutMs);
  if (!listed) return listed.error();
  if (listed->exit_code != 0)
    return makeError("proxy_failed", std::string("iptables could not list ") + table + " OUTPUT: " + firstLine(listed->output));
  std::vector<std::vector<std::string>> jumps;
  std::istringstream lines(listed->output);
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream words(line);
    std::vector<std::string> rule{std::istream_iterator<std::string>(words), std::istream_iterator<std::string>()};
    if (rule.size() >= 4 && rule[0] == "-A" && rule[rule.size() - 2] == "-j" && rule.back() == chain_) jumps.push_back(rule);
  }
  return jumps;
}

// The chains hang off OUTPUT (nginx runs on this host), for the gateway's TCP packets only: every
// other packet of the host passes one address compare, not a walk through the chain. Hooked once
// per gateway; a hook for an older gateway is removed.
Result<void> IptablesNat::ensureJumps() {
  const std::vector<std::string> wanted = {"-A", "OUTPUT", "-d", gateway_ + "/32", "-p", "tcp", "-j", chain_};
  for (const char* table : {"nat", "filter"}) {
    auto jumps = jumpsIn(table);
    if (!jumps) return jumps.error();
    bool present = false;
    for (auto rule : *jumps) {
      if (rule == wanted && !present) {
        present = true;
        continue;
      }
      rule[0] = "-D";
      std::vector<std::string> argv = {iptables_binary_, "-w", "-t", table};
      argv.insert(argv.end(), rule.begin(), rule.end());
      if (auto removed = runProcess(argv, kIptablesTimeoutMs); !removed) return removed.error();
    }
    if (present) continue;
    auto added = runProcess({iptables_binary_, "-w", "-t", table, "-I", "OUTPUT", "1", "-d", gateway_ + "/32", "-p",
                             "tcp", "-j", chain_},
                            kIptablesTimeoutMs);
    if (!added) return added.error();
    if (added->exit_code != 0)
      return makeError("proxy_failed", std::string("iptables could not hook ") + chain_ + " into " + table +
                                           " OUTPUT: " + firstLine(added->output));
  }
  hooked_gateway_ = gateway_;
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
  if (hooked_gateway_ != gateway_)
    if (auto hooked = ensureJumps(); !hooked) return hooked;
  return Ok{};
}

Result<void> IptablesNat::removeRules() {
  std::lock_guard lock(mutex_);
  for (const char* table : {"nat", "filter"}) {
    auto jumps = jumpsIn(table);
    if (!jumps) return jumps.error();
    for (auto rule : *jumps) {
      rule[0] = "-D";
      std::vector<std::string> argv = {iptables_binary_, "-w", "-t", table};
      argv.insert(argv.end(), rule.begin(), rule.end());
      if (auto removed = runProcess(argv, kIptablesTimeoutMs); !removed) return removed.error();
    }
    for (const char* step : {"-F", "-X"}) {
      auto done = runProcess({iptables_binary_, "-w", "-t", table, step, chain_}, kIptablesTimeoutMs);
      if (!done) return done.error();
    }
  }
  hooked_gateway_.clear();
  return Ok{};
}

}  // namespace berth::proxy::nat
