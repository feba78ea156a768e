// What the benchmarks read of a process from /proc: resident memory and CPU time,
// whole or by thread name (the server's and the hub's own figures, beside the rates).
#pragma once

#include <sys/types.h>

#include <map>
#include <string>

namespace berth::bench {

// VmRSS in MiB (0 when the process is gone).
double rssMiB(pid_t pid);
// CPU seconds (user + system) used so far; `stat_path` is /proc/<pid>/stat or, for one
// thread, /proc/<pid>/task/<tid>/stat.
double cpuSecondsAt(const std::string& stat_path);
double cpuSeconds(pid_t pid);
// CPU seconds by thread name (threads of one name summed): where the server's time goes.
std::map<std::string, double> cpuByThread(pid_t pid);
// "name 1.23 s, other 0.45 s": what each thread name used between two readings (≥ 10 ms).
std::string cpuByThreadDelta(const std::map<std::string, double>& before, const std::map<std::string, double>& after);

}  // namespace berth::bench
