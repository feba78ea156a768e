// The client half of the CLI: `berth status|node|token|cmd ...` against the
// REST API. Exit codes (docs/cli.md): 0 ok, 1 server error, 2 usage,
// 3 not found, 4 unauthorised/refused, 5 conflict or queue full,
// 6 server unreachable, 7 the command ran and failed (or expired).
#pragma once

#include <CLI/CLI.hpp>
#include <functional>

namespace berth::cli {

namespace exit_code {
inline constexpr int kOk = 0;
inline constexpr int kServerError = 1;
inline constexpr int kUsage = 2;
inline constexpr int kNotFound = 3;
inline constexpr int kUnauthorized = 4;
inline constexpr int kConflict = 5;
inline constexpr int kUnreachable = 6;
inline constexpr int kCommandFailed = 7;
}  // namespace exit_code

// Adds the client subcommands to `app`. Each sets `run` to its action when
// parsed; the action returns the exit code.
void addClientCommands(CLI::App& app, std::function<int()>& run);

}  // namespace berth::cli
