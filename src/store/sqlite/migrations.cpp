#include "store/sqlite/migrations.hpp"

namespace berth::store::sqlite {
namespace {

// Version 1 is the schema berth 0.1 created without a migrations table; its
// IF NOT EXISTS clauses make it a no-op on such a database, which is then
// recorded as version 1.
constexpr const char* kInitialSchema = R"SQL(
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
CREATE TABLE IF NOT EXISTS apps (name TEXT PRIMARY KEY, node_id TEXT NOT NULL, selector TEXT NOT NULL,
  current_deployment INTEGER NOT NULL, next_deployment INTEGER NOT NULL, desired TEXT NOT NULL,
  keep INTEGER NOT NULL, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS deployments (app TEXT NOT NULL, number INTEGER NOT NULL, spec TEXT NOT NULL,
  sealed_secrets TEXT NOT NULL, image TEXT NOT NULL, state TEXT NOT NULL, reason TEXT NOT NULL,
  command_id TEXT NOT NULL, source TEXT NOT NULL, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,
  PRIMARY KEY (app, number));
CREATE TABLE IF NOT EXISTS app_events (id INTEGER PRIMARY KEY AUTOINCREMENT, app TEXT NOT NULL,
  deployment INTEGER NOT NULL, at INTEGER NOT NULL, state TEXT NOT NULL, reason TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS app_events_app ON app_events (app, id);
CREATE TABLE IF NOT EXISTS app_logs (seq INTEGER PRIMARY KEY AUTOINCREMENT, app TEXT NOT NULL,
  deployment INTEGER NOT NULL, replica INTEGER NOT NULL, at INTEGER NOT NULL, stream TEXT NOT NULL,
  text TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS app_logs_app ON app_logs (app, seq);
CREATE INDEX IF NOT EXISTS app_logs_at ON app_logs (at);
CREATE TABLE IF NOT EXISTS audit (id INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL,
  actor TEXT NOT NULL, action TEXT NOT NULL, target TEXT NOT NULL, outcome TEXT NOT NULL,
  request_id TEXT NOT NULL);
)SQL";

// Existing data moves into the org "default"; a key made before this becomes an
// owner key of it, held by a user "owner" (platform admin, no password: it logs
// in only once one is set). App names stay the default org's app keys.
constexpr const char* kTeamsSchema = R"SQL(
CREATE TABLE users (id TEXT PRIMARY KEY, name TEXT UNIQUE NOT NULL, password_hash TEXT NOT NULL,
  platform_role TEXT NOT NULL, created_at INTEGER NOT NULL);
CREATE TABLE orgs (name TEXT PRIMARY KEY, created_at INTEGER NOT NULL);
CREATE TABLE memberships (user_id TEXT NOT NULL, org TEXT NOT NULL, role TEXT NOT NULL,
  created_at INTEGER NOT NULL, PRIMARY KEY (user_id, org));
CREATE INDEX memberships_org ON memberships (org, role);
CREATE TABLE sessions (id TEXT PRIMARY KEY, secret_hash TEXT NOT NULL, user_id TEXT NOT NULL,
  created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL);
CREATE TABLE invites (id TEXT PRIMARY KEY, secret_hash TEXT NOT NULL, org TEXT NOT NULL, role TEXT NOT NULL,
  user_name TEXT NOT NULL, created_by TEXT NOT NULL, created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL);
ALTER TABLE api_keys ADD COLUMN prefix TEXT;
CREATE UNIQUE INDEX api_keys_prefix ON api_keys (prefix);
ALTER TABLE api_keys ADD COLUMN user_id TEXT NOT NULL DEFAULT '';
ALTER TABLE api_keys ADD COLUMN org TEXT NOT NULL DEFAULT 'default';
ALTER TABLE api_keys ADD COLUMN scope TEXT NOT NULL DEFAULT 'admin';
ALTER TABLE api_keys ADD COLUMN expires_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE api_keys ADD COLUMN revoked_at INTEGER NOT NULL DEFAULT 0;
CREATE INDEX api_keys_org ON api_keys (org, user_id);
ALTER TABLE apps ADD COLUMN org TEXT NOT NULL DEFAULT 'default';
CREATE INDEX apps_org ON apps (org, name);
ALTER TABLE nodes ADD COLUMN org TEXT NOT NULL DEFAULT '';
ALTER TABLE join_tokens ADD COLUMN org TEXT NOT NULL DEFAULT '';
INSERT INTO orgs (name, created_at) VALUES ('default', CAST(strftime('%s', 'now') AS INTEGER) * 1000);
INSERT INTO users (id, name, password_hash, platform_role, created_at)
  SELECT 'u_owner', 'owner', '', 'admin', MIN(created_at) FROM api_keys HAVING COUNT(*) > 0;
INSERT INTO memberships (user_id, org, role, created_at) SELECT id, 'default', 'owner', created_at FROM users;
UPDATE api_keys SET user_id = 'u_owner', org = 'default', scope = 'admin', role = 'admin';
)SQL";

// Older records stay unchained (empty hash; docs/audit.md): their outcome, a
// status such as "201", moves to detail and becomes ok, refused or failed.
constexpr const char* kAuditChainSchema = R"SQL(
ALTER TABLE audit ADD COLUMN org TEXT NOT NULL DEFAULT '';
ALTER TABLE audit ADD COLUMN source TEXT NOT NULL DEFAULT '';
ALTER TABLE audit ADD COLUMN detail TEXT NOT NULL DEFAULT '';
ALTER TABLE audit ADD COLUMN prev_hash TEXT NOT NULL DEFAULT '';
ALTER TABLE audit ADD COLUMN hash TEXT NOT NULL DEFAULT '';
UPDATE audit SET detail = outcome, outcome = CASE substr(outcome, 1, 1) WHEN '4' THEN 'refused' WHEN '5' THEN 'failed'
  ELSE 'ok' END;
CREATE INDEX audit_org ON audit (org, id);
)SQL";

Error sqlError(sqlite3* db, const std::string& what) {
  return makeError("store_error", what + ": " + sqlite3_errmsg(db));
}

Result<void> exec(sqlite3* db, const std::string& sql, const std::string& what) {
  char* message = nullptr;
  if (sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &message) != SQLITE_OK) {
    Error e = makeError("store_error", what + ": " + (message ? message : sqlite3_errmsg(db)));
    sqlite3_free(message);
    return e;
  }
  return Ok{};
}

Result<void> record(sqlite3* db, const Migration& m, std::int64_t now_ms) {
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(db, "INSERT INTO schema_migrations (version, description, applied_at) VALUES (?, ?, ?)", -1,
                         &stmt, nullptr) != SQLITE_OK)
    return sqlError(db, "record migration");
  sqlite3_bind_int(stmt, 1, m.version);
  sqlite3_bind_text(stmt, 2, m.description.c_str(), -1, SQLITE_TRANSIENT);
  sqlite3_bind_int64(stmt, 3, now_ms);
  const int rc = sqlite3_step(stmt);
  sqlite3_finalize(stmt);
  if (rc != SQLITE_DONE) return sqlError(db, "record migration");
  return Ok{};
}

// Apps built from git (issue 11): what a deployment built, each app's sealed source
// credentials and hook secret, and the webhook deliveries of the last 24 hours.
constexpr const char* kSourceSchema = R"SQL(
ALTER TABLE deployments ADD COLUMN source_ref TEXT NOT NULL DEFAULT '';
ALTER TABLE deployments ADD COLUMN source_commit TEXT NOT NULL DEFAULT '';
ALTER TABLE deployments ADD COLUMN built_image TEXT NOT NULL DEFAULT '';
ALTER TABLE deployments ADD COLUMN build_plan TEXT NOT NULL DEFAULT 'null';
CREATE TABLE app_sources (app TEXT PRIMARY KEY, kind TEXT NOT NULL, username TEXT NOT NULL,
  sealed_credentials TEXT NOT NULL, public_key TEXT NOT NULL, host_key TEXT NOT NULL,
  offered_host_keys TEXT NOT NULL, offered_at INTEGER NOT NULL, sealed_hook_secret TEXT NOT NULL,
  plan_override TEXT NOT NULL, updated_at INTEGER NOT NULL);
CREATE TABLE hook_deliveries (app TEXT NOT NULL, delivery_id TEXT NOT NULL, at INTEGER NOT NULL,
  PRIMARY KEY (app, delivery_id));
CREATE INDEX hook_deliveries_at ON hook_deliveries (at);
)SQL";

// commands_open was (state, created_at) over every command: each round trip
// inserted an entry and moved it when the command finished, among entries of
// every command ever run. Only listOpenCommands reads it, always filtered on
// the three open states; partial, it holds what is open now (a few pages).
// (created_at, id) is that query's order, so it needs no sort. The condition
// is spelled with OR, not IN: SQLite builds a temporary table for an IN list
// each time it evaluates it, that is on every insert and update of a command.
constexpr const char* kOpenCommandsIndex = R"SQL(
DROP INDEX IF EXISTS commands_open;
CREATE INDEX commands_open ON commands (created_at, id) WHERE state = 'queued' OR state = 'dispatched' OR state = 'running';
)SQL";

}  // namespace

const std::vector<Migration>& migrations() {
  static const std::vector<Migration> all = {
      {1, "initial schema (berth 0.1)", kInitialSchema},
      {2, "node clock skew, last refusal and telemetry sequence",
       "ALTER TABLE nodes ADD COLUMN clock_skew_ms INTEGER NOT NULL DEFAULT 0;"
       "ALTER TABLE nodes ADD COLUMN last_refusal TEXT NOT NULL DEFAULT '';"
       "ALTER TABLE nodes ADD COLUMN last_refusal_at INTEGER NOT NULL DEFAULT 0;"
       "ALTER TABLE telemetry ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;"},
      {3, "rejoin tokens bound to a node; a node's previous certificate serial; used tokens deleted",
       "ALTER TABLE join_tokens ADD COLUMN node_id TEXT NOT NULL DEFAULT '';"
       "ALTER TABLE nodes ADD COLUMN previous_cert_serial TEXT NOT NULL DEFAULT '';"
       "DELETE FROM join_tokens WHERE used_at != 0;"},
      {4, "deployments get a unique id that their containers carry as a label",
       "ALTER TABLE deployments ADD COLUMN deployment_id TEXT NOT NULL DEFAULT '';"},
      {5, "custom domains of apps, unique across the installation",
       "CREATE TABLE app_domains (domain TEXT PRIMARY KEY, app TEXT NOT NULL, "
       "path_prefix TEXT NOT NULL DEFAULT '/', strip_prefix INTEGER NOT NULL DEFAULT 0, "
       "created_at INTEGER NOT NULL);"
       "CREATE INDEX app_domains_app ON app_domains (app, domain);"},
      {6, "a domain may carry an uploaded certificate (sealed)",
       "ALTER TABLE app_domains ADD COLUMN certificate_sealed TEXT NOT NULL DEFAULT '';"},
      {7, "users, organisations, memberships, scoped API keys, sessions, invitations; apps and nodes belong to an org",
       kTeamsSchema},
      {8, "org quotas and container policy; deployments started per org (for deployments per hour)",
       "CREATE TABLE org_limits (org TEXT PRIMARY KEY, quotas TEXT NOT NULL, policy TEXT NOT NULL, "
       "updated_at INTEGER NOT NULL);"
       "CREATE TABLE org_deployments (org TEXT NOT NULL, at INTEGER NOT NULL);"
       "CREATE INDEX org_deployments_org ON org_deployments (org, at);"},
      {9, "audit records carry their org, source address and detail, and are hash-chained", kAuditChainSchema},
      {10, "fleet-wide command batches; a command names its batch",
       "CREATE TABLE command_batches (id TEXT PRIMARY KEY, org TEXT NOT NULL, actor TEXT NOT NULL, "
       "idempotency_key TEXT NOT NULL, selector TEXT NOT NULL, verb TEXT NOT NULL, args TEXT NOT NULL, "
       "ttl_s INTEGER NOT NULL, node_count INTEGER NOT NULL, created_at INTEGER NOT NULL);"
       "ALTER TABLE commands ADD COLUMN batch_id TEXT NOT NULL DEFAULT '';"
       "CREATE INDEX commands_batch ON commands (batch_id, node_id) WHERE batch_id != '';"},
      {11, "apps from git: deployments record ref, commit, built image and plan; source credentials; hook deliveries",
       kSourceSchema},
      {12, "the pushes that deployed each app's branch (an old webhook delivery replayed later deploys nothing)",
       "CREATE TABLE hook_pushes (app TEXT NOT NULL, branch TEXT NOT NULL, commit_sha TEXT NOT NULL, "
       "pushed_at INTEGER NOT NULL, at INTEGER NOT NULL, PRIMARY KEY (app, branch, commit_sha));"},
      {13, "the open-commands index holds open commands only (a finished command leaves it)", kOpenCommandsIndex},
  };
  return all;
}

Result<int> schemaVersion(sqlite3* db) {
  if (auto r = exec(db,
                    "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
                    "description TEXT NOT NULL, applied_at INTEGER NOT NULL)",
                    "create schema_migrations");
      !r)
    return r.error();
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(db, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations", -1, &stmt, nullptr) !=
      SQLITE_OK)
    return sqlError(db, "read schema version");
  const int rc = sqlite3_step(stmt);
  const int version = rc == SQLITE_ROW ? sqlite3_column_int(stmt, 0) : -1;
  sqlite3_finalize(stmt);
  if (version < 0) return sqlError(db, "read schema version");
  return version;
}

Result<int> migrate(sqlite3* db, std::int64_t now_ms) {
  auto current = schemaVersion(db);
  if (!current) return current.error();
  const int newest = migrations().back().version;
  if (*current > newest) {
    return makeError("schema_too_new", "the database is at schema version " + std::to_string(*current) +
                                           " but this berth knows versions up to " + std::to_string(newest) +
                                           "; run the newer berth or restore a backup");
  }
  for (const auto& m : migrations()) {
    if (m.version <= *current) continue;
    if (auto r = exec(db, "BEGIN IMMEDIATE", "begin migration"); !r) return r.error();
    auto applied = exec(db, m.sql, "migration " + std::to_string(m.version) + " (" + m.description + ")");
    if (applied) applied = record(db, m, now_ms);
    if (!applied) {
      (void)exec(db, "ROLLBACK", "rollback migration");
      return applied.error();
    }
    if (auto r = exec(db, "COMMIT", "commit migration"); !r) return r.error();
    *current = m.version;
  }
  return *current;
}

}  // namespace berth::store::sqlite
