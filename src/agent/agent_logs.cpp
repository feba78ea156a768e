// Container logs on the I/O thread: one followLogs subscription per running
// container, buffered lines sent as LOG frames, and the shipped-line cursors.
#include "agent/agent_impl.hpp"

namespace berth::agent {

void Agent::Impl::syncFollowers(const std::vector<RunningContainer>& running) {
  if (!log_runtime) return;
  std::set<std::string> ids;
  for (const auto& c : running) {
    ids.insert(c.id);
    if (followers.count(c.id)) continue;
    // Resume after the last line read in this run, else after the last one shipped (also by an earlier
    // run: lines written while the agent was down still come), else from the first.
    std::optional<std::int64_t> seen;
    if (auto last = last_log_ms.find(c.id); last != last_log_ms.end()) seen = last->second;
    const std::int64_t since =
        logResumeMs(seen, log_cursors.of(c.id), first_container_sync && !had_log_cursor_file, started_ms);
    const std::uint64_t number = ++followers_started;
    followers[c.id] = Follower{number, nullptr};  // in place before a stream that ends at once can remove it
    auto subscription = log_runtime->followLogs(
        io.get_executor(), c.id, since,
        [this, c](std::vector<runtime::LogLine> lines) {
          for (auto& line : lines) {
            auto& last = last_log_ms[c.id];
            last = std::max(last, line.at_ms);
            pending_logs.push({c.app, c.id, c.deployment, c.replica, std::move(line)});  // bounded; drops count
          }
        },
        [this, id = c.id, number](const std::string& reason) {
          log::debug("log stream ended", {{"container", id}, {"reason", reason}});
          // Only this subscription's own entry: a stream stopped earlier may end after the
          // container was followed again.
          if (auto it = followers.find(id); it != followers.end() && it->second.number == number) followers.erase(it);
        });
    if (auto it = followers.find(c.id); it != followers.end() && it->second.number == number)
      it->second.subscription = std::move(subscription);
  }
  first_container_sync = false;
  for (auto it = followers.begin(); it != followers.end();) {
    if (ids.count(it->first)) {
      ++it;
      continue;
    }
    if (it->second.subscription) it->second.subscription->stop();
    it = followers.erase(it);
  }
}

// Sends buffered lines as LOG frames, one per app, at most kMaxLinesPerLogFrame each; an app
// whose lines were dropped is told how many (the server records an app event).
void Agent::Impl::flushLogs() {
  if (!current || current->closing()) return;
  auto dropped = pending_logs.takeDropped();
  while (!pending_logs.empty() || !dropped.empty()) {
    auto batch = pending_logs.takeBatch(kMaxLinesPerLogFrame);
    const std::string app = batch.empty() ? dropped.begin()->first : batch.front().app;
    nlohmann::json lines = nlohmann::json::array();
    for (const auto& l : batch) {
      lines.push_back({{"at", l.line.at_ms},
                       {"stream", l.line.stream},
                       {"text", l.line.text},
                       {"deployment", l.deployment},
                       {"replica", l.replica}});
      log_cursors.shipped(l.container, l.line.at_ms);
    }
    Envelope e = frame(FrameType::Log);
    e.data = {{"app", app}, {"lines", lines}};
    if (auto d = dropped.find(app); d != dropped.end()) {
      e.data["dropped"] = d->second;
      dropped.erase(d);
    }
    send(e);
  }
  if (log_cursors.dirty() && Steady::now() - log_cursors_saved_at >= kLogCursorSaveInterval) saveLogCursors();
}

void Agent::Impl::loadLogCursors() {
  auto text = pki::readFile(logCursorPath());
  if (!text) return;  // first run with cursors: followers start from the agent's start
  had_log_cursor_file = true;
  auto parsed = LogCursors::parse(*text);
  if (!parsed) {
    log::warn("log cursors unreadable; resuming containers from their first line", {{"error", parsed.error().message}});
    return;
  }
  log_cursors = std::move(*parsed);
}

void Agent::Impl::saveLogCursors() {
  log_cursors_saved_at = Steady::now();
  if (auto r = pki::writePrivateFile(logCursorPath(), log_cursors.serialize()); !r)
    log::warn("log cursors not saved", {{"error", r.error().message}});
}

}  // namespace berth::agent
