// Where the server says it can be reached: the host in the URL it prints, in
// the join line and in the CLI context it writes, and the names its TLS
// certificate holds. Pure: the host's facts (route table, addresses, host
// name) come in as values; host_facts.hpp reads them from the machine.
#pragma once

#include <string>
#include <vector>

#include "common/result.hpp"

namespace berth::server {

struct InterfaceAddress {
  std::string interface;  // "eth0"
  std::string address;    // "10.0.0.5" or "fd00::2", no brackets, no zone
  // A bridge, veth, docker0 and the like: never chosen as the advertised
  // address, but still named in the certificate (a container may dial it).
  bool virtual_link = false;
};

struct HostFacts {
  std::string host_name;
  // Interfaces carrying an IPv4 default route, lowest metric first.
  std::vector<std::string> default_route_interfaces;
  std::vector<InterfaceAddress> addresses;  // loopback ones may be present; they are skipped
};

struct Advertised {
  std::string host;  // a name or an address, no brackets
  int port = 0;      // 0: the port the listener bound
  // Deduplicated, in a stable order: server_names, localhost, 127.0.0.1, then
  // the advertised host, the host name and the host's addresses.
  std::vector<std::string> certificate_names;
};

// `listen` is "host:port" ("0.0.0.0:7443", "[::]:7443", "10.0.0.5:7443");
// `advertise_url` is empty (choose) or "https://host[:port]". Listening on
// 0.0.0.0 or :: advertises the first address of the default route's
// interface (falling back to any other non-loopback address, then the host
// name) and certifies the host name and every non-loopback address; a
// specific non-loopback address advertises and certifies that address and the
// host name; loopback advertises the first server name (else "localhost").
// Fails naming the field for an advertise_url that is not such a URL.
Result<Advertised> planAdvertising(const std::string& listen, const std::string& advertise_url,
                                   const std::vector<std::string>& server_names, const HostFacts& facts);

// "https://host:port", with brackets around an IPv6 address.
std::string advertisedUrl(const Advertised& advertised, int bound_port);

// The interfaces carrying an IPv4 default route (destination and mask 0,
// flag RTF_UP) in /proc/net/route's text, lowest metric first.
std::vector<std::string> parseDefaultRouteInterfaces(const std::string& proc_net_route);

// docker0, br-*, veth*, virbr*, cni*, flannel*, cali*, vxlan*, lxcbr*,
// kube-*, weave*: links that only reach containers or VMs on this host.
bool isVirtualInterfaceName(const std::string& name);

// True for 127.0.0.0/8, ::1, "localhost".
bool isLoopbackHost(const std::string& host);

}  // namespace berth::server
