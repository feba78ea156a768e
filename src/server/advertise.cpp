#include "server/advertise.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <sstream>

namespace berth::server {
namespace {

bool isIpv4(const std::string& text) {
  in_addr a{};
  return ::inet_pton(AF_INET, text.c_str(), &a) == 1;
}

bool isIpv6(const std::string& text) {
  in6_addr a{};
  return ::inet_pton(AF_INET6, text.c_str(), &a) == 1;
}

// Link-local addresses need a zone or only reach the next hop: not worth a name.
bool isLinkLocal(const std::string& address) {
  if (address.rfind("169.254.", 0) == 0) return true;
  std::string lower = address;
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  return lower.rfind("fe8", 0) == 0 || lower.rfind("fe9", 0) == 0 || lower.rfind("fea", 0) == 0 ||
         lower.rfind("feb", 0) == 0;
}

void addName(std::vector<std::string>& names, const std::string& name) {
  if (!name.empty() && std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
}

Error advertiseError(const std::string& value) {
  return makeError("invalid_config",
                   "config field 'advertise_url': '" + value + "' must be https://HOST or https://HOST:PORT");
}

// "https://host[:port]" (IPv6 in brackets) into host and port (0 when absent).
Result<std::pair<std::string, int>> parseAdvertiseUrl(const std::string& url) {
  const std::string scheme = "https://";
  if (url.rfind(scheme, 0) != 0) return advertiseError(url);
  std::string rest = url.substr(scheme.size());
  if (!rest.empty() && rest.back() == '/') rest.pop_back();
  if (rest.empty() || rest.find_first_of("/?#@ ") != std::string::npos) return advertiseError(url);
  std::string host, port;
  if (rest.front() == '[') {
    auto close = rest.find(']');
    if (close == std::string::npos) return advertiseError(url);
    host = rest.substr(1, close - 1);
    if (!isIpv6(host)) return advertiseError(url);
    std::string after = rest.substr(close + 1);
    if (!after.empty() && after.front() != ':') return advertiseError(url);
    if (!after.empty()) port = after.substr(1);
  } else {
    auto colon = rest.find(':');
    host = rest.substr(0, colon);
    if (colon != std::string::npos) port = rest.substr(colon + 1);
  }
  if (host.empty()) return advertiseError(url);
  int number = 0;
  if (!port.empty() || rest.back() == ':') {
    if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos)
      return advertiseError(url);
    number = std::stoi(port);
    if (number < 1 || number > 65535) return advertiseError(url);
  }
  return std::make_pair(host, number);
}

// The address to advertise when listening on every address.
std::string chooseWildcardHost(const HostFacts& facts, bool ipv6_too) {
  auto usable = [&](const InterfaceAddress& a, bool allow_virtual) {
    if (isLoopbackHost(a.address) || isLinkLocal(a.address)) return false;
    if (a.virtual_link && !allow_virtual) return false;
    return isIpv4(a.address) || (ipv6_too && isIpv6(a.address));
  };
  // The default route's interface, IPv4 first (that table is IPv4's). A host
  // bridge (br0 holding the NIC) may carry it; a container bridge never should.
  for (const auto& iface : facts.default_route_interfaces) {
    if (isVirtualInterfaceName(iface)) continue;
    for (bool v4 : {true, false}) {
      for (const auto& a : facts.addresses) {
        if (a.interface == iface && usable(a, true) && isIpv4(a.address) == v4) return a.address;
      }
    }
  }
  for (bool allow_virtual : {false, true}) {
    for (const auto& a : facts.addresses) {
      if (usable(a, allow_virtual)) return a.address;
    }
  }
  return facts.host_name.empty() ? "127.0.0.1" : facts.host_name;
}

}  // namespace

bool isLoopbackHost(const std::string& host) {
  if (host == "localhost" || host == "::1") return true;
  return isIpv4(host) && host.rfind("127.", 0) == 0;
}

bool isVirtualInterfaceName(const std::string& name) {
  for (const char* prefix :
       {"docker", "br-", "veth", "virbr", "cni", "flannel", "cali", "vxlan", "lxcbr", "kube-", "weave", "podman"}) {
    if (name.rfind(prefix, 0) == 0) return true;
  }
  return false;
}

std::vector<std::string> parseDefaultRouteInterfaces(const std::string& proc_net_route) {
  constexpr unsigned kRtfUp = 0x1;
  std::vector<std::pair<long, std::string>> found;
  std::istringstream lines(proc_net_route);
  std::string line;
  std::getline(lines, line);  // the header
  while (std::getline(lines, line)) {
    std::istringstream fields(line);
    std::string iface, destination, gateway, flags, refcnt, use, metric, mask;
    if (!(fields >> iface >> destination >> gateway >> flags >> refcnt >> use >> metric >> mask)) continue;
    try {
      if (std::stoul(destination, nullptr, 16) != 0 || std::stoul(mask, nullptr, 16) != 0) continue;
      if ((std::stoul(flags, nullptr, 16) & kRtfUp) == 0) continue;
      const long m = std::stol(metric);
      if (std::none_of(found.begin(), found.end(), [&](const auto& f) { return f.second == iface; }))
        found.emplace_back(m, iface);
    } catch (...) {
      continue;  // a malformed line says nothing
    }
  }
  std::stable_sort(found.begin(), found.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<std::string> out;
  for (auto& [metric, iface] : found) out.push_back(std::move(iface));
  return out;
}

Result<Advertised> planAdvertising(const std::string& listen, const std::string& advertise_url,
                                   const std::vector<std::string>& server_names, const HostFacts& facts) {
  std::string listenHost = listen.substr(0, listen.rfind(':'));
  if (listenHost.size() > 1 && listenHost.front() == '[') listenHost = listenHost.substr(1, listenHost.size() - 2);
  const bool wildcard = listenHost.empty() || listenHost == "0.0.0.0" || listenHost == "::";
  const bool loopback = !wildcard && isLoopbackHost(listenHost);

  Advertised out;
  for (const auto& name : server_names) addName(out.certificate_names, name);
  addName(out.certificate_names, "localhost");
  addName(out.certificate_names, "127.0.0.1");

  if (!advertise_url.empty()) {
    auto parsed = parseAdvertiseUrl(advertise_url);
    if (!parsed) return parsed.error();
    out.host = parsed->first;
    out.port = parsed->second;
  } else if (wildcard) {
    out.host = chooseWildcardHost(facts, listenHost == "::");
  } else if (loopback) {
    out.host = server_names.empty() ? std::string("localhost") : server_names.front();
  } else {
    out.host = listenHost;
  }
  addName(out.certificate_names, out.host);
  if (loopback) return out;  // nothing beyond this host can reach the listener

  addName(out.certificate_names, facts.host_name);
  if (wildcard) {
    for (const auto& a : facts.addresses) {
      if (isLoopbackHost(a.address) || isLinkLocal(a.address)) continue;
      if (isIpv4(a.address) || (listenHost == "::" && isIpv6(a.address))) addName(out.certificate_names, a.address);
    }
  } else {
    addName(out.certificate_names, listenHost);
  }
  return out;
}

std::string advertisedUrl(const Advertised& advertised, int bound_port) {
  const std::string host = isIpv6(advertised.host) ? "[" + advertised.host + "]" : advertised.host;
  return "https://" + host + ":" + std::to_string(advertised.port ? advertised.port : bound_port);
}

}  // namespace berth::server
