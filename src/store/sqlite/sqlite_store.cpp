// SQLite implementation of store::Store. WAL mode with synchronous=NORMAL:
// a committed row survives a killed process (the WAL is written before the
// call returns); only an OS crash may lose the last transactions.
#include <sqlite3.h>

#include <functional>
#include <set>
#include <unordered_map>

#include "store/store.hpp"

namespace berth::store {
namespace {

constexpr const char* kSchema = R"SQL(
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS api_keys (id TEXT PRIMARY KEY, name TEXT NOT NULL, secret_hash TEXT UNIQUE NOT NULL,
  role TEXT NOT NULL, created_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS join_tokens (id TEXT PRIMARY KEY, secret_hash TEXT UNIQUE NOT NULL,
  description TEXT NOT NULL, created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL,
  used_at INTEGER NOT NULL DEFAULT 0, used_by_node TEXT NOT NULL DEFAULT '');
CREATE TABLE IF NOT EXISTS nodes (id TEXT PRIMARY KEY, hostname TEXT NOT NULL, site TEXT NOT NULL,
  labels TEXT NOT NULL, version TEXT NOT NULL, capabilities TEXT NOT NULL, verbs TEXT NOT NULL,
  capacity TEXT NOT NULL, status TEXT NOT NULL, cert_serial TEXT NOT NULL, cert_not_after INTEGER NOT NULL,
  created_at INTEGER NOT NULL, last_seen_at INTEGER NOT NULL, session_id TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS commands (id TEXT PRIMARY KEY, node_id TEXT NOT NULL, correlation_id TEXT NOT NULL,
  verb TEXT NOT NULL, args TEXT NOT NULL, state TEXT NOT NULL, created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL, dispatched_at INTEGER NOT NULL, finished_at INTEGER NOT NULL,
  attempts INTEGER NOT NULL, exit_code INTEGER NOT NULL, result TEXT NOT NULL, stdout TEXT NOT NULL,
  stderr TEXT NOT NULL, error TEXT NOT NULL, UNIQUE (node_id, correlation_id));
CREATE INDEX IF NOT EXISTS commands_open ON commands (state, created_at);
CREATE INDEX IF NOT EXISTS commands_node ON commands (node_id, created_at);
CREATE TABLE IF NOT EXISTS telemetry (node_id TEXT NOT NULL, at INTEGER NOT NULL, data TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS telemetry_node ON telemetry (node_id, at);
CREATE TABLE IF NOT EXISTS audit (id INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL,
  actor TEXT NOT NULL, action TEXT NOT NULL, target TEXT NOT NULL, outcome TEXT NOT NULL,
  request_id TEXT NOT NULL);
)SQL";

// A cached prepared statement in use: binds by position, steps, and resets
// itself for the next user on scope exit.
class Statement {
 public:
  Statement(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  ~Statement() {
    if (stmt_) {
      sqlite3_reset(stmt_);
      sqlite3_clear_bindings(stmt_);
    }
  }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  bool valid() const { return stmt_ != nullptr; }
  Statement& bind(const std::string& v) {
    sqlite3_bind_text(stmt_, ++index_, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Statement& bind(std::int64_t v) {
    sqlite3_bind_int64(stmt_, ++index_, v);
    return *this;
  }
  Statement& bind(int v) { return bind(static_cast<std::int64_t>(v)); }
  Statement& bind(const nlohmann::json& v) { return bind(v.dump()); }

  int step() { return stmt_ ? sqlite3_step(stmt_) : SQLITE_ERROR; }
  std::string text(int col) const {
    auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col));
    return p ? std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(stmt_, col))) : std::string();
  }
  std::int64_t integer(int col) const { return sqlite3_column_int64(stmt_, col); }
  nlohmann::json json(int col) const {
    auto parsed = nlohmann::json::parse(text(col), nullptr, false);
    return parsed.is_discarded() ? nlohmann::json() : parsed;
  }
  std::string errorMessage() const { return sqlite3_errmsg(db_); }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_;
  int index_ = 0;
};

Error dbError(sqlite3* db, const std::string& what) {
  return makeError("store_error", what + ": " + sqlite3_errmsg(db));
}

constexpr const char* kCommandColumns =
    "id, node_id, correlation_id, verb, args, state, created_at, expires_at, dispatched_at, finished_at, "
    "attempts, exit_code, result, stdout, stderr, error";
constexpr const char* kNodeColumns =
    "id, hostname, site, labels, version, capabilities, verbs, capacity, status, cert_serial, cert_not_after, "
    "created_at, last_seen_at, session_id";

Command readCommand(const Statement& s) {
  Command c;
  c.id = s.text(0);
  c.node_id = s.text(1);
  c.correlation_id = s.text(2);
  c.verb = s.text(3);
  c.args = s.json(4);
  c.state = parseCommandState(s.text(5)).value_or(CommandState::Failed);
  c.created_at = s.integer(6);
  c.expires_at = s.integer(7);
  c.dispatched_at = s.integer(8);
  c.finished_at = s.integer(9);
  c.attempts = static_cast<int>(s.integer(10));
  c.exit_code = static_cast<int>(s.integer(11));
  c.result = s.json(12);
  c.stdout_text = s.text(13);
  c.stderr_text = s.text(14);
  c.error = s.text(15);
  return c;
}

Node readNode(const Statement& s) {
  Node n;
  n.id = s.text(0);
  n.hostname = s.text(1);
  n.site = s.text(2);
  n.labels = s.json(3);
  n.version = s.text(4);
  n.capabilities = s.json(5);
  n.verbs = s.json(6);
  n.capacity = s.json(7);
  n.status = parseNodeStatus(s.text(8)).value_or(NodeStatus::Unreachable);
  n.cert_serial = s.text(9);
  n.cert_not_after = s.integer(10);
  n.created_at = s.integer(11);
  n.last_seen_at = s.integer(12);
  n.session_id = s.text(13);
  return n;
}

class SqliteStore final : public Store {
 public:
  explicit SqliteStore(sqlite3* db) : db_(db) {}
  ~SqliteStore() override {
    if (batch_open_) (void)commit();  // a batch nobody flushed is still work that was accepted
    for (auto& [sql, stmt] : statements_) sqlite3_finalize(stmt);
    sqlite3_close(db_);
  }

  Result<void> transaction(const std::function<Result<void>()>& body) override {
    if (depth_ == 0 && !batch_open_) {
      if (sqlite3_exec(db_, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) != SQLITE_OK) return dbError(db_, "begin");
      if (on_batch_open_) {
        batch_open_ = true;
        on_batch_open_();
      }
    }
    const bool outermost = depth_ == 0 && !batch_open_;
    const std::string savepoint = "sp" + std::to_string(depth_);
    if (!outermost) sqlite3_exec(db_, ("SAVEPOINT " + savepoint).c_str(), nullptr, nullptr, nullptr);
    ++depth_;
    auto result = body();
    --depth_;
    if (!outermost) {
      if (!result) sqlite3_exec(db_, ("ROLLBACK TO " + savepoint).c_str(), nullptr, nullptr, nullptr);
      sqlite3_exec(db_, ("RELEASE " + savepoint).c_str(), nullptr, nullptr, nullptr);
      return result;
    }
    if (!result) {
      sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
      return result;
    }
    return commit();
  }

  void enableGroupCommit(std::function<void()> on_open) override { on_batch_open_ = std::move(on_open); }

  Result<void> flush() override {
    if (!batch_open_) return Ok{};
    batch_open_ = false;
    return commit();
  }

  bool batchOpen() const override { return batch_open_; }

  Result<std::optional<std::string>> getSetting(const std::string& key) override {
    Statement s = query("SELECT value FROM settings WHERE key = ?");
    s.bind(key);
    if (s.step() == SQLITE_ROW) return std::optional<std::string>(s.text(0));
    return std::optional<std::string>();
  }

  Result<void> putSetting(const std::string& key, const std::string& value) override {
    Statement s =
        query("INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value");
    s.bind(key).bind(value);
    return done(s, "put setting");
  }

  Result<void> insertApiKey(const ApiKey& k) override {
    Statement s = query("INSERT INTO api_keys (id, name, secret_hash, role, created_at) VALUES (?, ?, ?, ?, ?)");
    s.bind(k.id).bind(k.name).bind(k.secret_hash).bind(k.role).bind(k.created_at);
    return done(s, "insert api key");
  }

  Result<std::optional<ApiKey>> findApiKey(const std::string& secret_hash) override {
    Statement s = query("SELECT id, name, secret_hash, role, created_at FROM api_keys WHERE secret_hash = ?");
    s.bind(secret_hash);
    if (s.step() != SQLITE_ROW) return std::optional<ApiKey>();
    return std::optional<ApiKey>(ApiKey{s.text(0), s.text(1), s.text(2), s.text(3), s.integer(4)});
  }

  Result<void> insertJoinToken(const JoinToken& t) override {
    Statement s =
        query("INSERT INTO join_tokens (id, secret_hash, description, created_at, expires_at) VALUES (?, ?, ?, ?, ?)");
    s.bind(t.id).bind(t.secret_hash).bind(t.description).bind(t.created_at).bind(t.expires_at);
    return done(s, "insert join token");
  }

  Result<JoinToken> consumeJoinToken(const std::string& secret_hash, const std::string& node_id,
                                     std::int64_t now_ms) override {
    Statement s = query(
        "SELECT id, description, created_at, expires_at, used_at, used_by_node FROM join_tokens WHERE secret_hash = ?");
    s.bind(secret_hash);
    if (s.step() != SQLITE_ROW) return makeError("token_unknown", "join token is not known to this server");
    JoinToken t{s.text(0), secret_hash, s.text(1), s.integer(2), s.integer(3), s.integer(4), s.text(5)};
    if (t.used_at != 0) return makeError("token_used", "join token was already used by node " + t.used_by_node);
    if (t.expires_at <= now_ms) return makeError("token_expired", "join token has expired");
    // The used_at = 0 guard makes the claim atomic even if two enrolments race.
    Statement claim = query("UPDATE join_tokens SET used_at = ?, used_by_node = ? WHERE id = ? AND used_at = 0");
    claim.bind(now_ms).bind(node_id).bind(t.id);
    if (claim.step() != SQLITE_DONE) return dbError(db_, "consume join token");
    if (sqlite3_changes(db_) != 1) return makeError("token_used", "join token was already used");
    t.used_at = now_ms;
    t.used_by_node = node_id;
    return t;
  }

  Result<void> upsertNode(const Node& n) override {
    Statement s = query(
        "INSERT OR REPLACE INTO nodes (id, hostname, site, labels, version, capabilities, verbs, capacity, "
        "status, cert_serial, cert_not_after, created_at, last_seen_at, session_id) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    s.bind(n.id)
        .bind(n.hostname)
        .bind(n.site)
        .bind(n.labels)
        .bind(n.version)
        .bind(n.capabilities)
        .bind(n.verbs)
        .bind(n.capacity)
        .bind(nodeStatusName(n.status))
        .bind(n.cert_serial)
        .bind(n.cert_not_after)
        .bind(n.created_at)
        .bind(n.last_seen_at)
        .bind(n.session_id);
    return done(s, "upsert node");
  }

  Result<std::optional<Node>> getNode(const std::string& id) override {
    Statement s = query((std::string("SELECT ") + kNodeColumns + " FROM nodes WHERE id = ?"));
    s.bind(id);
    if (s.step() != SQLITE_ROW) return std::optional<Node>();
    return std::optional<Node>(readNode(s));
  }

  Result<std::vector<Node>> listNodes() override {
    Statement s = query((std::string("SELECT ") + kNodeColumns + " FROM nodes ORDER BY created_at, id"));
    std::vector<Node> out;
    while (s.step() == SQLITE_ROW) out.push_back(readNode(s));
    return out;
  }

  Result<void> insertCommand(const Command& c) override {
    Statement s = query((std::string("INSERT INTO commands (") + kCommandColumns +
                         ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"));
    bindCommand(s, c);
    return done(s, "insert command");
  }

  Result<void> updateCommand(const Command& c) override {
    Statement s = query(
        "UPDATE commands SET state = ?, dispatched_at = ?, finished_at = ?, attempts = ?, exit_code = ?, "
        "result = ?, stdout = ?, stderr = ?, error = ? WHERE id = ?");
    s.bind(commandStateName(c.state));
    bindProgress(s, c);
    s.bind(c.id);
    return done(s, "update command");
  }

  Result<std::optional<Command>> getCommand(const std::string& id) override {
    Statement s = query((std::string("SELECT ") + kCommandColumns + " FROM commands WHERE id = ?"));
    s.bind(id);
    if (s.step() != SQLITE_ROW) return std::optional<Command>();
    return std::optional<Command>(readCommand(s));
  }

  Result<std::optional<Command>> findCommandByCorrelation(const std::string& node_id,
                                                          const std::string& correlation_id) override {
    Statement s =
        query((std::string("SELECT ") + kCommandColumns + " FROM commands WHERE node_id = ? AND correlation_id = ?"));
    s.bind(node_id).bind(correlation_id);
    if (s.step() != SQLITE_ROW) return std::optional<Command>();
    return std::optional<Command>(readCommand(s));
  }

  Result<std::vector<Command>> listCommands(const std::string& node_id, std::size_t limit) override {
    std::string sql = std::string("SELECT ") + kCommandColumns + " FROM commands " +
                      (node_id.empty() ? "" : "WHERE node_id = ? ") + "ORDER BY created_at DESC, id LIMIT ?";
    Statement s = query(sql);
    if (!node_id.empty()) s.bind(node_id);
    s.bind(static_cast<std::int64_t>(limit));
    std::vector<Command> out;
    while (s.step() == SQLITE_ROW) out.push_back(readCommand(s));
    return out;
  }

  Result<std::vector<Command>> listOpenCommands() override {
    Statement s = query((std::string("SELECT ") + kCommandColumns +
                         " FROM commands WHERE state IN ('queued', 'dispatched', 'running') ORDER BY created_at, id"));
    std::vector<Command> out;
    while (s.step() == SQLITE_ROW) out.push_back(readCommand(s));
    return out;
  }

  Result<void> appendTelemetry(const std::vector<std::pair<std::string, TelemetrySample>>& samples,
                               std::size_t keep) override {
    if (samples.empty()) return Ok{};
    return transaction([&]() -> Result<void> {
      std::set<std::string> touched;
      for (const auto& [node_id, sample] : samples) {
        Statement s = query("INSERT INTO telemetry (node_id, at, data) VALUES (?, ?, ?)");
        s.bind(node_id).bind(sample.at).bind(sample.data);
        if (auto r = done(s, "append telemetry"); !r) return r;
        touched.insert(node_id);
      }
      for (const auto& node_id : touched) {
        Statement prune = query(
            "DELETE FROM telemetry WHERE node_id = ? AND rowid NOT IN "
            "(SELECT rowid FROM telemetry WHERE node_id = ? ORDER BY at DESC, rowid DESC LIMIT ?)");
        prune.bind(node_id).bind(node_id).bind(static_cast<std::int64_t>(keep));
        if (auto r = done(prune, "prune telemetry"); !r) return r;
      }
      return Ok{};
    });
  }

  Result<std::vector<TelemetrySample>> telemetryHistory(const std::string& node_id, std::size_t limit) override {
    Statement s = query("SELECT at, data FROM telemetry WHERE node_id = ? ORDER BY at DESC, rowid DESC LIMIT ?");
    s.bind(node_id).bind(static_cast<std::int64_t>(limit));
    std::vector<TelemetrySample> out;
    while (s.step() == SQLITE_ROW) out.push_back(TelemetrySample{s.integer(0), s.json(1)});
    return out;
  }

  Result<void> appendAudit(const AuditRecord& r) override {
    Statement s = query("INSERT INTO audit (at, actor, action, target, outcome, request_id) VALUES (?, ?, ?, ?, ?, ?)");
    s.bind(r.at).bind(r.actor).bind(r.action).bind(r.target).bind(r.outcome).bind(r.request_id);
    return done(s, "append audit");
  }

  Result<std::vector<AuditRecord>> listAudit(std::size_t limit) override {
    Statement s =
        query("SELECT id, at, actor, action, target, outcome, request_id FROM audit ORDER BY id DESC LIMIT ?");
    s.bind(static_cast<std::int64_t>(limit));
    std::vector<AuditRecord> out;
    while (s.step() == SQLITE_ROW) {
      out.push_back(AuditRecord{s.integer(0), s.integer(1), s.text(2), s.text(3), s.text(4), s.text(5), s.text(6)});
    }
    return out;
  }

 private:
  static void bindCommand(Statement& s, const Command& c) {
    s.bind(c.id).bind(c.node_id).bind(c.correlation_id).bind(c.verb).bind(c.args);
    s.bind(commandStateName(c.state)).bind(c.created_at).bind(c.expires_at);
    bindProgress(s, c);
  }

  // The columns a command's progress changes, in schema order from dispatched_at to error.
  static void bindProgress(Statement& s, const Command& c) {
    s.bind(c.dispatched_at).bind(c.finished_at).bind(c.attempts).bind(c.exit_code);
    s.bind(c.result).bind(c.stdout_text).bind(c.stderr_text).bind(c.error);
  }

  Result<void> done(Statement& s, const std::string& what) {
    if (!s.valid()) return dbError(db_, what);
    int rc = s.step();
    if (rc == SQLITE_CONSTRAINT) return makeError("conflict", what + ": " + s.errorMessage());
    if (rc != SQLITE_DONE) return dbError(db_, what);
    return Ok{};
  }

  Result<void> commit() {
    if (sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr) == SQLITE_OK) return Ok{};
    Error e = dbError(db_, "commit");
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    return e;
  }

  // Statements are prepared once and reused; the store is single-threaded.
  Statement query(const std::string& sql) {
    auto it = statements_.find(sql);
    if (it == statements_.end()) {
      sqlite3_stmt* stmt = nullptr;
      if (sqlite3_prepare_v3(db_, sql.c_str(), -1, SQLITE_PREPARE_PERSISTENT, &stmt, nullptr) != SQLITE_OK) {
        return Statement(db_, nullptr);
      }
      it = statements_.emplace(sql, stmt).first;
    }
    return Statement(db_, it->second);
  }

  sqlite3* db_;
  int depth_ = 0;
  bool batch_open_ = false;
  std::function<void()> on_batch_open_;
  std::unordered_map<std::string, sqlite3_stmt*> statements_;
};

}  // namespace

Result<std::unique_ptr<Store>> openSqliteStore(const std::string& path) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr) !=
      SQLITE_OK) {
    Error e = makeError("store_error", "cannot open " + path + ": " + (db ? sqlite3_errmsg(db) : "out of memory"));
    sqlite3_close(db);
    return e;
  }
  sqlite3_busy_timeout(db, 5000);
  char* message = nullptr;
  std::string setup = std::string(
                          "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON; PRAGMA "
                          "mmap_size=268435456; PRAGMA cache_size=-16384;") +
                      kSchema;
  if (sqlite3_exec(db, setup.c_str(), nullptr, nullptr, &message) != SQLITE_OK) {
    Error e = makeError("store_error", std::string("schema: ") + (message ? message : "unknown"));
    sqlite3_free(message);
    sqlite3_close(db);
    return e;
  }
  return std::unique_ptr<Store>(std::make_unique<SqliteStore>(db));
}

}  // namespace berth::store
