#include "common/logging.hpp"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <mutex>

namespace berth::log {
namespace {
std::atomic<int> gLevel{static_cast<int>(Level::Info)};
std::mutex gMutex;
std::string gComponent;  // guarded by gMutex

const char* levelName(Level level) {
  switch (level) {
    case Level::Debug:
      return "debug";
    case Level::Info:
      return "info";
    case Level::Warn:
      return "warn";
    case Level::Error:
      return "error";
  }
  return "info";
}
}  // namespace

void setLevel(Level level) { gLevel = static_cast<int>(level); }
bool enabled(Level level) { return static_cast<int>(level) >= gLevel.load(); }

bool parseLevel(const std::string& text, Level& out) {
  for (Level l : {Level::Debug, Level::Info, Level::Warn, Level::Error}) {
    if (text == levelName(l)) {
      out = l;
      return true;
    }
  }
  return false;
}

void setComponent(const std::string& component) {
  std::lock_guard lock(gMutex);
  gComponent = component;
}

void write(Level level, const std::string& message, const nlohmann::json& fields) {
  if (static_cast<int>(level) < gLevel.load()) return;
  nlohmann::json line = fields.is_object() ? fields : nlohmann::json::object();
  const auto now = std::chrono::system_clock::now();
  line["ts"] = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  line["level"] = levelName(level);
  line["msg"] = message;
  std::lock_guard lock(gMutex);
  if (!gComponent.empty()) line["component"] = gComponent;
  const std::string text = line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  std::fwrite(text.data(), 1, text.size(), stderr);
}

}  // namespace berth::log
