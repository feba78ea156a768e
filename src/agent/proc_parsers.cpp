#include "agent/proc_parsers.hpp"

#include <sstream>

namespace berth::agent {

std::optional<CpuTimes> parseProcStat(const std::string& text) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("cpu ", 0) != 0) continue;
    std::istringstream fields(line.substr(4));
    std::uint64_t v[8] = {0};
    int n = 0;
    while (n < 8 && fields >> v[n]) ++n;
    if (n < 4) return std::nullopt;
    // user nice system idle iowait irq softirq steal
    CpuTimes t;
    t.busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7];
    t.total = t.busy + v[3] + v[4];
    return t;
  }
  return std::nullopt;
}

int countCpus(const std::string& proc_stat) {
  std::istringstream in(proc_stat);
  std::string line;
  int count = 0;
  while (std::getline(in, line)) {
    if (line.size() > 3 && line.rfind("cpu", 0) == 0 && std::isdigit(static_cast<unsigned char>(line[3]))) ++count;
  }
  return count;
}

std::optional<MemInfo> parseMeminfo(const std::string& text) {
  std::istringstream in(text);
  std::string key;
  std::uint64_t value = 0;
  std::string unit;
  MemInfo m;
  bool sawTotal = false, sawAvailable = false;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    if (!(fields >> key >> value)) continue;
    const std::uint64_t bytes = value * 1024;  // /proc/meminfo reports kB
    if (key == "MemTotal:")
      m.total_bytes = bytes, sawTotal = true;
    else if (key == "MemAvailable:")
      m.available_bytes = bytes, sawAvailable = true;
    else if (key == "SwapTotal:")
      m.swap_total_bytes = bytes;
    else if (key == "SwapFree:")
      m.swap_free_bytes = bytes;
  }
  if (!sawTotal || !sawAvailable) return std::nullopt;
  return m;
}

std::optional<LoadAvg> parseLoadavg(const std::string& text) {
  std::istringstream in(text);
  LoadAvg l;
  if (!(in >> l.one >> l.five >> l.fifteen)) return std::nullopt;
  return l;
}

std::optional<NetTotals> parseNetDev(const std::string& text) {
  std::istringstream in(text);
  std::string line;
  NetTotals totals;
  bool any = false;
  while (std::getline(in, line)) {
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string name = line.substr(0, colon);
    name.erase(0, name.find_first_not_of(' '));
    if (name == "lo") continue;
    std::istringstream fields(line.substr(colon + 1));
    std::uint64_t v[16] = {0};
    int n = 0;
    while (n < 16 && fields >> v[n]) ++n;
    if (n < 10) continue;
    totals.rx_bytes += v[0];
    totals.rx_packets += v[1];
    totals.tx_bytes += v[8];
    totals.tx_packets += v[9];
    any = true;
  }
  if (!any && text.find('|') == std::string::npos) return std::nullopt;
  return totals;
}

double cpuPercent(const CpuTimes& before, const CpuTimes& after) {
  if (after.total <= before.total) return 0;
  return 100.0 * static_cast<double>(after.busy - before.busy) / static_cast<double>(after.total - before.total);
}

}  // namespace berth::agent
