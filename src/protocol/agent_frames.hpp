// The payloads an agent sends about apps, as typed values: one pure function
// per frame turns `data` into a struct or an error naming the field, so no
// handler reads untyped JSON (where json::value throws on a wrong type).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <variant>
#include <vector>

#include "common/result.hpp"

namespace berth::protocol {

// EVENT {kind: "app", app, deployment, state, reason, derived?, rolled_back_to?, progress?}
struct AppEventFrame {
  std::string app;
  int deployment = 0;
  std::string state;
  std::string reason;
  std::string derived;  // runtime_reachable: what the agent found running
  int rolled_back_to = 0;  // rolled_back: the deployment the node switched back to
  // pull_progress: {layers: [{id, state, current, total}], layers_done, bytes_current, bytes_total,
  // summary}, rebuilt from the checked fields only (unknown keys dropped); null when absent.
  nlohmann::json progress;
};

inline constexpr std::size_t kMaxProgressLayers = 256;  // Docker stops at 127 layers an image
inline constexpr std::size_t kMaxProgressLayerId = 128;
inline constexpr std::size_t kMaxProgressText = 256;

struct LogLine {
  std::int64_t at = 0;
  std::string stream = "stdout";
  std::string text;
  int deployment = 0;
  int replica = 0;
};

// LOG {app, lines: [{at, stream, text, deployment, replica}], dropped?}
struct LogFrame {
  std::string app;
  std::vector<LogLine> lines;
  std::uint64_t dropped = 0;
};

using AppFrame = std::variant<AppEventFrame, LogFrame>;

// RESULT {status, exit_code, output, stdout?, stderr?, replayed?}
struct ResultFrame {
  bool succeeded = true;
  int exit_code = 0;
  nlohmann::json output = nlohmann::json::object();
  std::string stdout_text;
  std::string stderr_text;
};

// Errors: "schema_violation" naming the field, e.g. "field 'data.lines[3].at': must be an integer".
// An event's `progress` is bounded (kMaxProgressLayers layers, ids and text of bounded length,
// byte counts non-negative integers); its text may still hold anything a node sends, so
// whoever prints it escapes control characters.
Result<AppEventFrame> parseAppEvent(const nlohmann::json& data);
Result<LogFrame> parseLogFrame(const nlohmann::json& data);
Result<ResultFrame> parseResultFrame(const nlohmann::json& data);
// HELLO's text an operator reads (`berth node ls`): hostname (≤ 253), version
// and site (≤ 128) strings, labels an object of at most 64 string values
// (keys ≤ 63, values ≤ 128); none may hold a control character (a terminal
// escape from a node would otherwise reach the operator's screen).
Result<void> checkHelloText(const nlohmann::json& data);
// EVENT's `kind`, "" when absent or not a string.
std::string eventKind(const nlohmann::json& data);

}  // namespace berth::protocol
