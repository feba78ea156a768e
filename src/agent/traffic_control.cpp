#include "agent/traffic_control.hpp"

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sys/stat.h>

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

bool rootOwnedExecutable(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & S_IXUSR) && st.st_uid == 0 &&
         !(st.st_mode & S_IWOTH);
}

}  // namespace

const std::vector<std::string>& hostToolDirs() {
  static const std::vector<std::string> dirs = {"/usr/sbin", "/sbin", "/usr/bin", "/bin"};
  return dirs;
}

std::string resolveTool(const std::string& name, const std::vector<std::string>& dirs,
                        const std::function<bool(const std::string&)>& executable) {
  for (const auto& dir : dirs) {
    if (dir.empty() || dir.front() != '/') continue;  // only absolute directories
    const std::string path = dir + "/" + name;
    if (executable(path)) return path;
  }
  return "";
}

const HostTools& hostTools() {
  static const HostTools tools = [] {
    HostTools t;
    t.tc = resolveTool("tc", hostToolDirs(), rootOwnedExecutable);
    t.nsenter = resolveTool("nsenter", hostToolDirs(), rootOwnedExecutable);
    t.ip = resolveTool("ip", hostToolDirs(), rootOwnedExecutable);
    return t;
  }();
  return tools;
}

TcPlan trafficControlPlan(const HostTools& tools, const std::string& dev, int pid, std::int64_t in_bps,
                          std::int64_t out_bps) {
  const std::vector<std::string> inContainer = {tools.nsenter, "-t", std::to_string(pid), "-n"};
  // [prefix...] TC qdisc replace dev DEVICE root tbf rate Nbit burst B latency 50ms
  auto tbf = [&](std::vector<std::string> argv, const std::string& device, std::int64_t bps) {
    const std::vector<std::string> rest = {tools.tc, "qdisc", "replace", "dev", device, "root", "tbf", "rate",
                                           std::to_string(bps) + "bit", "burst", burstBytes(bps), "latency", "50ms"};
    argv.insert(argv.end(), rest.begin(), rest.end());
    return argv;
  };
  TcPlan plan;
  if (in_bps > 0) plan.apply.push_back(tbf({}, dev, in_bps));
  else plan.clear.push_back({tools.tc, "qdisc", "del", "dev", dev, "root"});
  auto out = inContainer;
  if (out_bps > 0) {
    plan.apply.push_back(tbf(inContainer, "eth0", out_bps));
  } else {
    for (const std::string& a : {tools.tc, std::string("qdisc"), std::string("del"), std::string("dev"),
                                 std::string("eth0"), std::string("root")})
      out.push_back(a);
    plan.clear.push_back(out);
  }
  return plan;
}

int peerIndexOf(const std::string& output) {
  // "<index>: <name>@if<peer>: <flags> ..."
  const auto at = output.find("@if");
  if (at == std::string::npos) return 0;
  const auto colon = output.find(':', at);
  const std::string digits = output.substr(at + 3, colon == std::string::npos ? std::string::npos : colon - at - 3);
  if (digits.empty() || digits.size() > 9 || digits.find_first_not_of("0123456789") != std::string::npos) return 0;
  return std::stoi(digits);
}

Result<std::string> interfaceWithIndex(int index, const std::string& sys_root) {
  if (index <= 0) return makeError("no_interface", "no peer interface index");
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(sys_root + "/class/net", ec)) {
    if (readTrimmed(entry.path().string() + "/ifindex") == std::to_string(index)) return entry.path().filename().string();
  }
  return makeError("no_interface", "no host interface has index " + std::to_string(index));
}

Result<std::string> hostInterfaceOf(int pid, const HostTools& tools, const std::string& sys_root) {
  if (pid <= 0) return makeError("not_running", "the container is not running");
  if (tools.nsenter.empty() || tools.ip.empty())
    return makeError("no_interface", "nsenter or ip not found in /usr/sbin, /sbin, /usr/bin or /bin");
  // The host's ip, run in the container's network namespace only: the kernel answers, not the container's files.
  auto shown = runProcess({tools.nsenter, "-t", std::to_string(pid), "-n", tools.ip, "-o", "link", "show", "dev", "eth0"},
                          10'000);
  if (!shown) return shown.error();
  if (shown->exit_code != 0) return makeError("no_interface", "the container has no eth0 (no network?)");
  return interfaceWithIndex(peerIndexOf(shown->output), sys_root);
}

Result<void> applyTrafficControl(const TcPlan& plan) {
  for (const auto& argv : plan.clear) (void)runProcess(argv, 10'000);
  for (const auto& argv : plan.apply) {
    if (argv.empty() || argv.front().empty() || argv.front().front() != '/')
      return makeError("tc_failed", "tc or nsenter not found in /usr/sbin, /sbin, /usr/bin or /bin");
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
