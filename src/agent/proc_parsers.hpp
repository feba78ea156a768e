// Parsers for the /proc files host.metrics reads. Pure: text in, numbers out,
// unit-tested on literal strings.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace berth::agent {

struct CpuTimes {
  std::uint64_t busy = 0;   // user+nice+system+irq+softirq+steal (jiffies)
  std::uint64_t total = 0;  // busy + idle + iowait
};
struct MemInfo {
  std::uint64_t total_bytes = 0;
  std::uint64_t available_bytes = 0;
  std::uint64_t swap_total_bytes = 0;
  std::uint64_t swap_free_bytes = 0;
};
struct LoadAvg {
  double one = 0, five = 0, fifteen = 0;
};
struct NetTotals {
  std::uint64_t rx_bytes = 0, tx_bytes = 0, rx_packets = 0, tx_packets = 0;
};

// The aggregate "cpu " line of /proc/stat.
std::optional<CpuTimes> parseProcStat(const std::string& text);
// Number of "cpuN" lines.
int countCpus(const std::string& proc_stat);
std::optional<MemInfo> parseMeminfo(const std::string& text);
std::optional<LoadAvg> parseLoadavg(const std::string& text);
// Sums every interface except "lo".
std::optional<NetTotals> parseNetDev(const std::string& text);
// Percentage of busy time between two samples, 0 when no time passed.
double cpuPercent(const CpuTimes& before, const CpuTimes& after);

}  // namespace berth::agent
