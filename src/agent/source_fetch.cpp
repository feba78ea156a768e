// The git side of a source build: the host-key pin check (ssh-keyscan) and the
// fetch, each program from an argv vector in its own process group, with the
// build's time limit and cancel flag (a kill takes git's ssh with it).
#include <sys/stat.h>

#include <chrono>
#include <fstream>
#include <optional>
#include <sstream>

#include "agent/source_build_steps.hpp"
#include "common/subprocess.hpp"
#include "source/ssh_keys.hpp"

namespace berth::agent::source_build {
namespace {

using FetchClock = std::chrono::steady_clock;
// describeGitFailure's words for a refused deploy key or token.
constexpr const char* kRefusedCredentials = "the git server refused the app's credentials";

Error processError(const std::string& step, const Error& error) {
  if (error.code == "cancelled") return makeError("cancelled", step + ": the build was cancelled");
  if (error.code == "timeout") return makeError("timeout", step + ": " + error.message);
  return makeError("git_failed", step + ": " + error.message);
}

void eachLine(const std::string& text, const BuildObserver& observer) {
  if (!observer.on_line) return;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (!line.empty()) observer.on_line(line);
  }
}

std::string listed(const std::vector<source::HostKey>& keys) {
  std::string out;
  for (const auto& k : keys) out += (out.empty() ? "" : ", ") + k.fingerprint + " (" + k.type + ")";
  return out;
}

}  // namespace

Result<void> pinHostKey(const source::GitSource& source, const source::GitPaths& paths, int timeout_ms,
                        const std::atomic<bool>& cancel) {
  ProcessOptions options;
  options.cancel = &cancel;
  options.environment = std::map<std::string, std::string>{{"PATH", "/usr/bin:/bin"}, {"HOME", paths.home}, {"LANG", "C"}};
  options.end_group_on_exit = true;
  auto scanned = runProcess(source::keyscanArgv(source.url), timeout_ms, options);
  if (!scanned) return processError("ssh-keyscan", scanned.error());
  const auto offered = source::parseKeyscan(scanned->output);
  const std::string where = source.url.host + (source.url.port ? ":" + std::to_string(source.url.port) : "");
  if (offered.empty())
    return makeError("git_failed", "ssh-keyscan: " + where + " offered no host key (is it an ssh server?): " +
                                       scanned->output.substr(0, 512));
  if (source.host_key.empty())
    return makeError("host_key_unpinned",
                     "the git server " + where + "'s host key is not pinned for this app; it offers " + listed(offered) +
                         ". Check one out of band and trust it (berth app source trust)");
  for (const auto& key : offered) {
    if (key.fingerprint != source.host_key) continue;
    std::ofstream out(paths.known_hosts, std::ios::trunc);
    out << source::knownHostsLine(source.url.host, source.url.port, key);
    if (!out.flush()) return makeError("io_error", "cannot write " + paths.known_hosts);
    return Ok{};
  }
  return makeError("host_key_mismatch", "the git server " + where + "'s host key is not the pinned " + source.host_key +
                                            ": it offers " + listed(offered));
}

namespace {

// One git command of the fetch, within what is left of the deadline; its output.
Result<std::string> runGit(const source::GitCommand& command, const std::string& step, FetchClock::time_point deadline,
                           int timeout_ms, const std::atomic<bool>& cancel) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - FetchClock::now()).count();
  if (left <= 0) return makeError("timeout", "git: the fetch did not finish within " + std::to_string(timeout_ms / 1000) + " s");
  ProcessOptions options;
  options.environment = command.environment;
  options.cancel = &cancel;
  options.end_group_on_exit = true;
  auto ran = runProcess(command.argv, static_cast<int>(left), options);
  if (!ran) return processError(step, ran.error());
  if (ran->exit_code != 0) {
    const auto described = source::describeGitFailure(ran->output);
    if (described.rfind(kRefusedCredentials, 0) == 0)
      return makeError("git_authentication_failed", step + ": authentication failed: " + described);
    return makeError("git_failed", step + ": " + described);
  }
  return ran->output;
}

std::optional<source::HttpsCredentials> httpsCredentials(const SourceCredentials& credentials) {
  if (credentials.token.empty()) return std::nullopt;
  source::HttpsCredentials https;
  if (!credentials.username.empty()) https.username = credentials.username;
  https.token = credentials.token;
  return https;
}

}  // namespace

Result<std::string> advertisedCommit(const source::GitSource& source, const source::GitPaths& paths,
                                     const SourceCredentials& credentials, const std::string& ref, int timeout_ms,
                                     const std::atomic<bool>& cancel) {
  if (source::isFullCommitId(ref)) return ref;
  const auto command = source::planLsRemote(source, paths, httpsCredentials(credentials), ref);
  auto output = runGit(command, "git ls-remote", FetchClock::now() + std::chrono::milliseconds(timeout_ms), timeout_ms,
                       cancel);
  if (!output) return output.error();
  return source::commitFromLsRemote(*output, ref);
}

Result<std::string> fetchCommit(const source::GitSource& source, const source::GitPaths& paths,
                                const SourceCredentials& credentials, const std::string& ref, int timeout_ms,
                                const BuildObserver& observer, const std::atomic<bool>& cancel) {
  const auto plan = source::planFetch(source, paths, httpsCredentials(credentials), ref);
  const auto deadline = FetchClock::now() + std::chrono::milliseconds(timeout_ms);
  std::string last;
  for (std::size_t i = 0; i < plan.commands.size(); ++i) {
    const auto& command = plan.commands[i];
    const std::string step = "git " + (command.argv.size() > 11 ? command.argv[11] : command.argv[1]);
    auto output = runGit(command, step, deadline, timeout_ms, cancel);
    if (!output) return output.error();
    if (i + 1 < plan.commands.size()) eachLine(*output, observer);
    last = std::move(*output);
  }
  // rev-parse printed the commit (stderr shares the capture: take the line that is one).
  std::istringstream in(last);
  std::string line, commit;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (source::isFullCommitId(line)) commit = line;
  }
  if (commit.empty()) return makeError("git_failed", "git rev-parse: no commit id in its output: " + last.substr(0, 512));
  return commit;
}

std::int64_t commitTime(const source::GitSource& source, const source::GitPaths& paths) {
  const auto env = source::gitEnvironment(source, paths, std::nullopt);
  ProcessOptions options;
  options.environment = env;
  auto ran = runProcess({"git", "-C", paths.checkout, "show", "-s", "--format=%ct", "HEAD"}, 30000, options);
  if (!ran || ran->exit_code != 0) return 0;
  try {
    return std::stoll(ran->output);
  } catch (...) {
    return 0;
  }
}

}  // namespace berth::agent::source_build
