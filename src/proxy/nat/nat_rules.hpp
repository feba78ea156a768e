// Kernel-side upstream switching for the nginx adapter (pure part): each routed
// app gets a stable address (the app network's gateway and a port of its own)
// that nginx's configuration names for ever; which containers answer there is
// a DNAT rule, so an update moves traffic without reloading nginx. Rendered as
// `iptables-restore --noflush` input that replaces this agent's two chains
// whole, in one transaction per table.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "proxy/proxy_state.hpp"

namespace berth::proxy::nat {

struct NatService {
  std::string app;
  std::uint16_t port = 0;          // on the gateway address
  std::vector<Upstream> targets;   // empty: connections are refused at once (nginx moves to its backup)
  bool operator==(const NatService&) const = default;
};

struct NatTable {
  std::string chain;    // this agent's chain, in the nat and the filter table
  std::string gateway;  // IPv4 address every service listens on
  std::vector<NatService> services;
  bool operator==(const NatTable&) const = default;
};

// "BERTH-" and ten hex digits of `key`'s SHA-256: one chain per agent (its state
// directory), so agents sharing a host (tests) never rewrite each other's rules.
std::string chainNameFor(const std::string& key);

// Refuses, naming the field, what must not reach iptables: a chain, gateway or
// target that is not what this module makes (IPv4 only), port 0, two services
// on one port.
Result<void> validate(const NatTable& table);

// The iptables-restore input for `table` (validated first): `:chain` lines
// flush the chains, then one DNAT rule per target (spread at random over
// several, as kube-proxy does) and one REJECT (TCP reset) per service without.
Result<std::string> renderRestore(const NatTable& table);

// The port for an app: the lowest free one in this agent's block of 1,000,
// which starts at 20000 + (hash of `key` mod 40) * 1000.
std::uint16_t portBlockStart(const std::string& key);

// The TCP ports any rule outside `own_chain` matches on (`--dport N`, `--dport A:B`, `--dports
// A,B:C`), from `iptables-save` output: another agent's chain (two agents' blocks can coincide),
// Docker's published ports. A stable port among them would take those connections over, since
// this agent's chain comes first in OUTPUT.
std::set<std::uint16_t> portsMatchedElsewhere(const std::string& iptables_save, const std::string& own_chain);

}  // namespace berth::proxy::nat
