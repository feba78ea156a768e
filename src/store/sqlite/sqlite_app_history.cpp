#include "store/sqlite/sqlite_app_history.hpp"

#include <limits>

namespace berth::store {
namespace {
// Rows of `SELECT seq, app, deployment, replica, at, stream, text`.
Result<std::vector<LogRecord>> readLogs(sqlite3* db, Statement& s) {
  std::vector<LogRecord> out;
  while (s.step() == SQLITE_ROW) {
    out.push_back(LogRecord{s.integer(0), s.text(1), static_cast<int>(s.integer(2)), static_cast<int>(s.integer(3)),
                            s.integer(4), s.text(5), s.text(6)});
  }
  if (s.lastCode() != SQLITE_DONE) return dbError(db, "list logs");
  return out;
}
}  // namespace

Result<void> sqliteUpsertDeployment(sqlite3* db, StatementSource& statements, const Deployment& d) {
  auto s = statements.query(
      std::string("INSERT INTO deployments (") + kDeploymentColumns +
      ") VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT (app, number) DO UPDATE SET "
      "spec=excluded.spec, sealed_secrets=excluded.sealed_secrets, image=excluded.image, state=excluded.state, "
      "reason=excluded.reason, command_id=excluded.command_id, updated_at=excluded.updated_at, "
      "deployment_id=excluded.deployment_id, source_ref=excluded.source_ref, "
      "source_commit=excluded.source_commit, built_image=excluded.built_image, build_plan=excluded.build_plan");
  s.bind(d.app).bind(d.number).bind(d.spec).bind(d.sealed_secrets).bind(d.image).bind(deploymentStateName(d.state)).bind(d.reason);
  s.bind(d.command_id).bind(d.source).bind(d.created_at).bind(d.updated_at).bind(d.deployment_id);
  s.bind(d.source_ref).bind(d.source_commit).bind(d.built_image).bind(d.build_plan);
  return stepDone(db, s, "upsert deployment");
}

Result<std::optional<Deployment>> sqliteGetDeployment(sqlite3* db, StatementSource& statements, const std::string& app,
                                                     int number) {
  auto s = statements.query(std::string("SELECT ") + kDeploymentColumns + " FROM deployments WHERE app=? AND number=?");
  s.bind(app).bind(number);
  if (s.step() != SQLITE_ROW) {
    if (s.lastCode() != SQLITE_DONE) return dbError(db, "read deployment");
    return std::optional<Deployment>();
  }
  return std::optional<Deployment>(readDeployment(s));
}

Result<std::vector<Deployment>> sqliteListDeployments(sqlite3* db, StatementSource& statements, const std::string& app) {
  auto s = statements.query(std::string("SELECT ") + kDeploymentColumns + " FROM deployments WHERE app=? ORDER BY number DESC");
  s.bind(app);
  std::vector<Deployment> out;
  while (s.step() == SQLITE_ROW) out.push_back(readDeployment(s));
  if (s.lastCode() != SQLITE_DONE) return dbError(db, "list");
  return out;
}

Result<void> sqliteAppendAppEvent(sqlite3* db, StatementSource& statements, const AppEvent& e) {
  auto s = statements.query("INSERT INTO app_events (app, deployment, at, state, reason) VALUES (?,?,?,?,?)");
  s.bind(e.app).bind(e.deployment).bind(e.at).bind(e.state).bind(e.reason);
  return stepDone(db, s, "append app event");
}

Result<std::vector<AppEvent>> sqliteListAppEvents(sqlite3* db, StatementSource& statements, const std::string& app,
                                                std::size_t limit) {
  auto s = statements.query(
      "SELECT id, app, deployment, at, state, reason FROM (SELECT * FROM app_events WHERE app=? ORDER BY id DESC "
      "LIMIT ?) ORDER BY id");
  s.bind(app).bind(static_cast<std::int64_t>(limit));
  std::vector<AppEvent> out;
  while (s.step() == SQLITE_ROW) {
    out.push_back(AppEvent{s.integer(0), s.text(1), static_cast<int>(s.integer(2)), s.integer(3), s.text(4),
                           s.text(5)});
  }
  if (s.lastCode() != SQLITE_DONE) return dbError(db, "list");
  return out;
}

Result<void> sqliteInsertLogs(sqlite3* db, StatementSource& statements, std::vector<LogRecord>& records) {
for (auto& r : records) {
  auto s = statements.query("INSERT INTO app_logs (app, deployment, replica, at, stream, text) VALUES (?,?,?,?,?,?)");
  s.bind(r.app).bind(r.deployment).bind(r.replica).bind(r.at).bind(r.stream).bind(r.text);
  if (auto d = stepDone(db, s, "append log"); !d) return d;
  r.seq = sqlite3_last_insert_rowid(db);
}
return Ok{};
}

Result<std::vector<LogRecord>> sqliteListLogs(sqlite3* db, StatementSource& statements, const std::string& app,
                                            std::int64_t after_seq, std::int64_t since_ms, std::size_t limit) {
  auto s = statements.query(
      "SELECT seq, app, deployment, replica, at, stream, text FROM app_logs WHERE app=? AND seq>? AND at>=? "
      "ORDER BY seq LIMIT ?");
  s.bind(app).bind(after_seq).bind(since_ms).bind(static_cast<std::int64_t>(limit));
  return readLogs(db, s);
}

Result<std::vector<LogRecord>> sqliteTailLogs(sqlite3* db, StatementSource& statements, const std::string& app,
                                            std::int64_t since_ms, std::size_t tail) {
  auto s = statements.query(
      "SELECT seq, app, deployment, replica, at, stream, text FROM (SELECT * FROM app_logs WHERE app=? AND at>=? "
      "ORDER BY seq DESC LIMIT ?) ORDER BY seq");
  s.bind(app).bind(since_ms).bind(static_cast<std::int64_t>(tail));
  return readLogs(db, s);
}

Result<std::int64_t> sqlitePruneLogs(sqlite3* db, StatementSource& statements, std::int64_t min_at_ms,
                                     std::int64_t max_bytes_per_app) {
  std::int64_t removed = 0;
  auto old = statements.query("DELETE FROM app_logs WHERE at<?");
  old.bind(min_at_ms);
  if (auto d = stepDone(db, old, "prune logs by age"); !d) return d.error();
  removed += sqlite3_changes(db);
  // Per app: the seq below which the newest max_bytes_per_app of text begins.
  auto cut = statements.query(
      "SELECT app, (SELECT MIN(seq) FROM (SELECT seq, SUM(LENGTH(CAST(text AS BLOB)) + ?) OVER (ORDER BY seq DESC) "
      "AS total "
      "FROM app_logs l WHERE l.app=a.app) WHERE total<=?) FROM (SELECT DISTINCT app FROM app_logs) a");
  cut.bind(kLogRowOverheadBytes).bind(max_bytes_per_app);
  std::vector<std::pair<std::string, std::int64_t>> cuts;
  while (cut.step() == SQLITE_ROW) cuts.emplace_back(cut.text(0), cut.integer(1));
  for (const auto& [app, firstKept] : cuts) {
    auto del = statements.query("DELETE FROM app_logs WHERE app=? AND seq<?");
    del.bind(app).bind(firstKept == 0 ? std::numeric_limits<std::int64_t>::max() : firstKept);
    if (auto d = stepDone(db, del, "prune logs by size"); !d) return d.error();
    removed += sqlite3_changes(db);
  }
  return removed;
}

}  // namespace berth::store
