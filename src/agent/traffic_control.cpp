#include "agent/traffic_control.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "common/subprocess.hpp"

namespace berth::agent {
namespace {

// Bucket size: a tenth of a second at the rate, never below 16 KiB (one GSO burst).
std::string burstBytes(std::int64_t bps) { return std::to_string(std::max<std::int64_t>(16384, bps / 8 / 10)); }

std::string readTrimmed(const std::string& path) {
  std::ifstream in(path);
  std::string text;
  std::getline(in, text);
  return text;
}

}  // namespace

TcPlan trafficControlPlan(const std::string& dev, std::int64_t in_bps, std::int64_t out_bps) {
  TcPlan plan;
  plan.clear = {{"tc", "qdisc", "del", "dev", dev, "root"}, {"tc", "qdisc", "del", "dev", dev, "ingress"}};
  if (in_bps > 0) {
    plan.apply.push_back({"tc", "qdisc", "add", "dev", dev, "root", "tbf", "rate", std::to_string(in_bps) + "bit",
                          "burst", burstBytes(in_bps), "latency", "50ms"});
  }
  if (out_bps > 0) {
    plan.apply.push_back({"tc", "qdisc", "add", "dev", dev, "handle", "ffff:", "ingress"});
    plan.apply.push_back({"tc", "filter", "add", "dev", dev, "parent", "ffff:", "protocol", "all", "prio", "1", "u32",
                          "match", "u32", "0", "0", "police", "rate", std::to_string(out_bps) + "bit", "burst",
                          burstBytes(out_bps), "drop", "flowid", ":1"});
  }
  return plan;
}

Result<std::string> hostInterfaceOf(int pid, const std::string& sys_root, const std::string& proc_root) {
  if (pid <= 0) return makeError("not_running", "the container is not running");
  const std::string iflink = readTrimmed(proc_root + "/" + std::to_string(pid) + "/root/sys/class/net/eth0/iflink");
  if (iflink.empty()) return makeError("no_interface", "the container has no eth0 (no network?)");
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(sys_root + "/class/net", ec)) {
    if (readTrimmed(entry.path().string() + "/ifindex") == iflink) return entry.path().filename().string();
  }
  return makeError("no_interface", "no host interface has index " + iflink);
}

Result<void> applyTrafficControl(const TcPlan& plan) {
  for (const auto& argv : plan.clear) (void)runProcess(argv, 10'000);
  for (const auto& argv : plan.apply) {
    auto r = runProcess(argv, 10'000);
    if (!r) return r.error();
    if (r->exit_code != 0) {
      std::string cmd;
      for (const auto& a : argv) cmd += (cmd.empty() ? "" : " ") + a;
      return makeError("tc_failed", cmd + " exited " + std::to_string(r->exit_code) + ": " + r->output);
    }
  }
  return Ok{};
}

}  // namespace berth::agent
