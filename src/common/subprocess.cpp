#include "common/subprocess.hpp"

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <algorithm>
#include <functional>

extern char** environ;

namespace berth {
namespace {

// Starts argv with stdout set up by `stdout_to`, stderr the same as stdout, and
// nothing else inherited. Returns posix_spawnp's error number (0: started).
int spawnWithOutput(const std::vector<std::string>& argv,
                    const std::function<void(posix_spawn_file_actions_t&)>& stdout_to, pid_t& pid,
                    const ProcessOptions& options = {}, bool own_group = false) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  stdout_to(actions);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  // Asio opens sockets without CLOEXEC: without this the child would inherit the
  // agent's TLS session to the server, the Docker socket and any other descriptor.
  posix_spawn_file_actions_addclosefrom_np(&actions, 3);
  if (!options.working_directory.empty())
    posix_spawn_file_actions_addchdir_np(&actions, options.working_directory.c_str());
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  if (own_group) {
    posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETPGROUP);
    posix_spawnattr_setpgroup(&attributes, 0);
  }
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::vector<std::string> env_text;
  std::vector<char*> env;
  if (options.environment) {
    for (const auto& [name, value] : *options.environment) env_text.push_back(name + "=" + value);
    for (auto& e : env_text) env.push_back(e.data());
    env.push_back(nullptr);
  }
  // Without an environment of its own the program is found on our PATH; with
  // one, on the PATH it gives (posix_spawnp reads the caller's PATH either way,
  // so a program from the given environment is found by its full path).
  const int rc = ::posix_spawnp(&pid, args[0], &actions, &attributes, args.data(),
                                options.environment ? env.data() : environ);
  posix_spawnattr_destroy(&attributes);
  posix_spawn_file_actions_destroy(&actions);
  return rc;
}

}  // namespace

Result<ProcessOutput> runProcess(const std::vector<std::string>& argv, int timeout_ms, const ProcessOptions& options) {
  if (argv.empty()) return makeError("spawn_failed", "empty argv");
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return makeError("spawn_failed", std::string("pipe: ") + std::strerror(errno));
  pid_t pid = 0;
  const int rc = spawnWithOutput(argv, [&](posix_spawn_file_actions_t& actions) {
    posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
  }, pid, options, true);
  ::close(fds[1]);
  if (rc != 0) {
    ::close(fds[0]);
    return makeError("spawn_failed", "cannot run " + argv[0] + ": " + std::strerror(rc));
  }
  ProcessOutput out;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  bool timedOut = false;
  bool cancelled = false;
  char buf[4096];
  while (true) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
    if (left <= 0) {
      timedOut = true;
      break;
    }
    if (options.cancel && options.cancel->load()) {
      cancelled = true;
      break;
    }
    pollfd p{fds[0], POLLIN, 0};
    // A cancel is noticed within 100 ms.
    const int wait_ms = options.cancel ? static_cast<int>(std::min<long long>(left, 100)) : static_cast<int>(left);
    if (::poll(&p, 1, wait_ms) <= 0) continue;
    const ssize_t n = ::read(fds[0], buf, sizeof buf);
    if (n <= 0) break;
    if (out.output.size() < 65536) out.output.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fds[0]);
  if (timedOut || cancelled) ::kill(-pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (options.end_group_on_exit) ::kill(-pid, SIGKILL);
  if (timedOut) return makeError("timeout", argv[0] + " did not finish within " + std::to_string(timeout_ms) + " ms");
  if (cancelled) return makeError("cancelled", argv[0] + " was cancelled");
  out.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return out;
}

Result<int> runProcessLogged(const std::vector<std::string>& argv, const std::string& log_path, int timeout_ms) {
  if (argv.empty()) return makeError("spawn_failed", "empty argv");
  pid_t pid = 0;
  const int rc = spawnWithOutput(argv, [&](posix_spawn_file_actions_t& actions) {
    // No O_CLOEXEC: this becomes the child's stdout.
    posix_spawn_file_actions_addopen(&actions, 1, log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
  }, pid);
  if (rc != 0) return makeError("spawn_failed", "cannot run " + argv[0] + ": " + std::strerror(rc));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  int status = 0;
  while (::waitpid(pid, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      return makeError("timeout", argv[0] + " did not finish within " + std::to_string(timeout_ms) + " ms");
    }
    ::poll(nullptr, 0, 20);
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

}  // namespace berth
