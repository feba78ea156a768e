#include "server/host_facts.hpp"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace berth::server {

HostFacts readHostFacts() {
  HostFacts facts;
  char name[256] = {0};
  if (::gethostname(name, sizeof name - 1) == 0) facts.host_name = name;
  std::ifstream route("/proc/net/route");
  if (route) {
    std::stringstream text;
    text << route.rdbuf();
    facts.default_route_interfaces = parseDefaultRouteInterfaces(text.str());
  }
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0) return facts;
  for (ifaddrs* i = list; i; i = i->ifa_next) {
    if (!i->ifa_addr || !(i->ifa_flags & IFF_UP)) continue;
    const int family = i->ifa_addr->sa_family;
    if (family != AF_INET && family != AF_INET6) continue;
    char text[INET6_ADDRSTRLEN] = {0};
    const void* raw = family == AF_INET
                          ? static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(i->ifa_addr)->sin_addr)
                          : static_cast<const void*>(&reinterpret_cast<sockaddr_in6*>(i->ifa_addr)->sin6_addr);
    if (!::inet_ntop(family, raw, text, sizeof text)) continue;
    InterfaceAddress address;
    address.interface = i->ifa_name;
    address.address = text;
    std::error_code ec;
    // A bridge has /sys/class/net/<if>/bridge; the rest are known by name.
    address.virtual_link = (i->ifa_flags & IFF_LOOPBACK) || isVirtualInterfaceName(address.interface) ||
                           std::filesystem::exists("/sys/class/net/" + address.interface + "/bridge", ec);
    facts.addresses.push_back(std::move(address));
  }
  ::freeifaddrs(list);
  return facts;
}

}  // namespace berth::server
