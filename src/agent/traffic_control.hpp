// Bandwidth limits for a container, set with tc: a token bucket (tbf) on the
// host side of its veth pair shapes traffic into the container, and one on the
// container's own eth0 (entered with nsenter) shapes traffic out of it. Both
// are egress qdiscs, so no tc action modules (police, mirred) are needed.
// The argv lists are built by pure code; applying them runs tc without a shell.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/result.hpp"

namespace berth::agent {

struct TcPlan {
  std::vector<std::vector<std::string>> clear;  // may fail harmlessly (nothing to delete)
  std::vector<std::vector<std::string>> apply;  // must all succeed
};

// 0 = unlimited for either direction. `host_device` is the veth on the host,
// `pid` the container's init process (for its network namespace).
TcPlan trafficControlPlan(const std::string& host_device, int pid, std::int64_t in_bps, std::int64_t out_bps);

// The host-side interface of the container whose init process is `pid`
// (its eth0's peer), found through /proc/<pid>/root/sys and /sys/class/net.
Result<std::string> hostInterfaceOf(int pid, const std::string& sys_root = "/sys", const std::string& proc_root = "/proc");

Result<void> applyTrafficControl(const TcPlan& plan);

}  // namespace berth::agent
