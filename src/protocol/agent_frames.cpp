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

bool hasControlCharacter(const std::string& text) {
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x20 || c == 0x7f) return true;
    // C1 controls (U+0080..U+009F, e.g. the one-byte CSI) in UTF-8.
    if (c == 0xc2 && i + 1 < text.size() && (static_cast<unsigned char>(text[i + 1]) & 0xe0) == 0x80) return true;
  }
  return false;
}

Result<void> checkText(const std::string& field, const std::string& text, std::size_t max) {
  if (text.size() > max) return bad(field, "must be at most " + std::to_string(max) + " characters");
  if (hasControlCharacter(text)) return bad(field, "must not contain control characters");
  return Ok{};
}

Result<void> readCount(const nlohmann::json& obj, const std::string& prefix, const char* key, std::int64_t& out) {
  if (auto r = readInt(obj, prefix, key, out); !r) return r;
  if (out < 0) return bad(prefix + key, "must not be negative");
  return Ok{};
}

Result<void> readBounded(const nlohmann::json& obj, const std::string& prefix, const char* key, std::string& out,
                         std::size_t max) {
  if (auto r = readString(obj, prefix, key, out); !r) return r;
  if (out.size() > max) return bad(prefix + key, "must be at most " + std::to_string(max) + " characters");
  return Ok{};
}

Result<nlohmann::json> parseProgress(const nlohmann::json& p) {
  if (!p.is_object()) return bad("progress", "must be an object");
  nlohmann::json layers = nlohmann::json::array();
  if (auto it = p.find("layers"); it != p.end()) {
    if (!it->is_array()) return bad("progress.layers", "must be an array");
    if (it->size() > kMaxProgressLayers)
      return bad("progress.layers", "must hold at most " + std::to_string(kMaxProgressLayers) + " layers");
    for (std::size_t i = 0; i < it->size(); ++i) {
      const auto& l = (*it)[i];
      const std::string prefix = "progress.layers[" + std::to_string(i) + "].";
      if (!l.is_object()) return bad("progress.layers[" + std::to_string(i) + "]", "must be an object");
      std::string id, state;
      std::int64_t current = 0, total = 0;
      for (auto r : {readBounded(l, prefix, "id", id, kMaxProgressLayerId),
                     readBounded(l, prefix, "state", state, kMaxProgressText), readCount(l, prefix, "current", current),
                     readCount(l, prefix, "total", total)}) {
        if (!r) return r.error();
      }
      layers.push_back({{"id", id}, {"state", state}, {"current", current}, {"total", total}});
    }
  }
  std::int64_t done = 0, current = 0, total = 0;
  std::string summary;
  for (auto r : {readCount(p, "progress.", "layers_done", done), readCount(p, "progress.", "bytes_current", current),
                 readCount(p, "progress.", "bytes_total", total),
                 readBounded(p, "progress.", "summary", summary, kMaxProgressText)}) {
    if (!r) return r.error();
  }
  return nlohmann::json{{"layers", layers},   {"layers_done", done}, {"bytes_current", current},
                        {"bytes_total", total}, {"summary", summary}};
}

}  // namespace

Result<void> checkHelloText(const nlohmann::json& data) {
  if (!data.is_object()) return bad("", "must be an object");
  for (auto [key, max] : {std::pair<const char*, std::size_t>{"hostname", 253}, {"version", 128}, {"site", 128}}) {
    std::string text;
    if (auto r = readString(data, "", key, text); !r) return r;
    if (auto r = checkText(key, text, max); !r) return r;
  }
  auto labels = data.find("labels");
  if (labels == data.end()) return Ok{};
  if (!labels->is_object()) return bad("labels", "must be an object");
  if (labels->size() > 64) return bad("labels", "must hold at most 64 labels");
  for (const auto& [key, value] : labels->items()) {
    if (auto r = checkText("labels", key, 63); !r) return r;
    if (!value.is_string()) return bad("labels." + key, "must be a string");
    if (auto r = checkText("labels." + key, value.get<std::string>(), 128); !r) return r;
  }
  return Ok{};
}

Result<AppEventFrame> parseAppEvent(const nlohmann::json& data) {
  if (!data.is_object()) return bad("", "must be an object");
  AppEventFrame e;
  for (auto r : {readString(data, "", "app", e.app, true), readString(data, "", "state", e.state, true),
                 readString(data, "", "reason", e.reason), readString(data, "", "derived", e.derived),
                 readInt(data, "", "deployment", e.deployment), readInt(data, "", "rolled_back_to", e.rolled_back_to)}) {
    if (!r) return r.error();
  }
  if (auto p = data.find("progress"); p != data.end() && !p->is_null()) {
    auto progress = parseProgress(*p);
    if (!progress) return progress.error();
    e.progress = std::move(*progress);
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
