// Runs a program with an argv vector (never a shell), waits for it with a
// deadline and captures its output. For the few host tools berth drives
// directly (tc); everything else goes through APIs.
#pragma once

#include <atomic>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/result.hpp"

namespace berth {

struct ProcessOutput {
  int exit_code = 0;
  std::string output;  // stdout and stderr together, at most 64 KiB
};

struct ProcessOptions {
  // When set, the program's whole environment (nothing of ours is inherited).
  std::optional<std::map<std::string, std::string>> environment;
  // Read while waiting: once true, the program is killed and the call fails "cancelled".
  const std::atomic<bool>* cancel = nullptr;
  std::string working_directory;  // "" = ours
  // Kill what is left of the program's process group once it exits (helpers it
  // started, such as git's ssh). Not for programs that daemonize (nginx).
  bool end_group_on_exit = false;
};

// Fails "spawn_failed" when the program cannot start, "timeout" when it outlives
// `timeout_ms`. The program runs in a process group of its own, and a timeout or
// a cancel kills the group, so helpers it started (git's ssh) go with it.
Result<ProcessOutput> runProcess(const std::vector<std::string>& argv, int timeout_ms, const ProcessOptions& options = {});

// The same with stdout and stderr appended to `log_path` instead of captured: for
// programs that leave a daemon behind, which would hold a capture pipe open for
// ever (`caddy start`). Returns the exit code.
Result<int> runProcessLogged(const std::vector<std::string>& argv, const std::string& log_path, int timeout_ms);

}  // namespace berth
