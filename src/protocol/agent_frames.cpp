#include "protocol/agent_frames.hpp"

#include <limits>

#include "protocol/envelope.hpp"

namespace berth::protocol {
namespace {

Error bad(const std::string& field, const std::string& rule) {
  return makeError(codes::kSchema, "field 'data." + field + "': " + rule);
}

// Reads an optional member of `obj` into `out` when present with the right type.
Result<void> readString(const nlohmann::json& obj, const std::string& prefix, const char* key, std::string& out,
                        bool required = false) {
  auto it = obj.find(key);
  if (it == obj.end()) return required ? Result<void>(bad(prefix + key, "is required")) : Result<void>(Ok{});
  if (!it->is_string()) return bad(prefix + key, "must be a string");
  out = it->get<std::string>();
  return Ok{};
}

template <typename Int>
Result<void> readInt(const nlohmann::json& obj, const std::string& prefix, const char* key, Int& out) {
  auto it = obj.find(key);
  if (it == obj.end()) return Ok{};
  if (!it->is_number_integer()) return bad(prefix + key, "must be an integer");
  const auto value = it->get<std::int64_t>();
  if (value < static_cast<std::int64_t>(std::numeric_limits<Int>::min()) ||
      (value > 0 && static_cast<std::uint64_t>(value) > static_cast<std::uint64_t>(std::numeric_limits<Int>::max())))
    return bad(prefix + key, "is out of range");
  out = static_cast<Int>(value);
  return Ok{};
}

}  // namespace

Result<AppEventFrame> parseAppEvent(const nlohmann::json& data) {
  if (!data.is_object()) return bad("", "must be an object");
  AppEventFrame e;
  for (auto r : {readString(data, "", "app", e.app, true), readString(data, "", "state", e.state, true),
                 readString(data, "", "reason", e.reason), readString(data, "", "derived", e.derived),
                 readInt(data, "", "deployment", e.deployment)}) {
    if (!r) return r.error();
  }
  return e;
}

Result<LogFrame> parseLogFrame(const nlohmann::json& data) {
  if (!data.is_object()) return bad("", "must be an object");
  LogFrame f;
  if (auto r = readString(data, "", "app", f.app, true); !r) return r.error();
  if (auto r = readInt(data, "", "dropped", f.dropped); !r) return r.error();
  auto lines = data.find("lines");
  if (lines == data.end()) return f;
  if (!lines->is_array()) return bad("lines", "must be an array");
  f.lines.reserve(lines->size());
  for (std::size_t i = 0; i < lines->size(); ++i) {
    const auto& l = (*lines)[i];
    const std::string prefix = "lines[" + std::to_string(i) + "].";
    if (!l.is_object()) return bad("lines[" + std::to_string(i) + "]", "must be an object");
    LogLine line;
    for (auto r : {readInt(l, prefix, "at", line.at), readString(l, prefix, "stream", line.stream),
                   readString(l, prefix, "text", line.text), readInt(l, prefix, "deployment", line.deployment),
                   readInt(l, prefix, "replica", line.replica)}) {
      if (!r) return r.error();
    }
    f.lines.push_back(std::move(line));
  }
  return f;
}

Result<ResultFrame> parseResultFrame(const nlohmann::json& data) {
  if (!data.is_object()) return bad("", "must be an object");
  ResultFrame r;
  std::string status = "succeeded";
  for (auto read : {readString(data, "", "status", status), readInt(data, "", "exit_code", r.exit_code),
                    readString(data, "", "stdout", r.stdout_text), readString(data, "", "stderr", r.stderr_text)}) {
    if (!read) return read.error();
  }
  if (status != "succeeded" && status != "failed") return bad("status", "must be succeeded or failed");
  r.succeeded = status == "succeeded";
  if (auto out = data.find("output"); out != data.end()) {
    if (!out->is_object()) return bad("output", "must be an object");
    r.output = *out;
  }
  return r;
}

std::string eventKind(const nlohmann::json& data) {
  auto it = data.find("kind");
  return it != data.end() && it->is_string() ? it->get<std::string>() : std::string();
}

}  // namespace berth::protocol
