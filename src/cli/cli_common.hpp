// Helpers the CLI's command groups share (cli.cpp defines them).
#pragma once

#include <CLI/CLI.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <map>
#include <string>
#include <vector>

#include "cli/api_client.hpp"
#include "common/result.hpp"

namespace berth::cli {

void addAppCommands(CLI::App& app, std::function<int()>& run);
// `berth app domain ...` under the `app` command (cli/domain_commands.cpp).
void addDomainCommands(CLI::App& app, std::function<int()>& run);
// `berth app source|plan|build|hook ...` under the `app` command (cli/source_commands.cpp).
void addSourceCommands(CLI::App& app, std::function<int()>& run);
// `berth app deploy NAME --git URL ...`: the flags, the body's "source", and the app's
// credentials (a token from the named variable, never argv) set before the deploy.
struct SourceFlags {
  std::string git, ref, dir, dockerfile, target, host_key, token_env, username;
  std::vector<std::string> build_args;
  bool rebuild = false;
};
void addSourceDeployFlags(CLI::App* deploy, SourceFlags& flags);
// Adds "source" to the deploy body when --git is given; "usage" errors name the flag.
Result<void> addSourceToBody(const SourceFlags& flags, nlohmann::json& body);
// The credentials and host key to PUT on the app's source first (null when none were given).
Result<nlohmann::json> sourceCredentialsBody(const SourceFlags& flags, const std::map<std::string, std::string>& env);
// `berth login|logout|whoami|key|org|user ...` (cli/access_commands.cpp).
void addAccessCommands(CLI::App& app, std::function<int()>& run);
// `berth org quota|policy ...` under the `org` command (cli/limit_commands.cpp).
void addLimitCommands(CLI::App& app, std::function<int()>& run);
// `berth audit ls|verify` (cli/audit_commands.cpp).
void addAuditCommands(CLI::App& app, std::function<int()>& run);
// `berth cmd send|ls|show|cancel`, fleet-wide commands included (cli/command_commands.cpp).
void addCommandCommands(CLI::App& app, std::function<int()>& run);

namespace detail {

struct Options {
  ClientSettings flags;
  bool json = false;
};

int exitCodeFor(const Error& error);
// Prints the error and returns its exit code.
int fail(const Error& error);
// Runs one API call and hands the body to `show` (or prints JSON with --json).
int request(const Options& o, const std::string& method, const std::string& target, const nlohmann::json& body,
            const std::function<void(const nlohmann::json&)>& show);
// A table cell: `j[key]` as text, "-" when absent, control characters shown as '?'.
std::string str(const nlohmann::json& j, const char* key);
// `text` with C0/C1 control characters and DEL as '?', so text from a node or
// an app cannot move the cursor or retitle the operator's terminal.
std::string printable(std::string text);
std::string ago(std::int64_t at_ms);
// One command as GET /commands/ID shows it.
void printCommand(const nlohmann::json& command);
// A table of domains as GET /apps/NAME/domains lists them.
void printDomains(const nlohmann::json& list);
// Waits on a 202 answer unless `detach` (cli/deploy_follow.cpp): an app.deploy to its end,
// printing its build's lines (log stream "build" after `log_cursor`), its pull's progress and
// its states, and on failure its reason (exit kCommandFailed); any other command to its end.
int follow(const Options& o, ApiClient& api, const nlohmann::json& accepted, bool detach, std::int64_t log_cursor = 0);
// One GET of a wait loop (`call`): answered 429 rate_limited (the key's rate spent by the
// loop's own polls or the user's other calls, e.g. several deploys followed at once with one
// key), it pauses `pause` and asks again while before `deadline`, instead of failing while the
// operation goes on on the server. Any other answer is returned as it is.
Result<ApiReply> callPatiently(const std::function<Result<ApiReply>()>& call,
                               std::chrono::steady_clock::time_point deadline,
                               const std::function<void(std::chrono::milliseconds)>& pause);
// The app's log cursor now (its newest line's); 0 when it has none or does not exist yet.
std::int64_t logCursorNow(ApiClient& api, const std::string& app);
// --server, --api-key, --ca-file, --json.
std::function<void(CLI::App*)> commonOptions(std::shared_ptr<Options> o);

}  // namespace detail
}  // namespace berth::cli
