#include "agent/log_buffer.hpp"

#include <algorithm>

#include "common/json.hpp"

namespace berth::agent {

void LogBuffer::push(PendingLogLine line) {
  bytes_ += cost(line);
  lines_.push_back(std::move(line));
  while (!lines_.empty() && (lines_.size() > max_lines_ || bytes_ > max_bytes_)) {
    ++dropped_[lines_.front().app];
    bytes_ -= cost(lines_.front());
    lines_.pop_front();
  }
}

std::vector<PendingLogLine> LogBuffer::takeBatch(std::size_t max) {
  std::vector<PendingLogLine> out;
  if (lines_.empty()) return out;
  const std::string app = lines_.front().app;
  for (auto it = lines_.begin(); it != lines_.end() && out.size() < max;) {
    if (it->app != app) {
      ++it;
      continue;
    }
    bytes_ -= cost(*it);
    out.push_back(std::move(*it));
    it = lines_.erase(it);
  }
  return out;
}

std::map<std::string, std::uint64_t> LogBuffer::takeDropped() {
  std::map<std::string, std::uint64_t> out;
  out.swap(dropped_);
  return out;
}

void LogCursors::shipped(const std::string& container, std::int64_t at_ms) {
  auto& at = at_[container];
  if (at_ms <= at) return;
  at = at_ms;
  dirty_ = true;
  while (at_.size() > kMaxContainers) {  // forget the container shipped longest ago
    auto oldest = std::min_element(at_.begin(), at_.end(), [](const auto& a, const auto& b) { return a.second < b.second; });
    at_.erase(oldest);
  }
}

std::optional<std::int64_t> LogCursors::of(const std::string& container) const {
  auto it = at_.find(container);
  return it == at_.end() ? std::nullopt : std::optional<std::int64_t>(it->second);
}

std::string LogCursors::serialize() {
  dirty_ = false;
  return nlohmann::json{{"version", 1}, {"shipped_ms", at_}}.dump();
}

Result<LogCursors> LogCursors::parse(const std::string& text) {
  auto j = parseJsonOrDiscarded(text);
  if (!j.is_object() || !j.contains("shipped_ms") || !j["shipped_ms"].is_object())
    return makeError("bad_state", "log cursors: not {\"shipped_ms\": {container: ms}}");
  LogCursors out;
  for (const auto& [id, at] : j["shipped_ms"].items()) {
    if (!at.is_number_integer() || id.empty() || id.size() > 128) continue;
    out.at_[id] = at.get<std::int64_t>();
  }
  return out;
}

std::int64_t logResumeMs(const std::optional<std::int64_t>& seen, const std::optional<std::int64_t>& shipped,
                         bool first_sync_without_cursors, std::int64_t agent_started_ms) {
  if (seen) return *seen + 1;
  if (shipped) return *shipped + 1;
  return first_sync_without_cursors ? agent_started_ms : 0;
}

}  // namespace berth::agent
