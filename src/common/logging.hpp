// Structured JSON logs on stderr: one object per line with time, level, msg and fields.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace berth::log {

enum class Level { Debug = 0, Info = 1, Warn = 2, Error = 3 };

void setLevel(Level level);
// Whether `level` would be written; lets hot paths skip building fields.
bool enabled(Level level);
// Parses "debug|info|warn|error"; nullopt-equivalent false when unknown.
bool parseLevel(const std::string& text, Level& out);
// Sets the "component" field stamped on every line of this process (e.g. "server").
void setComponent(const std::string& component);

void write(Level level, const std::string& message, const nlohmann::json& fields = nlohmann::json::object());
inline void debug(const std::string& m, const nlohmann::json& f = nlohmann::json::object()) {
  write(Level::Debug, m, f);
}
inline void info(const std::string& m, const nlohmann::json& f = nlohmann::json::object()) { write(Level::Info, m, f); }
inline void warn(const std::string& m, const nlohmann::json& f = nlohmann::json::object()) { write(Level::Warn, m, f); }
inline void error(const std::string& m, const nlohmann::json& f = nlohmann::json::object()) {
  write(Level::Error, m, f);
}

}  // namespace berth::log
