#include "store/sqlite/sqlite_identity.hpp"

namespace berth::store {
namespace {

constexpr const char* kUserColumns = "id, name, password_hash, platform_role, created_at";
constexpr const char* kInviteColumns = "id, secret_hash, org, role, user_name, created_by, created_at, expires_at";

User readUser(const Statement& s) { return User{s.text(0), s.text(1), s.text(2), s.text(3), s.integer(4)}; }
Invite readInvite(const Statement& s) {
  return Invite{s.text(0), s.text(1), s.text(2), s.text(3), s.text(4), s.text(5), s.integer(6), s.integer(7)};
}

class SqliteIdentityStore final : public IdentityStore {
 public:
  SqliteIdentityStore(sqlite3* db, StatementSource& statements) : db_(db), statements_(statements) {}

  Result<void> insertUser(const User& u) override {
    auto s = query(std::string("INSERT INTO users (") + kUserColumns + ") VALUES (?, ?, ?, ?, ?)");
    s.bind(u.id).bind(u.name).bind(u.password_hash).bind(u.platform_role).bind(u.created_at);
    if (s.step() == SQLITE_CONSTRAINT) return makeError("conflict", "field 'name': a user named " + u.name + " exists");
    return checkDone(s, "insert user");
  }

  Result<void> updateUser(const User& u) override {
    auto s = query("UPDATE users SET name=?, password_hash=?, platform_role=? WHERE id=?");
    s.bind(u.name).bind(u.password_hash).bind(u.platform_role).bind(u.id);
    return done(s, "update user");
  }

  Result<std::optional<User>> getUser(const std::string& id) override {
    return one<User>(std::string("SELECT ") + kUserColumns + " FROM users WHERE id=?", id, readUser);
  }

  Result<std::optional<User>> findUserByName(const std::string& name) override {
    return one<User>(std::string("SELECT ") + kUserColumns + " FROM users WHERE name=?", name, readUser);
  }

  Result<void> deleteUser(const std::string& id) override {
    for (const char* sql : {"DELETE FROM memberships WHERE user_id=?", "DELETE FROM sessions WHERE user_id=?",
                            "DELETE FROM api_keys WHERE user_id=?", "DELETE FROM users WHERE id=?"}) {
      auto s = query(sql);
      s.bind(id);
      if (auto r = done(s, "delete user"); !r) return r;
    }
    return Ok{};
  }

  Result<void> insertOrg(const Org& o) override {
    auto s = query("INSERT INTO orgs (name, created_at) VALUES (?, ?)");
    s.bind(o.name).bind(o.created_at);
    if (s.step() == SQLITE_CONSTRAINT)
      return makeError("conflict", "field 'name': an organisation named " + o.name + " exists");
    return checkDone(s, "insert org");
  }

  Result<std::optional<Org>> getOrg(const std::string& name) override {
    return one<Org>("SELECT name, created_at FROM orgs WHERE name=?", name,
                    [](const Statement& s) { return Org{s.text(0), s.integer(1)}; });
  }

  Result<std::vector<Org>> listOrgs() override {
    auto s = query("SELECT name, created_at FROM orgs ORDER BY name");
    std::vector<Org> out;
    while (s.step() == SQLITE_ROW) out.push_back(Org{s.text(0), s.integer(1)});
    if (s.lastCode() != SQLITE_DONE) return dbError(db_, "list orgs");
    return out;
  }

  Result<void> putMembership(const Membership& m) override {
    auto s = query(
        "INSERT INTO memberships (user_id, org, role, created_at) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (user_id, org) DO UPDATE SET role=excluded.role");
    s.bind(m.user_id).bind(m.org).bind(m.role).bind(m.created_at);
    return done(s, "put membership");
  }

  Result<bool> deleteMembership(const std::string& user_id, const std::string& org) override {
    auto s = query("DELETE FROM memberships WHERE user_id=? AND org=?");
    s.bind(user_id).bind(org);
    if (auto r = done(s, "delete membership"); !r) return r.error();
    return sqlite3_changes(db_) > 0;
  }

  Result<std::vector<Membership>> membershipsOfUser(const std::string& user_id) override {
    return memberships("SELECT user_id, org, role, created_at FROM memberships WHERE user_id=? ORDER BY org", user_id);
  }

  Result<std::vector<Membership>> membersOfOrg(const std::string& org) override {
    return memberships("SELECT user_id, org, role, created_at FROM memberships WHERE org=? ORDER BY created_at, user_id",
                       org);
  }

  Result<std::int64_t> countOwners() override {
    auto s = query("SELECT COUNT(*) FROM memberships WHERE role='owner'");
    if (s.step() != SQLITE_ROW) return dbError(db_, "count owners");
    return s.integer(0);
  }

  Result<std::optional<ApiKey>> findApiKeyByPrefix(const std::string& prefix) override {
    return one<ApiKey>(std::string("SELECT ") + kApiKeyColumns + " FROM api_keys WHERE prefix=?", prefix, readApiKey);
  }

  Result<std::optional<ApiKey>> getApiKey(const std::string& id) override {
    return one<ApiKey>(std::string("SELECT ") + kApiKeyColumns + " FROM api_keys WHERE id=?", id, readApiKey);
  }

  Result<std::vector<ApiKey>> listApiKeys(const std::string& org, const std::string& user_id) override {
    auto s = query(std::string("SELECT ") + kApiKeyColumns +
                   " FROM api_keys WHERE org=? AND (?='' OR user_id=?) ORDER BY created_at DESC, id");
    s.bind(org).bind(user_id).bind(user_id);
    std::vector<ApiKey> out;
    while (s.step() == SQLITE_ROW) out.push_back(readApiKey(s));
    if (s.lastCode() != SQLITE_DONE) return dbError(db_, "list api keys");
    return out;
  }

  Result<void> updateApiKey(const ApiKey& k) override {
    auto s = query("UPDATE api_keys SET name=?, expires_at=?, revoked_at=? WHERE id=?");
    s.bind(k.name).bind(k.expires_at).bind(k.revoked_at).bind(k.id);
    return done(s, "update api key");
  }

  Result<std::int64_t> revokeUserKeys(const std::string& user_id, const std::string& org, std::int64_t at_ms) override {
    auto s = query("UPDATE api_keys SET revoked_at=? WHERE user_id=? AND org=? AND (revoked_at=0 OR revoked_at>?)");
    s.bind(at_ms).bind(user_id).bind(org).bind(at_ms);
    if (auto r = done(s, "revoke user keys"); !r) return r.error();
    return static_cast<std::int64_t>(sqlite3_changes(db_));
  }

  Result<void> insertSession(const Session& x) override {
    auto s = query("INSERT INTO sessions (id, secret_hash, user_id, created_at, expires_at) VALUES (?, ?, ?, ?, ?)");
    s.bind(x.id).bind(x.secret_hash).bind(x.user_id).bind(x.created_at).bind(x.expires_at);
    return done(s, "insert session");
  }

  Result<std::optional<Session>> getSession(const std::string& id) override {
    return one<Session>("SELECT id, secret_hash, user_id, created_at, expires_at FROM sessions WHERE id=?", id,
                        [](const Statement& s) {
                          return Session{s.text(0), s.text(1), s.text(2), s.integer(3), s.integer(4)};
                        });
  }

  Result<void> deleteSession(const std::string& id) override {
    auto s = query("DELETE FROM sessions WHERE id=?");
    s.bind(id);
    return done(s, "delete session");
  }

  Result<std::int64_t> deleteUserSessions(const std::string& user_id, const std::string& keep_id) override {
    auto s = query("DELETE FROM sessions WHERE user_id=? AND id<>?");
    s.bind(user_id).bind(keep_id);
    if (auto r = done(s, "delete the user's sessions"); !r) return r.error();
    return static_cast<std::int64_t>(sqlite3_changes(db_));
  }

  Result<void> pruneExpired(std::int64_t now_ms) override {
    for (const char* sql : {"DELETE FROM sessions WHERE expires_at<=?", "DELETE FROM invites WHERE expires_at<=?"}) {
      auto s = query(sql);
      s.bind(now_ms);
      if (auto r = done(s, "prune sessions and invitations"); !r) return r;
    }
    return Ok{};
  }

  Result<void> insertInvite(const Invite& i) override {
    auto s = query(std::string("INSERT INTO invites (") + kInviteColumns + ") VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
    s.bind(i.id).bind(i.secret_hash).bind(i.org).bind(i.role).bind(i.user_name).bind(i.created_by);
    s.bind(i.created_at).bind(i.expires_at);
    return done(s, "insert invitation");
  }

  Result<std::optional<Invite>> getInvite(const std::string& id) override {
    return one<Invite>(std::string("SELECT ") + kInviteColumns + " FROM invites WHERE id=?", id, readInvite);
  }

  Result<bool> deleteInvite(const std::string& id) override {
    auto s = query("DELETE FROM invites WHERE id=?");
    s.bind(id);
    if (auto r = done(s, "delete invitation"); !r) return r.error();
    return sqlite3_changes(db_) == 1;
  }

 private:
  Statement query(const std::string& sql) { return statements_.query(sql); }

  Result<void> done(Statement& s, const std::string& what) {
    if (!s.valid()) return dbError(db_, what);
    s.step();
    return checkDone(s, what);
  }
  Result<void> checkDone(Statement& s, const std::string& what) {
    if (!s.valid() || s.lastCode() != SQLITE_DONE) return dbError(db_, what);
    return Ok{};
  }

  template <typename T, typename Reader>
  Result<std::optional<T>> one(const std::string& sql, const std::string& key, Reader read) {
    auto s = query(sql);
    if (!s.valid()) return dbError(db_, "prepare");
    s.bind(key);
    if (s.step() != SQLITE_ROW) {
      if (s.lastCode() != SQLITE_DONE) return dbError(db_, "read");
      return std::optional<T>();
    }
    return std::optional<T>(read(s));
  }

  Result<std::vector<Membership>> memberships(const std::string& sql, const std::string& key) {
    auto s = query(sql);
    s.bind(key);
    std::vector<Membership> out;
    while (s.step() == SQLITE_ROW) out.push_back(Membership{s.text(0), s.text(1), s.text(2), s.integer(3)});
    if (s.lastCode() != SQLITE_DONE) return dbError(db_, "list memberships");
    return out;
  }

  sqlite3* db_;
  StatementSource& statements_;
};

}  // namespace

std::unique_ptr<IdentityStore> makeSqliteIdentityStore(sqlite3* db, StatementSource& statements) {
  return std::make_unique<SqliteIdentityStore>(db, statements);
}

}  // namespace berth::store
