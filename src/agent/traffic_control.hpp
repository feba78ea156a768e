// Bandwidth limits for a container, set with tc on the host side of its veth
// pair: a token bucket (tbf) on the veth's egress shapes traffic into the
// container; a policer on the veth's ingress caps traffic out of it. The argv
// lists are built by pure code; applying them runs `tc` without a shell.
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

// 0 = unlimited for either direction.
TcPlan trafficControlPlan(const std::string& device, std::int64_t in_bps, std::int64_t out_bps);

// The host-side interface of the container whose init process is `pid`
// (its eth0's peer), found through /proc/<pid>/root/sys and /sys/class/net.
Result<std::string> hostInterfaceOf(int pid, const std::string& sys_root = "/sys", const std::string& proc_root = "/proc");

Result<void> applyTrafficControl(const TcPlan& plan);

}  // namespace berth::agent
