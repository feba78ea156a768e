#include "store/sqlite/sqlite_batches.hpp"

namespace berth::store {
namespace {
constexpr const char* kBatchColumns =
    "id, org, actor, idempotency_key, selector, verb, args, ttl_s, node_count, created_at";
}  // namespace

Result<void> sqliteInsertCommandBatch(sqlite3* db, StatementSource& statements, const CommandBatch& b) {
  Statement s = statements.query(std::string("INSERT INTO command_batches (") + kBatchColumns +
                                 ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  if (!s.valid()) return dbError(db, "insert command batch");
  s.bind(b.id).bind(b.org).bind(b.actor).bind(b.idempotency_key).bind(b.selector).bind(b.verb).bind(b.args);
  s.bind(b.ttl_s).bind(b.node_count).bind(b.created_at);
  const int rc = s.step();
  if (rc == SQLITE_CONSTRAINT) return makeError("conflict", "insert command batch: " + s.errorMessage());
  if (rc != SQLITE_DONE) return dbError(db, "insert command batch");
  return Ok{};
}

Result<std::optional<CommandBatch>> sqliteGetCommandBatch(sqlite3* db, StatementSource& statements,
                                                          const std::string& id) {
  Statement s = statements.query(std::string("SELECT ") + kBatchColumns + " FROM command_batches WHERE id = ?");
  if (!s.valid()) return dbError(db, "read command batch");
  s.bind(id);
  if (s.step() != SQLITE_ROW) {
    if (s.lastCode() != SQLITE_DONE) return dbError(db, "read command batch");
    return std::optional<CommandBatch>();
  }
  CommandBatch b;
  b.id = s.text(0);
  b.org = s.text(1);
  b.actor = s.text(2);
  b.idempotency_key = s.text(3);
  b.selector = s.text(4);
  b.verb = s.text(5);
  b.args = s.json(6);
  b.ttl_s = static_cast<int>(s.integer(7));
  b.node_count = s.integer(8);
  b.created_at = s.integer(9);
  return std::optional<CommandBatch>(std::move(b));
}

Result<std::vector<Command>> sqliteListBatchCommands(sqlite3* db, StatementSource& statements,
                                                     const std::string& batch_id) {
  std::vector<Command> out;
  if (batch_id.empty()) return out;  // "" marks commands sent on their own
  Statement s = statements.query(std::string("SELECT ") + kCommandColumns +
                                 " FROM commands WHERE batch_id = ? ORDER BY node_id");
  if (!s.valid()) return dbError(db, "list batch commands");
  s.bind(batch_id);
  while (s.step() == SQLITE_ROW) out.push_back(readCommand(s));
  if (s.lastCode() != SQLITE_DONE) return dbError(db, "list batch commands");
  return out;
}

}  // namespace berth::store
