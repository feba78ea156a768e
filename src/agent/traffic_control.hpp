// Bandwidth limits for a container, set with tc: a token bucket (tbf) on the
// host side of its veth pair shapes traffic into the container, and one on the
// container's own eth0 (entered with nsenter) shapes traffic out of it. Both
// are egress qdiscs, so no tc action modules (police, mirred) are needed.
// The argv lists are built by pure code; applying them runs tc without a shell.
//
// These run as root, so the programs are the host's, named by absolute path
// (resolved once from a fixed list of system directories, never through PATH),
// and nothing inside the container chooses a host interface: the veth is found
// by asking the kernel (the host's `ip`, in the container's network namespace)
// for eth0's peer index, then looking that index up in the host's /sys.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "common/result.hpp"

namespace berth::agent {

// The directories host tools are taken from, in order.
const std::vector<std::string>& hostToolDirs();

// The first `dir/name` that `executable` accepts; "" when none.
std::string resolveTool(const std::string& name, const std::vector<std::string>& dirs,
                        const std::function<bool(const std::string&)>& executable);

struct HostTools {
  std::string tc, nsenter, ip;  // absolute paths ("" = not found)
};
// Resolved from hostToolDirs() on first use.
const HostTools& hostTools();

struct TcPlan {
  std::vector<std::vector<std::string>> clear;  // may fail harmlessly (nothing to delete)
  std::vector<std::vector<std::string>> apply;  // must all succeed
};

// 0 = unlimited for either direction. `host_device` is the veth on the host,
// `pid` the container's init process (for its network namespace).
TcPlan trafficControlPlan(const HostTools& tools, const std::string& host_device, int pid, std::int64_t in_bps,
                          std::int64_t out_bps);

// "7: eth0@if12: <BROADCAST,...>" (ip -o link show dev eth0) -> 12, the peer's
// interface index in the host's namespace; 0 when the line has none.
int peerIndexOf(const std::string& ip_link_output);
// The interface under `sys_root`/class/net whose ifindex is `index`.
Result<std::string> interfaceWithIndex(int index, const std::string& sys_root = "/sys");

// The host-side interface of the container whose init process is `pid`.
Result<std::string> hostInterfaceOf(int pid, const HostTools& tools = hostTools(), const std::string& sys_root = "/sys");

Result<void> applyTrafficControl(const TcPlan& plan);

}  // namespace berth::agent
