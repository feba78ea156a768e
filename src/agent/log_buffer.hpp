// The agent's container log lines on their way to the server. LogBuffer holds
// what has been read but not yet shipped, bounded by lines and by bytes: when
// full the oldest lines go and are counted per app, so the server can be told
// ("N log lines dropped") instead of the agent growing without bound while the
// session is down. LogCursors remembers, per container, the timestamp of the
// newest line shipped, saved in the state dir so a restarted agent resumes
// each container's log there (Docker still holds what was written meanwhile).
// Pure; the agent calls both from its I/O thread.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "runtime/container_runtime.hpp"

namespace berth::agent {

struct PendingLogLine {
  std::string app;
  std::string container;
  int deployment = 0;
  int replica = 0;
  runtime::LogLine line;
};

class LogBuffer {
 public:
  // What a buffered line costs beyond its text (strings, bookkeeping).
  static constexpr std::size_t kLineOverheadBytes = 96;
  LogBuffer(std::size_t max_lines, std::size_t max_bytes) : max_lines_(max_lines), max_bytes_(max_bytes) {}

  // Appends; drops (and counts) the oldest lines while over either bound.
  void push(PendingLogLine line);
  // The oldest app's next lines, at most `max`, oldest first (other apps' lines stay in place).
  std::vector<PendingLogLine> takeBatch(std::size_t max);
  // Lines dropped per app since the last call.
  std::map<std::string, std::uint64_t> takeDropped();
  bool empty() const { return lines_.empty(); }
  std::size_t size() const { return lines_.size(); }
  std::size_t bytes() const { return bytes_; }

 private:
  static std::size_t cost(const PendingLogLine& l) { return l.line.text.size() + l.app.size() + kLineOverheadBytes; }
  std::size_t max_lines_, max_bytes_;
  std::deque<PendingLogLine> lines_;
  std::size_t bytes_ = 0;
  std::map<std::string, std::uint64_t> dropped_;
};

class LogCursors {
 public:
  static constexpr std::size_t kMaxContainers = 4096;
  // Records that lines of `container` up to `at_ms` were shipped.
  void shipped(const std::string& container, std::int64_t at_ms);
  std::optional<std::int64_t> of(const std::string& container) const;
  bool dirty() const { return dirty_; }
  std::string serialize();  // clears dirty
  // The file's content; an unreadable one is an empty set (logged by the caller).
  static Result<LogCursors> parse(const std::string& text);

 private:
  std::map<std::string, std::int64_t> at_;
  bool dirty_ = false;
};

// Where a follower of a container starts (unix ms; 0 = its first line): just
// after the newest line this run has read, else just after the newest one
// shipped (by this or an earlier run), else from its first line (none was ever
// shipped) unless `first_sync_without_cursors` (the agent's first look with no
// cursor file: an agent from before cursors sent the older lines), then from
// `agent_started_ms`.
std::int64_t logResumeMs(const std::optional<std::int64_t>& seen, const std::optional<std::int64_t>& shipped,
                         bool first_sync_without_cursors, std::int64_t agent_started_ms);

}  // namespace berth::agent
