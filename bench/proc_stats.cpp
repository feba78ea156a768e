#include "proc_stats.hpp"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>

#include <fmt/format.h>

namespace berth::bench {

double rssMiB(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  }
  return 0;
}

double cpuSecondsAt(const std::string& stat_path) {
  std::ifstream in(stat_path);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto close = text.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream fields(text.substr(close + 2));
  std::string field;
  double ticks = 0;
  for (int i = 3; fields >> field; ++i) {
    if (i == 14 || i == 15) ticks += std::stod(field);  // utime, stime
    if (i == 15) break;
  }
  return ticks / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

double cpuSeconds(pid_t pid) { return cpuSecondsAt("/proc/" + std::to_string(pid) + "/stat"); }

std::map<std::string, double> cpuByThread(pid_t pid) {
  std::map<std::string, double> out;
  std::error_code ec;
  const std::string tasks = "/proc/" + std::to_string(pid) + "/task";
  for (const auto& task : std::filesystem::directory_iterator(tasks, ec)) {
    std::ifstream comm(task.path() / "comm");
    std::string name;
    std::getline(comm, name);
    out[name] += cpuSecondsAt((task.path() / "stat").string());
  }
  return out;
}

std::string cpuByThreadDelta(const std::map<std::string, double>& before, const std::map<std::string, double>& after) {
  std::string out;
  for (const auto& [name, seconds] : after) {
    auto it = before.find(name);
    const double used = seconds - (it == before.end() ? 0 : it->second);
    if (used >= 0.01) out += fmt::format("{}{} {:.2f} s", out.empty() ? "" : ", ", name, used);
  }
  return out;
}

}  // namespace berth::bench
