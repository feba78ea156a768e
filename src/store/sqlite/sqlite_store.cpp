// SQLite implementation of store::Store. WAL mode with synchronous=FULL: a
// committed row survives a killed process and an OS crash (the WAL is synced
// before the commit returns). The schema comes from sqlite/migrations.
#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <array>
#include <functional>
#include <limits>
#include <set>
#include <unordered_map>

#include "apps/domains.hpp"
#include "common/clock.hpp"
#include "common/json.hpp"
#include "store/sqlite/migrations.hpp"
#include "store/sqlite/rows.hpp"
#include "store/sqlite/sqlite_app_history.hpp"
#include "store/sqlite/sqlite_audit.hpp"
#include "store/sqlite/sqlite_batches.hpp"
#include "store/sqlite/sqlite_identity.hpp"
#include "store/sqlite/sqlite_source.hpp"
#include "store/sqlite/statement.hpp"
#include "store/store.hpp"

namespace berth::store {
namespace {

class SqliteStore final : public Store, public StatementSource {
 public:
  explicit SqliteStore(sqlite3* db) : db_(db), identity_(makeSqliteIdentityStore(db, *this)),
        sources_(makeSqliteSourceStore(db, *this)) {}
  ~SqliteStore() override {
    if (batch_open_) (void)commit();  // a batch nobody flushed is still work that was accepted
    for (auto& [sql, stmt] : statements_) sqlite3_finalize(stmt);
    for (auto& level : savepoints_)
      for (sqlite3_stmt* stmt : level) sqlite3_finalize(stmt);
    sqlite3_close(db_);
  }

  Result<void> transaction(const std::function<Result<void>()>& body) override {
    if (depth_ == 0 && !batch_open_) {
      if (!runPrepared("BEGIN IMMEDIATE")) return dbError(db_, "begin");
      if (on_batch_open_) {
        batch_open_ = true;
        on_batch_open_();
      }
    }
    const bool outermost = depth_ == 0 && !batch_open_;
    const int level = depth_;
    if (!outermost) savepoint(kSavepoint, level);
    ++depth_;
    if (pending_.size() < static_cast<std::size_t>(depth_)) pending_.resize(static_cast<std::size_t>(depth_));
    auto result = body();
    auto callbacks = std::move(pending_[static_cast<std::size_t>(depth_ - 1)]);
    pending_[static_cast<std::size_t>(depth_ - 1)].clear();
    --depth_;
    if (!outermost) {
      if (!result) {
        savepoint(kRollbackTo, level);
      } else {
        auto& parent = depth_ > 0 ? pending_[static_cast<std::size_t>(depth_ - 1)] : batch_callbacks_;
        for (auto& fn : callbacks) parent.push_back(std::move(fn));
      }
      savepoint(kRelease, level);
      return result;
    }
    if (!result) {
      sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
      return result;
    }
    auto committed = commit();
    if (committed) runAll(callbacks);
    return committed;
  }

  void afterCommit(std::function<void()> fn) override {
    if (depth_ > 0)
      pending_[static_cast<std::size_t>(depth_ - 1)].push_back(std::move(fn));
    else if (batch_open_)
      batch_callbacks_.push_back(std::move(fn));
    else
      fn();
  }

  void enableGroupCommit(std::function<void()> on_open) override { on_batch_open_ = std::move(on_open); }

  Result<void> flush() override {
    if (!batch_open_) return Ok{};
    batch_open_ = false;
    auto callbacks = std::move(batch_callbacks_);
    batch_callbacks_.clear();
    auto committed = commit();
    if (committed) runAll(callbacks);
    return committed;
  }

  bool batchOpen() const override { return batch_open_; }

  Result<std::optional<std::string>> getSetting(const std::string& key) override {
    Statement s = query("SELECT value FROM settings WHERE key = ?");
    s.bind(key);
    if (s.step() == SQLITE_ROW) return std::optional<std::string>(s.text(0));
    if (s.lastCode() != SQLITE_DONE) return dbError(db_, "get setting");
    return std::optional<std::string>();
  }

  Result<void> putSetting(const std::string& key, const std::string& value) override {
    Statement s =
        query("INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value");
    s.bind(key).bind(value);
    return done(s, "put setting");
  }

  IdentityStore& identity() override { return *identity_; }
  SourceStore& sources() override { return *sources_; }

  Result<std::optional<OrgLimits>> getOrgLimits(const std::string& org) override {
    Statement s = query("SELECT org, quotas, policy, updated_at FROM org_limits WHERE org = ?");
    s.bind(org);
    if (s.step() == SQLITE_ROW) return std::optional<OrgLimits>(OrgLimits{s.text(0), s.json(1), s.json(2), s.integer(3)});
    if (s.lastCode() != SQLITE_DONE) return dbError(db_, "get org limits");
    return std::optional<OrgLimits>();
  }

  Result<void> putOrgLimits(const OrgLimits& l) override {
    Statement s = query(
        "INSERT INTO org_limits (org, quotas, policy, updated_at) VALUES (?, ?, ?, ?) ON CONFLICT(org) DO UPDATE SET "
        "quotas = excluded.quotas, policy = excluded.policy, updated_at = excluded.updated_at");
    s.bind(l.org).bind(l.quotas).bind(l.policy).bind(l.updated_at);
    return done(s, "put org limits");
  }

  Result<void> recordOrgDeployment(const std::string& org, std::int64_t at, std::int64_t forget_before) override {
    Statement forget = query("DELETE FROM org_deployments WHERE org = ? AND at < ?");
    forget.bind(org).bind(forget_before);
    if (auto r = done(forget, "forget org deployments"); !r) return r;
    Statement s = query("INSERT INTO org_deployments (org, at) VALUES (?, ?)");
    s.bind(org).bind(at);
    return done(s, "record org deployment");
  }

  Result<std::int64_t> countOrgDeploymentsSince(const std::string& org, std::int64_t since) override {
    Statement s = query("SELECT COUNT(*) FROM org_deployments WHERE org = ? AND at >= ?");
    s.bind(org).bind(since);
    if (s.step() == SQLITE_ROW) return s.integer(0);
    return dbError(db_, "count org deployments");
  }

  Result<void> insertApiKey(const ApiKey& k) override {
    Statement s = query(
        "INSERT INTO api_keys (id, name, secret_hash, role, created_at, prefix, user_id, org, scope, expires_at, "
        "revoked_at) VALUES (?, ?, ?, ?, ?, NULLIF(?, ''), ?, ?, ?, ?, ?)");
    s.bind(k.id).bind(k.name).bind(k.secret_hash).bind(k.scope).bind(k.created_at).bind(k.prefix).bind(k.user_id);
    s.bind(k.org).bind(k.scope).bind(k.expires_at).bind(k.revoked_at);
    return done(s, "insert api key");
  }

  Result<std::optional<ApiKey>> findApiKey(const std::string& secret_hash) override {
    // Keys made before prefixes only: a prefixed key's hash covers its secret, not the bearer.
    Statement s =
        query(std::string("SELECT ") + kApiKeyColumns + " FROM api_keys WHERE secret_hash = ? AND prefix IS NULL");
    s.bind(secret_hash);
    if (s.step() != SQLITE_ROW) {
      if (s.lastCode() != SQLITE_DONE) return dbError(db_, "read apikey");
      return std::optional<ApiKey>();
    }
    return std::optional<ApiKey>(readApiKey(s));
  }

  Result<void> insertJoinToken(const JoinToken& t) override {
    Statement s =
        query("INSERT INTO join_tokens (id, secret_hash, description, created_at, expires_at, node_id, org) "
              "VALUES (?, ?, ?, ?, ?, ?, ?)");
    s.bind(t.id).bind(t.secret_hash).bind(t.description).bind(t.created_at).bind(t.expires_at).bind(t.node_id);
    s.bind(t.org);
    return done(s, "insert join token");
  }

  Result<JoinToken> consumeJoinToken(const std::string& secret_hash, const std::string& node_id,
                                     std::int64_t now_ms) override {
    Statement s = query(
        "SELECT id, description, created_at, expires_at, node_id, org FROM join_tokens WHERE secret_hash = ? AND "
        "used_at = 0");
    s.bind(secret_hash);
    if (s.step() != SQLITE_ROW) {
      if (s.lastCode() != SQLITE_DONE) return dbError(db_, "read join token");
      return makeError("token_unknown", "join token is not known to this server");
    }
    JoinToken t;
    t.id = s.text(0);
    t.secret_hash = secret_hash;
    t.description = s.text(1);
    t.created_at = s.integer(2);
    t.expires_at = s.integer(3);
    t.node_id = s.text(4);
    t.org = s.text(5);
    if (t.expires_at <= now_ms) return makeError("token_expired", "join token has expired");
    // Deleting is the claim: of two racing enrolments only one removes the row.
    Statement claim = query("DELETE FROM join_tokens WHERE id = ?");
    claim.bind(t.id);
    if (claim.step() != SQLITE_DONE) return dbError(db_, "consume join token");
    if (sqlite3_changes(db_) != 1) return makeError("token_unknown", "join token is not known to this server");
    t.used_at = now_ms;
    t.used_by_node = node_id;
    return t;
  }

  Result<std::int64_t> pruneJoinTokens(std::int64_t now_ms) override {
    Statement s = query("DELETE FROM join_tokens WHERE expires_at <= ? OR used_at != 0");
    s.bind(now_ms);
    if (s.step() != SQLITE_DONE) return dbError(db_, "prune join tokens");
    return static_cast<std::int64_t>(sqlite3_changes(db_));
  }

  Result<void> upsertNode(const Node& n) override {
    Statement s = query(
        "INSERT OR REPLACE INTO nodes (id, hostname, site, labels, version, capabilities, verbs, capacity, "
        "status, cert_serial, cert_not_after, created_at, last_seen_at, session_id, clock_skew_ms, last_refusal, "
        "last_refusal_at, previous_cert_serial, org) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
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
        .bind(n.session_id)
        .bind(n.clock_skew_ms)
        .bind(n.last_refusal)
        .bind(n.last_refusal_at)
        .bind(n.previous_cert_serial)
        .bind(n.org);
    return done(s, "upsert node");
  }

  Result<std::optional<Node>> getNode(const std::string& id) override {
    Statement s = query((std::string("SELECT ") + kNodeColumns + " FROM nodes WHERE id = ?"));
    s.bind(id);
    if (s.step() != SQLITE_ROW) {
      if (s.lastCode() != SQLITE_DONE) return dbError(db_, "read node");
      return std::optional<Node>();
    }
    return std::optional<Node>(readNode(s));
  }

  Result<std::vector<Node>> listNodes() override {
    Statement s = query((std::string("SELECT ") + kNodeColumns + " FROM nodes ORDER BY created_at, id"));
    std::vector<Node> out;
    while (s.step() == SQLITE_ROW) out.push_back(readNode(s));
    if (s.lastCode() != SQLITE_DONE) return dbError(db_, "list");
    return out;
  }

  Result<void> insertCommand(const Command& c) override {
    Statement s = query((std::string("INSERT INTO commands (") + kCommandColumns +
                         ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"));
    bindCommand(s, c);
    s.bind(c.batch_id);
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
    if (s.step() != SQLITE_ROW) {
      if (s.lastCode() != SQLITE_DONE) return dbError(db_, "read command");
      return std::optional<Command>();
    }
    return std::optional<Command>(readCommand(s));
  }

  Result<std::optional<Command>> findCommandByCorrelation(const std::string& node_id,
                                                          const std::string& correlation_id) override {
    Statement s =
        query((std::string("SELECT ") + kCommandColumns + " FROM commands WHERE node_id = ? AND correlation_id = ?"));
    s.bind(node_id).bind(correlation_id);
    if (s.step() != SQLITE_ROW) {
      if (s.lastCode() != SQLITE_DONE) return dbError(db_, "read command");
      return std::optional<Command>();
    }
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
    if (s.lastCode() != SQLITE_DONE) return dbError(db_, "list");
    return out;
  }

  Result<std::vector<Command>> listOpenCommands() override {
    // The condition of the partial index commands_open, word for word, so that index serves it.
    Statement s = query((std::string("SELECT ") + kCommandColumns +
                         " FROM commands WHERE state = 'queued' OR state = 'dispatched' OR state = 'running' "
                         "ORDER BY created_at, id"));
    std::vector<Command> out;
    while (s.step() == SQLITE_ROW) out.push_back(readCommand(s));
    if (s.lastCode() != SQLITE_DONE) return dbError(db_, "list");
    return out;
  }

  Result<std::int64_t> pruneCommands(std::int64_t before_ms, const std::string& ids_below,
                                     std::size_t limit) override {
    // A range of the id index (its autoindex): cheap whatever is left behind, and
    // created_at still decides, for ids of another shape.
    Statement s = query(
        "DELETE FROM commands WHERE rowid IN (SELECT rowid FROM commands WHERE id < ?1 AND created_at < ?2 "
        "AND state IN ('succeeded', 'failed', 'expired', 'cancelled') ORDER BY id LIMIT ?3) RETURNING batch_id");
    s.bind(ids_below).bind(before_ms).bind(static_cast<std::int64_t>(limit));
    std::int64_t removed = 0;
    std::set<std::string> batches;
    while (s.step() == SQLITE_ROW) {
      ++removed;
      if (auto batch = s.text(0); !batch.empty()) batches.insert(std::move(batch));
    }
    if (s.lastCode() != SQLITE_DONE) return dbError(db_, "prune commands");
    // Only the batches these commands belonged to can have become empty. The partial index
    // commands_batch serves the lookup only with its condition spelled out.
    for (const auto& batch : batches) {
      Statement b = query(
          "DELETE FROM command_batches WHERE id = ?1 AND created_at < ?2 AND NOT EXISTS "
          "(SELECT 1 FROM commands WHERE batch_id = ?1 AND batch_id != '')");
      b.bind(batch).bind(before_ms);
      if (b.step() != SQLITE_DONE) return dbError(db_, "prune command batches");
    }
    return removed;
  }

  Result<void> insertCommandBatch(const CommandBatch& batch) override {
    return sqliteInsertCommandBatch(db_, *this, batch);
  }
  Result<std::optional<CommandBatch>> getCommandBatch(const std::string& id) override {
    return sqliteGetCommandBatch(db_, *this, id);
  }
  Result<std::vector<Command>> listBatchCommands(const std::string& batch_id) override {
    return sqliteListBatchCommands(db_, *this, batch_id);
  }

  Result<void> appendTelemetry(const std::vector<std::pair<std::string, TelemetrySample>>& samples,
                               std::size_t keep) override {
    if (samples.empty()) return Ok{};
    return transaction([&]() -> Result<void> {
      std::set<std::string> touched;
      for (const auto& [node_id, sample] : samples) {
        Statement s = query("INSERT INTO telemetry (node_id, at, data, seq) VALUES (?, ?, ?, ?)");
        s.bind(node_id).bind(sample.at).bind(sample.data).bind(sample.seq);
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

  Result<std::int64_t> latestTelemetrySeq(const std::string& node_id) override {
    Statement s = query("SELECT COALESCE(MAX(seq), 0) FROM telemetry WHERE node_id = ?");
    s.bind(node_id);
    if (s.step() != SQLITE_ROW) return dbError(db_, "latest telemetry seq");
    return s.integer(0);
  }

  Result<std::vector<TelemetrySample>> telemetryHistory(const std::string& node_id, std::size_t limit) override {
    Statement s =
        query("SELECT at, data, seq FROM telemetry WHERE node_id = ? ORDER BY at DESC, rowid DESC LIMIT ?");
    s.bind(node_id).bind(static_cast<std::int64_t>(limit));
    std::vector<TelemetrySample> out;
    while (s.step() == SQLITE_ROW) out.push_back(TelemetrySample{s.integer(0), s.json(1), s.integer(2)});
    if (s.lastCode() != SQLITE_DONE) return dbError(db_, "list");
    return out;
  }

  Result<void> upsertApp(const App& a) override {
    auto s = query(
        "INSERT INTO apps (name, node_id, selector, current_deployment, next_deployment, desired, keep, created_at, "
        "updated_at, org) VALUES (?,?,?,?,?,?,?,?,?,?) ON CONFLICT (name) DO UPDATE SET node_id=excluded.node_id, "
        "selector=excluded.selector, current_deployment=excluded.current_deployment, "
        "next_deployment=excluded.next_deployment, desired=excluded.desired, keep=excluded.keep, "
        "updated_at=excluded.updated_at");
    s.bind(a.name).bind(a.node_id).bind(a.selector).bind(a.current_deployment).bind(a.next_deployment);
    s.bind(appDesiredName(a.desired)).bind(a.keep).bind(a.created_at).bind(a.updated_at).bind(a.org);
    return done(s, "upsert app");
  }

  Result<std::optional<App>> getApp(const std::string& name) override {
    auto s = query(std::string("SELECT ") + kAppColumns + " FROM apps WHERE name=?");
    s.bind(name);
    if (s.step() != SQLITE_ROW) {
      if (s.lastCode() != SQLITE_DONE) return dbError(db_, "read app");
      return std::optional<App>();
    }
    return std::optional<App>(readApp(s));
  }

  Result<std::vector<App>> listApps() override {
    auto s = query(std::string("SELECT ") + kAppColumns + " FROM apps ORDER BY name");
    std::vector<App> out;
    while (s.step() == SQLITE_ROW) out.push_back(readApp(s));
    if (s.lastCode() != SQLITE_DONE) return dbError(db_, "list");
    return out;
  }

  Result<std::vector<App>> listOrgApps(const std::string& org) override {
    auto s = query(std::string("SELECT ") + kAppColumns + " FROM apps WHERE org=? ORDER BY name");
    s.bind(org);
    std::vector<App> out;
    while (s.step() == SQLITE_ROW) out.push_back(readApp(s));
    if (s.lastCode() != SQLITE_DONE) return dbError(db_, "list");
    return out;
  }

  Result<std::vector<AppPlacement>> listAppPlacements() override {
    auto s = query("SELECT name, node_id, current_deployment FROM apps WHERE node_id != '' AND current_deployment > 0");
    std::vector<AppPlacement> out;
    while (s.step() == SQLITE_ROW) out.push_back({s.text(0), s.text(1), static_cast<int>(s.integer(2))});
    if (s.lastCode() != SQLITE_DONE) return dbError(db_, "list app placements");
    return out;
  }

  Result<void> deleteApp(const std::string& name) override {
    return transaction([&]() -> Result<void> {
      for (const char* sql : {"DELETE FROM apps WHERE name=?", "DELETE FROM deployments WHERE app=?",
                              "DELETE FROM app_events WHERE app=?", "DELETE FROM app_logs WHERE app=?",
                              "DELETE FROM app_domains WHERE app=?", "DELETE FROM app_sources WHERE app=?",
                              "DELETE FROM hook_deliveries WHERE app=?", "DELETE FROM hook_pushes WHERE app=?"}) {
        auto s = query(sql);
        s.bind(name);
        if (auto r = done(s, "delete app"); !r) return r;
      }
      return Ok{};
    });
  }

  Result<void> insertAppDomain(const AppDomain& d) override {
    return transaction([&]() -> Result<void> {
      auto held = findAppDomain(d.domain);
      if (!held) return held.error();
      if (held->has_value())
        return makeError("domain_in_use", "domain " + d.domain + " is used by app " + (*held)->app);
      // Checked in the transaction, so concurrent adds cannot pass it together; beyond it the
      // node would refuse every deploy and route change of the app.
      auto count = query("SELECT COUNT(*) FROM app_domains WHERE app=?");
      count.bind(d.app);
      if (count.step() != SQLITE_ROW) return dbError(db_, "count app domains");
      if (static_cast<std::size_t>(count.integer(0)) >= apps::kMaxDomainsPerApp)
        return invalidField("domain", "app " + d.app + " holds " + std::to_string(apps::kMaxDomainsPerApp) +
                                          " domains already, the most an app may have");
      auto s = query(std::string("INSERT INTO app_domains (") + kAppDomainColumns + ") VALUES (?,?,?,?,?,?)");
      s.bind(d.domain).bind(d.app).bind(d.path_prefix).bind(d.strip_prefix ? 1 : 0).bind(d.created_at).bind(
          d.certificate_sealed);
      return done(s, "insert app domain");
    });
  }

  Result<bool> setAppDomainCertificate(const std::string& app, const std::string& domain,
                                       const std::string& sealed) override {
    auto s = query("UPDATE app_domains SET certificate_sealed=? WHERE app=? AND domain=?");
    s.bind(sealed).bind(app).bind(domain);
    if (auto r = done(s, "set app domain certificate"); !r) return r.error();
    return sqlite3_changes(db_) > 0;
  }

  Result<bool> deleteAppDomain(const std::string& app, const std::string& domain) override {
    auto s = query("DELETE FROM app_domains WHERE app=? AND domain=?");
    s.bind(app).bind(domain);
    if (auto r = done(s, "delete app domain"); !r) return r.error();
    return sqlite3_changes(db_) == 1;
  }

  Result<std::vector<AppDomain>> listAppDomains(const std::string& app) override {
    auto s = query(std::string("SELECT ") + kAppDomainColumns + " FROM app_domains WHERE app=? ORDER BY domain");
    s.bind(app);
    std::vector<AppDomain> out;
    while (s.step() == SQLITE_ROW) out.push_back(readAppDomain(s));
    if (s.lastCode() != SQLITE_DONE) return dbError(db_, "list app domains");
    return out;
  }

  Result<std::optional<AppDomain>> findAppDomain(const std::string& domain) override {
    auto s = query(std::string("SELECT ") + kAppDomainColumns + " FROM app_domains WHERE domain=?");
    s.bind(domain);
    if (s.step() != SQLITE_ROW) {
      if (s.lastCode() != SQLITE_DONE) return dbError(db_, "read app domain");
      return std::optional<AppDomain>();
    }
    return std::optional<AppDomain>(readAppDomain(s));
  }

  Result<void> upsertDeployment(const Deployment& d) override { return sqliteUpsertDeployment(db_, *this, d); }
  Result<std::optional<Deployment>> getDeployment(const std::string& app, int number) override {
    return sqliteGetDeployment(db_, *this, app, number);
  }
  Result<std::vector<Deployment>> listDeployments(const std::string& app) override {
    return sqliteListDeployments(db_, *this, app);
  }
  Result<void> appendAppEvent(const AppEvent& e) override { return sqliteAppendAppEvent(db_, *this, e); }
  Result<std::vector<AppEvent>> listAppEvents(const std::string& app, std::size_t limit) override {
    return sqliteListAppEvents(db_, *this, app, limit);
  }
  Result<void> appendLogs(std::vector<LogRecord>& records) override {
    return transaction([&] { return sqliteInsertLogs(db_, *this, records); });
  }
  Result<std::vector<LogRecord>> listLogs(const std::string& app, std::int64_t after_seq, std::int64_t since_ms,
                                          std::size_t limit) override {
    return sqliteListLogs(db_, *this, app, after_seq, since_ms, limit);
  }
  Result<std::vector<LogRecord>> tailLogs(const std::string& app, std::int64_t since_ms, std::size_t tail) override {
    return sqliteTailLogs(db_, *this, app, since_ms, tail);
  }
  Result<std::int64_t> pruneLogs(std::int64_t min_at_ms, std::int64_t max_bytes_per_app) override {
    std::int64_t removed = 0;
    auto r = transaction([&]() -> Result<void> {
      auto pruned = sqlitePruneLogs(db_, *this, min_at_ms, max_bytes_per_app);
      if (!pruned) return pruned.error();
      removed = *pruned;
      return Ok{};
    });
    if (!r) return r.error();
    return removed;
  }

  Result<void> appendAudit(const AuditRecord& r) override { return sqliteAppendAudit(db_, *this, r); }
  Result<std::vector<AuditRecord>> listAudit(const AuditQuery& q) override { return sqliteListAudit(db_, *this, q); }
  Result<AuditRecord> auditHeadLink() override { return sqliteAuditHeadLink(db_, *this); }
  Result<AuditRecord> auditHead() override { return sqliteAuditHead(db_, *this); }

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

  Result<void> done(Statement& s, const std::string& what) { return stepDone(db_, s, what); }

  // SAVEPOINT, ROLLBACK TO and RELEASE of the savepoint at `level`, prepared
  // once per level: every nested transaction (each audit append is one) runs
  // two or three of them, and sqlite3_exec would parse each every time.
  enum SavepointStep { kSavepoint = 0, kRollbackTo = 1, kRelease = 2 };
  void savepoint(SavepointStep step, int level) {
    const auto at = static_cast<std::size_t>(level);
    if (savepoints_.size() <= at) savepoints_.resize(at + 1, {nullptr, nullptr, nullptr});
    sqlite3_stmt*& stmt = savepoints_[at][step];
    if (!stmt) {
      static constexpr const char* kVerbs[] = {"SAVEPOINT sp", "ROLLBACK TO sp", "RELEASE sp"};
      const std::string sql = kVerbs[step] + std::to_string(level);
      if (sqlite3_prepare_v3(db_, sql.c_str(), -1, SQLITE_PREPARE_PERSISTENT, &stmt, nullptr) != SQLITE_OK) {
        stmt = nullptr;
        sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, nullptr);  // as before: unprepared
        return;
      }
    }
    sqlite3_step(stmt);
    sqlite3_reset(stmt);
  }

  // Callbacks may write (and so open the next batch); the finished one is closed by now.
  static void runAll(std::vector<std::function<void()>>& callbacks) {
    for (auto& fn : callbacks) fn();
  }

  Result<void> commit() {
    if (runPrepared("COMMIT")) return Ok{};
    Error e = dbError(db_, "commit");
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    return e;
  }

  // A statement without parameters or rows (BEGIN, COMMIT), prepared once.
  bool runPrepared(const std::string& sql) {
    Statement s = query(sql);
    return s.valid() && s.step() == SQLITE_DONE;
  }

  // Statements are prepared once and reused; the store is single-threaded.
  Statement query(const std::string& sql) override {
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
  std::vector<std::vector<std::function<void()>>> pending_;  // afterCommit callbacks per transaction depth
  std::vector<std::function<void()>> batch_callbacks_;       // released transactions of the open batch
  std::unordered_map<std::string, sqlite3_stmt*> statements_;
  std::vector<std::array<sqlite3_stmt*, 3>> savepoints_;  // per nesting level: SAVEPOINT, ROLLBACK TO, RELEASE
  std::unique_ptr<IdentityStore> identity_;
  std::unique_ptr<SourceStore> sources_;
};

}  // namespace

Result<std::unique_ptr<Store>> openSqliteStore(const std::string& path, bool synchronous_full) {
  // Create the file 0600 whatever the umask: SQLite gives the -wal and -shm
  // files the database file's mode.
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return makeError("store_error", "cannot open " + path + ": " + std::strerror(errno));
  const bool modeSet = ::fchmod(fd, 0600) == 0;
  ::close(fd);
  if (!modeSet) return makeError("store_error", "cannot make " + path + " private (mode 0600)");
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr) != SQLITE_OK) {
    Error e = makeError("store_error", "cannot open " + path + ": " + (db ? sqlite3_errmsg(db) : "out of memory"));
    sqlite3_close(db);
    return e;
  }
  sqlite3_busy_timeout(db, 5000);
  char* message = nullptr;
  // synchronous=FULL: a commit reaches the disk before the API answers 202.
  const std::string setup = std::string("PRAGMA journal_mode=WAL; PRAGMA synchronous=") +
                            (synchronous_full ? "FULL" : "NORMAL") +
                            "; PRAGMA foreign_keys=ON; PRAGMA mmap_size=268435456; PRAGMA cache_size=-16384;";
  if (sqlite3_exec(db, setup.c_str(), nullptr, nullptr, &message) != SQLITE_OK) {
    Error e = makeError("store_error", std::string("set up ") + path + ": " + (message ? message : "unknown"));
    sqlite3_free(message);
    sqlite3_close(db);
    return e;
  }
  for (const char* suffix : {"-wal", "-shm"}) ::chmod((path + suffix).c_str(), 0600);
  auto version = sqlite::migrate(db, systemNowMs());
  if (!version) {
    sqlite3_close(db);
    return version.error();
  }
  return std::unique_ptr<Store>(std::make_unique<SqliteStore>(db));
}

}  // namespace berth::store
