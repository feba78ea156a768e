#include "store/sqlite/sqlite_source.hpp"

namespace berth::store {
namespace {

constexpr const char* kAppSourceColumns =
    "app, kind, username, sealed_credentials, public_key, host_key, offered_host_keys, offered_at, "
    "sealed_hook_secret, plan_override, updated_at";

class SqliteSourceStore final : public SourceStore {
 public:
  SqliteSourceStore(sqlite3* db, StatementSource& statements) : db_(db), statements_(statements) {}

  Result<std::optional<AppSource>> getAppSource(const std::string& app) override {
    auto s = statements_.query(std::string("SELECT ") + kAppSourceColumns + " FROM app_sources WHERE app=?");
    if (!s.valid()) return dbError(db_, "read app source");
    s.bind(app);
    if (s.step() != SQLITE_ROW) {
      if (s.lastCode() != SQLITE_DONE) return dbError(db_, "read app source");
      return std::optional<AppSource>();
    }
    AppSource out;
    out.app = s.text(0);
    out.kind = s.text(1);
    out.username = s.text(2);
    out.sealed_credentials = s.text(3);
    out.public_key = s.text(4);
    out.host_key = s.text(5);
    out.offered_host_keys = s.json(6);
    if (!out.offered_host_keys.is_array()) out.offered_host_keys = nlohmann::json::array();
    out.offered_at = s.integer(7);
    out.sealed_hook_secret = s.text(8);
    out.plan_override = s.json(9);
    out.updated_at = s.integer(10);
    return std::optional<AppSource>(std::move(out));
  }

  Result<void> putAppSource(const AppSource& a) override {
    auto s = statements_.query(std::string("INSERT OR REPLACE INTO app_sources (") + kAppSourceColumns +
                               ") VALUES (?,?,?,?,?,?,?,?,?,?,?)");
    if (!s.valid()) return dbError(db_, "store app source");
    s.bind(a.app).bind(a.kind).bind(a.username).bind(a.sealed_credentials).bind(a.public_key).bind(a.host_key);
    s.bind(a.offered_host_keys).bind(a.offered_at).bind(a.sealed_hook_secret).bind(a.plan_override).bind(a.updated_at);
    if (s.step() != SQLITE_DONE) return dbError(db_, "store app source");
    return Ok{};
  }

  Result<bool> recordHookDelivery(const std::string& app, const std::string& id, std::int64_t at,
                                  std::int64_t forget_before) override {
    {
      auto forget = statements_.query("DELETE FROM hook_deliveries WHERE at < ?");
      if (!forget.valid()) return dbError(db_, "forget hook deliveries");
      forget.bind(forget_before);
      if (forget.step() != SQLITE_DONE) return dbError(db_, "forget hook deliveries");
    }
    auto s = statements_.query("INSERT OR IGNORE INTO hook_deliveries (app, delivery_id, at) VALUES (?, ?, ?)");
    if (!s.valid()) return dbError(db_, "record hook delivery");
    s.bind(app).bind(id).bind(at);
    if (s.step() != SQLITE_DONE) return dbError(db_, "record hook delivery");
    return sqlite3_changes(db_) == 1;
  }

  Result<void> recordHookPush(const std::string& app, const std::string& branch, const std::string& commit,
                              std::int64_t pushed_at, std::int64_t at, int keep) override {
    {
      auto s = statements_.query(
          "INSERT OR REPLACE INTO hook_pushes (app, branch, commit_sha, pushed_at, at) VALUES (?, ?, ?, ?, ?)");
      if (!s.valid()) return dbError(db_, "record hook push");
      s.bind(app).bind(branch).bind(commit).bind(pushed_at).bind(at);
      if (s.step() != SQLITE_DONE) return dbError(db_, "record hook push");
    }
    auto forget = statements_.query(
        "DELETE FROM hook_pushes WHERE app=? AND branch=? AND rowid NOT IN "
        "(SELECT rowid FROM hook_pushes WHERE app=? AND branch=? ORDER BY at DESC, rowid DESC LIMIT ?)");
    if (!forget.valid()) return dbError(db_, "forget hook pushes");
    forget.bind(app).bind(branch).bind(app).bind(branch).bind(static_cast<std::int64_t>(keep));
    if (forget.step() != SQLITE_DONE) return dbError(db_, "forget hook pushes");
    return Ok{};
  }

  Result<HookPushes> hookPushes(const std::string& app, const std::string& branch, const std::string& commit) override {
    auto s = statements_.query(
        "SELECT COALESCE(MAX(pushed_at), 0), COALESCE(SUM(commit_sha = ?), 0) FROM hook_pushes WHERE app=? AND branch=?");
    if (!s.valid()) return dbError(db_, "read hook pushes");
    s.bind(commit).bind(app).bind(branch);
    if (s.step() != SQLITE_ROW) return dbError(db_, "read hook pushes");
    return HookPushes{s.integer(1) > 0, s.integer(0)};
  }

 private:
  sqlite3* db_;
  StatementSource& statements_;
};

}  // namespace

std::unique_ptr<SourceStore> makeSqliteSourceStore(sqlite3* db, StatementSource& statements) {
  return std::make_unique<SqliteSourceStore>(db, statements);
}

}  // namespace berth::store
