// Reads the facts planAdvertising() needs from this machine: /proc/net/route,
// the interfaces' addresses (getifaddrs) and the host name. Anything it cannot
// read is left empty; the plan then falls back.
#pragma once

#include "server/advertise.hpp"

namespace berth::server {

HostFacts readHostFacts();

}  // namespace berth::server
