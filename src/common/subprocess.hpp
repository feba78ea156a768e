// Runs a program with an argv vector (never a shell), waits for it with a
// deadline and captures its output. For the few host tools berth drives
// directly (tc); everything else goes through APIs.
#pragma once

#include <string>
#include <vector>

#include "common/result.hpp"

namespace berth {

struct ProcessOutput {
  int exit_code = 0;
  std::string output;  // stdout and stderr together, at most 64 KiB
};

// Fails "spawn_failed" when the program cannot start, "timeout" when it outlives `timeout_ms` (it is killed).
Result<ProcessOutput> runProcess(const std::vector<std::string>& argv, int timeout_ms);

// The same with stdout and stderr appended to `log_path` instead of captured: for
// programs that leave a daemon behind, which would hold a capture pipe open for
// ever (`caddy start`). Returns the exit code.
Result<int> runProcessLogged(const std::vector<std::string>& argv, const std::string& log_path, int timeout_ms);

}  // namespace berth
