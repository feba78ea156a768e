#include "proxy/nat/nat_rules.hpp"

#include <arpa/inet.h>

#include <fmt/format.h>

#include <algorithm>
#include <set>
#include <sstream>

#include "apps/app_key.hpp"
#include "common/ids.hpp"

namespace berth::proxy::nat {
namespace {

bool isIpv4(const std::string& text) {
  in_addr address{};
  return ::inet_pton(AF_INET, text.c_str(), &address) == 1;
}

std::string match(const NatTable& table, const NatService& service) {
  return fmt::format("-d {}/32 -p tcp -m tcp --dport {} -m comment --comment \"berth app {}\"", table.gateway,
                     service.port, service.app);
}

// "20000", "20000:20010" or "80,443,20000:20010" into `out`; anything else is skipped.
void addPorts(const std::string& spec, std::set<std::uint16_t>& out) {
  std::size_t start = 0;
  while (start <= spec.size()) {
    const std::size_t comma = std::min(spec.find(',', start), spec.size());
    const std::string item = spec.substr(start, comma - start);
    const std::size_t colon = item.find(':');
    const std::string lo = item.substr(0, colon), hi = colon == std::string::npos ? lo : item.substr(colon + 1);
    const auto number = [](const std::string& text) -> long {
      if (text.empty() || text.size() > 5 || text.find_first_not_of("0123456789") != std::string::npos) return -1;
      const long n = std::stol(text);
      return n <= 65535 ? n : -1;
    };
    const long a = number(lo), b = number(hi);
    if (a >= 0 && b >= a)
      for (long p = a; p <= b; ++p) out.insert(static_cast<std::uint16_t>(p));
    start = comma + 1;
  }
}

}  // namespace

std::set<std::uint16_t> portsMatchedElsewhere(const std::string& iptables_save, const std::string& own_chain) {
  std::set<std::uint16_t> ports;
  std::istringstream in(iptables_save);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream words(line);
    std::string word, chain;
    if (!(words >> word) || word != "-A" || !(words >> chain) || chain == own_chain) continue;
    while (words >> word) {
      if (word != "--dport" && word != "--dports" && word != "--destination-port" && word != "--destination-ports")
        continue;
      std::string spec;
      if (words >> spec) addPorts(spec, ports);
    }
  }
  return ports;
}

std::string chainNameFor(const std::string& key) { return "BERTH-" + sha256Hex(key).substr(0, 10); }

std::uint16_t portBlockStart(const std::string& key) {
  const unsigned block = static_cast<unsigned>(std::stoul(sha256Hex(key).substr(0, 6), nullptr, 16)) % 40;
  return static_cast<std::uint16_t>(20000 + block * 1000);
}

Result<void> validate(const NatTable& table) {
  if (table.chain.rfind("BERTH-", 0) != 0 || table.chain.size() != 16 ||
      table.chain.find_first_not_of("0123456789abcdef", 6) != std::string::npos)
    return invalidField("chain", "must be BERTH- and ten hex digits");
  if (!isIpv4(table.gateway)) return invalidField("gateway", "must be an IPv4 address");
  std::set<std::uint16_t> ports;
  for (std::size_t i = 0; i < table.services.size(); ++i) {
    const auto& s = table.services[i];
    const std::string field = fmt::format("services[{}]", i);
    if (auto name = apps::validateAppKey(field + ".app", s.app); !name) return name;
    if (s.port == 0) return invalidField(field + ".port", "must be 1-65535");
    if (!ports.insert(s.port).second) return invalidField(field + ".port", fmt::format("{} is taken by another app", s.port));
    for (std::size_t t = 0; t < s.targets.size(); ++t) {
      if (!isIpv4(s.targets[t].address))
        return invalidField(fmt::format("{}.targets[{}].address", field, t), "must be an IPv4 address");
      if (s.targets[t].port == 0) return invalidField(fmt::format("{}.targets[{}].port", field, t), "must be 1-65535");
    }
  }
  return Ok{};
}

Result<std::string> renderRestore(const NatTable& table) {
  if (auto v = validate(table); !v) return v.error();
  std::string nat = fmt::format("*nat\n:{} - [0:0]\n", table.chain);
  std::string filter = fmt::format("*filter\n:{} - [0:0]\n", table.chain);
  for (const auto& s : table.services) {
    if (s.targets.empty()) {
      filter += fmt::format("-A {} {} -j REJECT --reject-with tcp-reset\n", table.chain, match(table, s));
      continue;
    }
    // The i-th of n rules takes 1/(n-i) of what reaches it: each target gets 1/n.
    const std::size_t n = s.targets.size();
    for (std::size_t i = 0; i < n; ++i) {
      const std::string spread =
          i + 1 < n ? fmt::format(" -m statistic --mode random --probability {:.10f}", 1.0 / static_cast<double>(n - i)) : "";
      nat += fmt::format("-A {} {}{} -j DNAT --to-destination {}:{}\n", table.chain, match(table, s), spread,
                         s.targets[i].address, s.targets[i].port);
    }
  }
  return nat + "COMMIT\n" + filter + "COMMIT\n";
}

}  // namespace berth::proxy::nat
