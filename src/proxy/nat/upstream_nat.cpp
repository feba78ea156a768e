#include "proxy/nat/upstream_nat.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <optional>
#include <set>

#include "common/logging.hpp"
#include "common/subprocess.hpp"
#include "pki/sealed_file.hpp"

namespace berth::proxy::nat {
namespace {

constexpr int kIptablesTimeoutMs = 10'000;
constexpr int kPortsPerAgent = 1000;

std::string firstLine(const std::string& text) { return text.substr(0, text.find('\n')); }

// Whether a socket listens at `address`:`port` (or on every address at `port`): a bind there is
// refused. SO_REUSEADDR, so a connection in TIME_WAIT does not count.
bool listenedOn(const std::string& address, std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  const int one = 1;
  (void)::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  const bool parsed = ::inet_pton(AF_INET, address.c_str(), &sa.sin_addr) == 1;
  const bool taken = parsed && ::bind(fd, reinterpret_cast<const sockaddr*>(&sa), sizeof sa) != 0 && errno == EADDRINUSE;
  ::close(fd);
  return taken;
}

}  // namespace

IptablesNat::IptablesNat(std::string state_dir, std::string key, std::string iptables_restore, std::string iptables,
                         std::string iptables_save)
    : state_dir_(std::move(state_dir)),
      chain_(chainNameFor(key)),
      restore_binary_(std::move(iptables_restore)),
      iptables_binary_(std::move(iptables)),
      save_binary_(std::move(iptables_save)),
      block_start_(portBlockStart(key)) {}

Result<void> IptablesNat::useGateway(const std::string& gateway) {
  if (::geteuid() != 0) return makeError("unsupported", "switching upstreams in the kernel needs root");
  for (const auto& binary : {restore_binary_, iptables_binary_, save_binary_})
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
    if (port >= block_start_ && port < block_start_ + static_cast<unsigned>(kPortsPerAgent))
      ports_[app] = static_cast<std::uint16_t>(port);
  }
}

Result<void> IptablesNat::savePorts(const std::map<std::string, std::uint16_t>& ports) {
  std::string text;
  for (const auto& [app, port] : ports) text += app + ' ' + std::to_string(port) + '\n';
  // Whole or not at all: a full disk leaves the previous file (nginx's files name its ports).
  if (auto written = pki::writePrivateFile(state_dir_ + "/nat_ports", text); !written)
    return makeError("proxy_failed", written.error().message);
  return Ok{};
}

Result<std::set<std::uint16_t>> IptablesNat::takenElsewhere() {
  auto saved = runProcess({save_binary_}, kIptablesTimeoutMs);
  if (!saved) return saved.error();
  if (saved->exit_code != 0)
    return makeError("proxy_failed", "iptables-save could not list the rules: " + firstLine(saved->output));
  return portsMatchedElsewhere(saved->output, chain_);
}

Result<std::map<std::string, std::uint16_t>> IptablesNat::portsFor(const std::string& gateway,
                                                                   const std::vector<std::string>& apps) {
  std::lock_guard lock(mutex_);
  loadPortsLocked();
  const std::set<std::string> wanted(apps.begin(), apps.end());
  auto next = ports_;
  std::erase_if(next, [&](const auto& entry) { return !wanted.contains(entry.first); });
  std::set<std::uint16_t> used;
  for (const auto& [app, port] : next) used.insert(port);
  std::optional<std::set<std::uint16_t>> others;  // listed once, and only when an app needs a port
  std::map<std::string, std::uint16_t> out;
  for (const auto& app : wanted) {
    auto found = next.find(app);
    if (found == next.end()) {
      if (!others) {
        auto listed = takenElsewhere();
        if (!listed) return listed.error();
        others = std::move(*listed);
      }
      std::uint16_t port = block_start_;
      while (port < block_start_ + kPortsPerAgent &&
             (used.contains(port) || others->contains(port) || listenedOn(gateway, port)))
        ++port;
      if (port >= block_start_ + kPortsPerAgent)
        return makeError("proxy_failed", "no free port left in " + std::to_string(block_start_) + "-" +
                                             std::to_string(block_start_ + kPortsPerAgent - 1) + " for routed apps");
      used.insert(port);
      found = next.emplace(app, port).first;
    }
    out[app] = found->second;
  }
  if (next != ports_) {
    if (auto saved = savePorts(next); !saved) return saved.error();
    ports_ = std::move(next);
  }
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

// Deletes one rule jumpsIn listed (its "-A" spelled "-D").
Result<void> IptablesNat::removeJump(const char* table, const std::vector<std::string>& rule) {
  std::vector<std::string> argv = {iptables_binary_, "-w", "-t", table, "-D"};
  argv.insert(argv.end(), rule.begin() + 1, rule.end());
  auto removed = runProcess(argv, kIptablesTimeoutMs);
  if (!removed) return removed.error();
  return Ok{};
}

// The chains hang off OUTPUT (nginx runs on this host), for the gateway's TCP packets only: every
// other packet of the host passes one address compare, not a walk through the chain. A hook for
// an older gateway is removed. Checked on every change, not once: a firewall reload may have
// flushed OUTPUT since.
Result<void> IptablesNat::ensureJumps(const std::string& gateway) {
  const std::vector<std::string> wanted = {"-A", "OUTPUT", "-d", gateway + "/32", "-p", "tcp", "-j", chain_};
  for (const char* table : {"nat", "filter"}) {
    auto jumps = jumpsIn(table);
    if (!jumps) return jumps.error();
    bool present = false;
    for (const auto& rule : *jumps) {
      if (rule == wanted && !present) {
        present = true;
        continue;
      }
      if (auto removed = removeJump(table, rule); !removed) return removed;
    }
    if (present) continue;
    auto added = runProcess(
        {iptables_binary_, "-w", "-t", table, "-I", "OUTPUT", "1", "-d", gateway + "/32", "-p", "tcp", "-j", chain_},
        kIptablesTimeoutMs);
    if (!added) return added.error();
    if (added->exit_code != 0)
      return makeError("proxy_failed", std::string("iptables could not hook ") + chain_ + " into " + table +
                                           " OUTPUT: " + firstLine(added->output));
  }
  return Ok{};
}

Result<void> IptablesNat::apply(const std::string& gateway, const std::vector<NatService>& services) {
  std::lock_guard lock(mutex_);
  if (gateway.empty()) return makeError("unsupported", "no gateway address to switch upstreams on");
  auto rules = renderRestore({chain_, gateway, services});
  if (!rules) return rules.error();
  // Staged whole, applied, and only then named nat.rules: that file is always the rules in force.
  const std::string path = state_dir_ + "/nat.rules", staged = path + ".next";
  if (auto written = pki::writePrivateFile(staged, *rules); !written)
    return makeError("proxy_failed", written.error().message);
  // One transaction per table: the chain is flushed and refilled with nothing in between.
  auto restored = runProcess({restore_binary_, "--noflush", staged}, kIptablesTimeoutMs);
  if (!restored || restored->exit_code != 0) {
    ::unlink(staged.c_str());
    if (!restored) return restored.error();
    return makeError("proxy_failed", "iptables-restore refused the upstream rules: " + firstLine(restored->output));
  }
  std::error_code ec;
  std::filesystem::rename(staged, path, ec);
  if (ec) log::warn("the kernel's upstream rules are not in " + path, {{"error", ec.message()}});
  return ensureJumps(gateway);
}

Result<void> IptablesNat::removeRules() {
  std::lock_guard lock(mutex_);
  for (const char* table : {"nat", "filter"}) {
    auto jumps = jumpsIn(table);
    if (!jumps) return jumps.error();
    for (const auto& rule : *jumps)
      if (auto removed = removeJump(table, rule); !removed) return removed;
    for (const char* step : {"-F", "-X"}) {
      auto done = runProcess({iptables_binary_, "-w", "-t", table, step, chain_}, kIptablesTimeoutMs);
      if (!done) return done.error();
    }
  }
  // No rules, no ports: a later run starts afresh (and does not take this for a leftover).
  std::error_code ec;
  for (const char* file : {"/nat_ports", "/nat.rules"}) std::filesystem::remove(state_dir_ + file, ec);
  ports_.clear();
  ports_loaded_ = true;
  return Ok{};
}

}  // namespace berth::proxy::nat
