// Waiting on a 202 answer: a deployment to its end, printing its build's lines
// (log stream "build", paged with the log API's cursor so none is lost or
// printed twice), its pull's progress (cli/progress_view) and its states; any
// other app command to its end. The rendering is progress_view's; this file
// only polls and writes.
#include <fmt/format.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <thread>

#include "cli/build_lines.hpp"
#include "cli/cli_common.hpp"
#include "cli/progress_view.hpp"
#include "common/states.hpp"

namespace berth::cli::detail {
namespace {
using SteadyClock = std::chrono::steady_clock;
constexpr auto kWaitLimit = std::chrono::minutes(15);
constexpr auto kDeployPoll = std::chrono::milliseconds(100);  // one small GET: seeing "healthy" late is what users notice
constexpr auto kCommandPoll = std::chrono::milliseconds(100);
constexpr auto kRateLimitedPause = std::chrono::milliseconds(1000);  // the limiter refills per second

void sleepFor(std::chrono::milliseconds d) { std::this_thread::sleep_for(d); }

// Where the pull's display goes (stdout) and how big the terminal is.
struct Screen {
  bool tty = false;
  std::size_t width = 80;
  std::size_t height = 24;
};

Screen screen() {
  Screen s;
  const char* term = std::getenv("TERM");
  s.tty = ::isatty(STDOUT_FILENO) == 1 && !(term && std::string(term) == "dumb");
  winsize size{};
  if (s.tty && ::ioctl(STDOUT_FILENO, TIOCGWINSZ, &size) == 0 && size.ws_col > 0) {
    s.width = size.ws_col;
    s.height = size.ws_row > 0 ? size.ws_row : s.height;
  }
  return s;
}

// Every line a deploy prints, so a live pull display on the terminal is moved out of the
// way (erased, the line printed, redrawn below) instead of being written over.
class DeployOutput {
 public:
  DeployOutput(const std::string& app, Screen s)
      : tty_(s.tty), block_(app, s.width, std::min<std::size_t>(24, s.height > 4 ? s.height - 4 : 1)), plain_(app) {}

  void line(std::ostream& os, const std::string& text) {
    const bool live = tty_ && block_.drawn();
    if (live) std::cout << block_.erase();
    std::cout.flush();  // stdout's earlier lines before this one, whichever stream it goes to
    os << text << "\n";
    os.flush();
    if (live) std::cout << block_.redraw() << std::flush;
  }

  void progress(const PullView& view) {
    if (tty_) {
      std::cout << block_.draw(view) << std::flush;
      return;
    }
    for (const auto& l : plain_.update(view)) std::cout << l << "\n";
    std::cout.flush();
  }

  // The pull is over: its last display stays where it is.
  void endPull() { block_.keep(); }

 private:
  bool tty_;
  TtyPullBlock block_;
  PlainPullLines plain_;
};

std::int64_t cursorOf(const nlohmann::json& body, std::int64_t fallback) {
  auto it = body.find("cursor");
  return it != body.end() && it->is_number_integer() ? it->get<std::int64_t>() : fallback;
}

// A reason from the node (a failed build's step and last lines): each line escaped, the line breaks kept.
std::string printableReason(const std::string& reason) {
  std::string out;
  std::size_t start = 0;
  while (true) {
    const auto end = reason.find('\n', start);
    out +=
        escapeForTerminal(std::string_view(reason).substr(start, end == std::string::npos ? end : end - start), true);
    if (end == std::string::npos) return out;
    out += "\n";
    start = end + 1;
  }
}

int followDeployment(ApiClient& api, const std::string& app, int number, std::int64_t cursor) {
  DeployOutput out(app, screen());
  const auto deadline = SteadyClock::now() + kWaitLimit;
  std::string last;
  bool pullEnded = false;
  while (SteadyClock::now() < deadline) {
    auto d = callPatiently([&] { return api.call("GET", "/api/v1/apps/" + app + "/deployments/" + std::to_string(number)); },
                           deadline, sleepFor);
    if (!d) return fail(d.error());
    // The build lines stored before this answer first: they come before the state they led to
    // (the node sends a command's lines before its events and its result).
    auto page = [&](std::int64_t after) -> Result<nlohmann::json> {
      auto answer = callPatiently(
          [&] { return api.call("GET", fmt::format("/api/v1/apps/{}/logs?limit={}&after={}", app, kBuildLinePage, after)); },
          deadline, sleepFor);
      if (!answer) return answer.error();
      return answer->body;
    };
    auto print = [&](const std::string& line) { out.line(std::cout, line); };
    if (auto drained = drainBuildLines(page, number, cursor, print); !drained) return fail(drained.error());
    const std::string state = d->body.value("state", std::string());
    const auto parsed = parseDeploymentState(state);
    const bool pullOver = parsed && *parsed != DeploymentState::Pending && *parsed != DeploymentState::Pulling;
    const auto& progress = d->body.value("pull_progress", nlohmann::json());
    const auto stateLine =
        fmt::format("{} deployment {}: {}", escapeForTerminal(app), number, escapeForTerminal(state));
    if (!pullOver) {
      if (state != last) out.line(std::cerr, stateLine);
      if (progress.is_object()) out.progress(parsePullView(progress));
    } else {
      if (!pullEnded) {  // the pull's last state, once
        if (progress.is_object()) out.progress(parsePullView(progress));
        out.endPull();
        pullEnded = true;
      }
      if (state != last) out.line(std::cerr, stateLine);
    }
    last = state;
    if (parsed && ranHealthy(*parsed)) {
      out.line(std::cout,
               fmt::format("{} deployment {} is healthy ({})", escapeForTerminal(app), number, str(d->body, "image")));
      return exit_code::kOk;
    }
    if (parsed && (isSettled(*parsed) || *parsed == DeploymentState::RolledBack)) {
      out.line(std::cerr, "error: " + printableReason(d->body.value("reason", state)));
      return exit_code::kCommandFailed;
    }
    std::this_thread::sleep_for(kDeployPoll);
  }
  return fail(makeError("timeout", "gave up waiting; the operation goes on on the server"));
}

int followCommand(ApiClient& api, const std::string& app, const std::string& verb, const std::string& id) {
  const auto deadline = SteadyClock::now() + kWaitLimit;
  std::string last;
  while (SteadyClock::now() < deadline) {
    auto c = callPatiently([&] { return api.call("GET", "/api/v1/commands/" + id); }, deadline, sleepFor);
    if (!c) return fail(c.error());
    const std::string state = c->body.value("state", std::string());
    if (state != last) std::cerr << fmt::format("{} {}: {}\n", app, verb.substr(4), state);
    last = state;
    const auto parsed = parseCommandState(state);
    if (parsed == CommandState::Succeeded) {
      std::cout << fmt::format("{} {}: done\n", app, verb.substr(4));
      return exit_code::kOk;
    }
    if (parsed && isTerminal(*parsed)) {
      std::cerr << "error: " << c->body.value("error", state) << "\n";
      return exit_code::kCommandFailed;
    }
    std::this_thread::sleep_for(kCommandPoll);
  }
  return fail(makeError("timeout", "gave up waiting; the operation goes on on the server"));
}

}  // namespace

Result<ApiReply> callPatiently(const std::function<Result<ApiReply>()>& call, SteadyClock::time_point deadline,
                               const std::function<void(std::chrono::milliseconds)>& pause) {
  for (;;) {
    auto reply = call();
    if (reply || reply.error().code != "rate_limited" || SteadyClock::now() + kRateLimitedPause >= deadline)
      return reply;
    pause(kRateLimitedPause);
  }
}

std::int64_t logCursorNow(ApiClient& api, const std::string& app) {
  auto newest = api.call("GET", "/api/v1/apps/" + app + "/logs?tail=0");
  return newest ? std::max<std::int64_t>(0, cursorOf(newest->body, 0)) : 0;  // no app yet: no lines yet
}

int follow(const Options& o, ApiClient& api, const nlohmann::json& accepted, bool detach, std::int64_t log_cursor) {
  if (detach || o.json) {
    if (o.json)
      std::cout << accepted.dump(2) << "\n";
    else
      std::cout << str(accepted, "command_id") << "\n";
    return exit_code::kOk;
  }
  const std::string app = accepted.value("app", std::string());
  const std::string verb = accepted.value("verb", std::string());
  if (verb == "app.deploy") return followDeployment(api, app, accepted.value("deployment", 0), log_cursor);
  const std::string id = accepted.value("command_id", std::string());
  if (id.empty()) return exit_code::kOk;  // nothing had to run
  return followCommand(api, app, verb, id);
}

}  // namespace berth::cli::detail
