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

TcPlan trafficControlPlan(const std::string& dev, int pid, std::int64_t in_bps, std::int64_t out_bps) {
  const std::vector<std::string> inContainer = {"nsenter", "-t", std::to_string(pid), "-n"};
  // [prefix...] tc qdisc replace dev DEVICE root tbf rate Nbit burst B latency 50ms
  auto tbf = [](std::vector<std::string> argv, const std::string& device, std::int64_t bps) {
    const std::vector<std::string> rest = {"tc",   "qdisc", "replace", "dev", device, "root", "tbf", "rate",
                                           std::to_string(bps) + "bit", "burst", burstBytes(bps), "latency", "50ms"};
    argv.insert(argv.end(), rest.begin(), rest.end());
    return argv;
  };
  TcPlan plan;
  if (in_bps > 0) plan.apply.push_back(tbf({}, dev, in_bps));
  else plan.clear.push_back({"tc", "qdisc", "del", "dev", dev, "root"});
  auto out = inContainer;
  if (out_bps > 0) {
    plan.apply.push_back(tbf(inContainer, "eth0", out_bps));
  } else {
    for (const char* a : {"tc", "qdisc", "del", "dev", "eth0", "root"}) out.push_back(a);
    plan.clear.push_back(out);
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
