#include "store/sqlite/sqlite_audit.hpp"

#include <string>

namespace berth::store {
namespace {
constexpr const char* kAuditColumns =
    "SELECT id, at, actor, action, target, outcome, request_id, org, source, detail, prev_hash, hash FROM audit";

AuditRecord auditRow(const Statement& s) {
  return AuditRecord{s.integer(0), s.integer(1), s.text(2), s.text(3),  s.text(4),  s.text(5),
                     s.text(6),    s.text(7),    s.text(8), s.text(9), s.text(10), s.text(11)};
}
}  // namespace

Result<void> sqliteAppendAudit(sqlite3* db, StatementSource& statements, const AuditRecord& r) {
  auto s = statements.query(
      "INSERT INTO audit (id, at, actor, action, target, outcome, request_id, org, source, detail, prev_hash, hash) "
      "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  s.bind(r.id).bind(r.at).bind(r.actor).bind(r.action).bind(r.target).bind(r.outcome).bind(r.request_id);
  s.bind(r.org).bind(r.source).bind(r.detail).bind(r.prev_hash).bind(r.hash);
  return stepDone(db, s, "append audit");
}

Result<std::vector<AuditRecord>> sqliteListAudit(sqlite3* db, StatementSource& statements, const AuditQuery& q) {
  // One statement text per shape of filter, so each is prepared once.
  std::string sql = std::string(kAuditColumns) + " WHERE 1";
  if (!q.org.empty()) sql += " AND org = ?";
  if (!q.actor.empty()) sql += " AND actor = ?";
  if (!q.target.empty()) sql += " AND target = ?";
  if (q.since_ms > 0) sql += " AND at >= ?";
  if (q.after_id) {
    sql += " AND id > ? ORDER BY id ASC LIMIT ?";
  } else if (q.before_id) {
    sql += " AND id < ? ORDER BY id DESC LIMIT ?";
  } else {
    sql += " ORDER BY id DESC LIMIT ?";
  }
  auto s = statements.query(sql);
  if (!q.org.empty()) s.bind(q.org);
  if (!q.actor.empty()) s.bind(q.actor);
  if (!q.target.empty()) s.bind(q.target);
  if (q.since_ms > 0) s.bind(q.since_ms);
  if (q.after_id)
    s.bind(*q.after_id);
  else if (q.before_id)
    s.bind(*q.before_id);
  s.bind(static_cast<std::int64_t>(q.limit));
  std::vector<AuditRecord> out;
  while (s.step() == SQLITE_ROW) out.push_back(auditRow(s));
  if (s.lastCode() != SQLITE_DONE) return dbError(db, "list audit");
  return out;
}

Result<AuditRecord> sqliteAuditHeadLink(sqlite3* db, StatementSource& statements) {
  auto s = statements.query("SELECT id, hash FROM audit ORDER BY id DESC LIMIT 1");
  AuditRecord head;
  if (s.step() == SQLITE_ROW) {
    head.id = s.integer(0);
    head.hash = s.text(1);
  }
  if (s.lastCode() != SQLITE_DONE && s.lastCode() != SQLITE_ROW) return dbError(db, "audit head");
  return head;
}

Result<AuditRecord> sqliteAuditHead(sqlite3* db, StatementSource& statements) {
  auto s = statements.query(std::string(kAuditColumns) + " ORDER BY id DESC LIMIT 1");
  AuditRecord head;
  if (s.step() == SQLITE_ROW) head = auditRow(s);
  if (s.lastCode() != SQLITE_DONE && s.lastCode() != SQLITE_ROW) return dbError(db, "audit head");
  return head;
}

}  // namespace berth::store
