// The control plane's durable state behind one interface. SQLite now
// (store/sqlite), PostgreSQL later; both must pass tests/unit/store.
// Implementations are not required to be thread-safe: the server calls the
// store from its single I/O thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "common/states.hpp"
#include "store/source_store.hpp"

namespace berth::store {

class IdentityStore;

struct ApiKey {
  std::string id;
  std::string name;
  std::string secret_hash;  // sha256 hex of the secret (of the whole bearer for a key made before prefixes)
  std::string role;         // legacy column, kept equal to scope
  std::int64_t created_at = 0;
  std::string prefix;       // public part of "bk_<prefix>_<secret>"; "" for a key made before prefixes
  std::string user_id;      // whose key
  std::string org = "default";  // the one org it acts in
  std::string scope = "admin";  // read | deploy | admin
  std::int64_t expires_at = 0;  // 0 = never
  std::int64_t revoked_at = 0;  // 0 = not revoked; a rotation sets it to the end of the overlap
};

struct JoinToken {
  std::string id;
  std::string secret_hash;
  std::string description;
  std::int64_t created_at = 0;
  std::int64_t expires_at = 0;
  std::int64_t used_at = 0;  // 0 = unused
  std::string used_by_node;
  std::string node_id;  // set: a rejoin token for this existing node
  std::string org;      // the org the node will belong to; "" = a platform node
};

using berth::AppDesired;
using berth::DeploymentState;
using berth::NodeStatus;
using berth::nodeStatusName;
using berth::parseNodeStatus;

struct Node {
  std::string id;
  std::string hostname;
  std::string site;
  nlohmann::json labels = nlohmann::json::object();
  std::string version;
  nlohmann::json capabilities = nlohmann::json::array();
  nlohmann::json verbs = nlohmann::json::array();
  nlohmann::json capacity = nlohmann::json::object();
  NodeStatus status = NodeStatus::Unreachable;
  std::string cert_serial;
  std::string previous_cert_serial;  // accepted until cert_serial is first used; then empty
  std::int64_t cert_not_after = 0;
  std::int64_t created_at = 0;
  std::int64_t last_seen_at = 0;
  std::string session_id;
  std::int64_t clock_skew_ms = 0;  // agent clock minus server clock, as last measured
  std::string last_refusal;        // why the server last refused its frames or handshake
  std::int64_t last_refusal_at = 0;
  std::string org;  // "" = a platform node shared by every org; else only that org's apps run here
};

using berth::CommandState;
using berth::commandStateName;
using berth::isTerminal;
using berth::parseCommandState;

struct Command {
  std::string id;
  std::string node_id;
  std::string correlation_id;
  std::string verb;
  nlohmann::json args = nlohmann::json::object();
  CommandState state = CommandState::Queued;
  std::int64_t created_at = 0;
  std::int64_t expires_at = 0;
  std::int64_t dispatched_at = 0;
  std::int64_t finished_at = 0;
  int attempts = 0;
  int exit_code = 0;
  nlohmann::json result = nlohmann::json::object();
  std::string stdout_text;
  std::string stderr_text;
  std::string error;
  std::string batch_id;  // the fleet-wide batch it belongs to ("" = sent on its own)
};

// A fleet-wide command (POST /commands/batch): one command per selected node,
// each a Command row carrying the batch id. `org` is the org that sent it ("" =
// a platform admin across all nodes); `idempotency_key` the caller's, if any.
struct CommandBatch {
  std::string id;
  std::string org;
  std::string actor;
  std::string idempotency_key;
  std::string selector;  // "k=v,k=v" as normalised, or "all"
  std::string verb;
  nlohmann::json args = nlohmann::json::object();
  int ttl_s = 0;
  std::int64_t node_count = 0;
  std::int64_t created_at = 0;
};

// One record of the audit chain (docs/audit.md; the chain is auth/audit_chain,
// appended through server/audit_log). `hash` covers every other field.
struct AuditRecord {
  std::int64_t id = 0;
  std::int64_t at = 0;
  std::string actor;
  std::string action;
  std::string target;
  std::string outcome;  // "ok", "refused" or "failed"
  std::string request_id;
  std::string org;     // the org acted in ("" = platform-wide or unknown)
  std::string source;  // the client's address ("" for agent events)
  std::string detail;  // status and error code, or what changed
  std::string prev_hash;
  std::string hash;    // "" on records written before the chain (schema 8)
};

// Which audit records to list. Empty strings and zeros do not filter.
struct AuditQuery {
  std::string org;
  std::string actor;
  std::string target;
  std::int64_t since_ms = 0;   // at >= since_ms
  std::optional<std::int64_t> after_id;   // records with id > after_id, oldest first
  std::optional<std::int64_t> before_id;  // records with id < before_id, newest first
  std::size_t limit = 100;
};

struct TelemetrySample {
  std::int64_t at = 0;
  nlohmann::json data;
  std::int64_t seq = 0;  // the agent's sequence number; replays carry an old one
};

struct App {
  std::string name;  // the app key (apps/app_key.hpp): "web", or "web.<org>" outside the default org
  std::string node_id;  // where it runs
  nlohmann::json selector = nlohmann::json::object();  // node labels it asked for
  int current_deployment = 0;  // the deployment that runs (0 = none yet)
  int next_deployment = 1;
  AppDesired desired = AppDesired::Running;
  int keep = 3;                     // older deployments kept for rollback
  std::int64_t created_at = 0;
  std::int64_t updated_at = 0;
  std::string org = "default";  // the org it belongs to (its key carries it too)
};

struct AppPlacement {
  std::string name;
  std::string node_id;
  int current_deployment = 0;
};

struct Deployment {
  std::string app;
  int number = 0;
  nlohmann::json spec = nlohmann::json::object();  // the accepted body without secret values
  std::string sealed_secrets;  // secrets and registry credentials, sealed with the server's key
  std::string image;           // the digest or image id it resolved to (empty until known)
  DeploymentState state = DeploymentState::Pending;
  std::string reason;
  std::string command_id;
  std::string source;  // "deploy", "rollback of 3", "scale", ...
  std::int64_t created_at = 0;
  std::int64_t updated_at = 0;
  // Unique across all deployments ever made ("dep_<hex>"; empty for ones made
  // before it existed). Containers carry it as the berth.deployment_id label,
  // so a number reused after a lost write never adopts another's container.
  std::string deployment_id;
  // Built from git (docs/builds.md): the ref asked for, the full commit built, the image the
  // agent built (`<app>:<short sha>`) and the build plan it used (null with a Dockerfile).
  std::string source_ref;
  std::string source_commit;
  std::string built_image;
  nlohmann::json build_plan = nullptr;
};

// A custom domain an app answers at (docs/routes.md "Data"). Unique across the
// installation: `domain` is the key. Values are validated before they get here
// (apps/domains).
struct AppDomain {
  std::string domain;  // lower-case
  std::string app;
  std::string path_prefix = "/";
  bool strip_prefix = false;
  std::int64_t created_at = 0;
  // An uploaded certificate and key ({certificate, key} JSON), sealed with the server's key; "" = ACME.
  std::string certificate_sealed;
};

struct AppEvent {
  std::int64_t id = 0;
  std::string app;
  int deployment = 0;
  std::int64_t at = 0;
  std::string state;
  std::string reason;
};

// What a stored log line costs beyond its text (row header, columns, index
// entries), counted by log retention.
inline constexpr std::int64_t kLogRowOverheadBytes = 64;

struct LogRecord {
  std::int64_t seq = 0;  // assigned by the store; the cursor
  std::string app;
  int deployment = 0;
  int replica = 0;
  std::int64_t at = 0;
  std::string stream;
  std::string text;
};

struct OrgLimits {
  std::string org;
  nlohmann::json quotas = nlohmann::json::object();  // auth::quotasJson
  nlohmann::json policy = nlohmann::json::object();  // auth::containerPolicyJson
  std::int64_t updated_at = 0;
};

class Store {
 public:
  virtual ~Store() = default;

  // Runs `body` atomically: its writes commit together, or none do when it
  // fails. Nested calls are savepoints inside the outer transaction.
  virtual Result<void> transaction(const std::function<Result<void>()>& body) = 0;

  // Group commit. When `on_open` is set, a transaction that starts with no
  // batch open opens one, calls `on_open`, and leaves it open: later writes
  // join it until flush() commits them all. Nothing written in a batch may be
  // reported as durable before flush() returns.
  virtual void enableGroupCommit(std::function<void()> on_open) = 0;
  virtual Result<void> flush() = 0;
  virtual bool batchOpen() const = 0;

  // Runs `fn` once the writes made so far are committed: at once outside a
  // transaction, else when the outermost transaction (or, under group commit,
  // its batch) commits. Dropped when that transaction, the savepoint it was
  // registered in, or the batch fails, so memory never shows what the
  // database does not hold.
  virtual void afterCommit(std::function<void()> fn) = 0;

  virtual Result<std::optional<std::string>> getSetting(const std::string& key) = 0;
  virtual Result<void> putSetting(const std::string& key, const std::string& value) = 0;

  // Users, orgs, memberships, keys, sessions, invitations (store/identity_store.hpp).
  virtual IdentityStore& identity() = 0;
  // Apps' source credentials and webhook deliveries (store/source_store.hpp).
  virtual SourceStore& sources() = 0;

  virtual Result<void> insertApiKey(const ApiKey& key) = 0;
  virtual Result<std::optional<ApiKey>> findApiKey(const std::string& secret_hash) = 0;

  virtual Result<void> insertJoinToken(const JoinToken& token) = 0;
  // Deletes the token and returns it with used_at/used_by_node filled in.
  // Fails "token_unknown" (never issued, or already used: used tokens are
  // deleted) or "token_expired"; atomic, so a token is consumed at most once.
  virtual Result<JoinToken> consumeJoinToken(const std::string& secret_hash, const std::string& node_id,
                                             std::int64_t now_ms) = 0;
  // Deletes tokens that expired at or before `now_ms`; how many went.
  virtual Result<std::int64_t> pruneJoinTokens(std::int64_t now_ms) = 0;

  virtual Result<void> upsertNode(const Node& node) = 0;
  virtual Result<std::optional<Node>> getNode(const std::string& id) = 0;
  virtual Result<std::vector<Node>> listNodes() = 0;

  virtual Result<void> insertCommand(const Command& command) = 0;
  virtual Result<void> updateCommand(const Command& command) = 0;
  virtual Result<std::optional<Command>> getCommand(const std::string& id) = 0;
  virtual Result<std::optional<Command>> findCommandByCorrelation(const std::string& node_id,
                                                                  const std::string& correlation_id) = 0;
  // Most recent first; node_id empty = all nodes.
  virtual Result<std::vector<Command>> listCommands(const std::string& node_id, std::size_t limit) = 0;
  // Every non-terminal command (queued, dispatched, running), oldest first.
  virtual Result<std::vector<Command>> listOpenCommands() = 0;
  // Deletes at most `limit` finished commands (succeeded, failed, expired,
  // cancelled) created before `before_ms` whose ids sort below `ids_below`,
  // lowest id first, then the batches of those that have no command left; how
  // many commands went. Open commands stay whatever their age. Command ids sort
  // by creation time (server/command_service), so `ids_below` makes the search
  // a range of the id index, which a row with a wrong clock does not block.
  virtual Result<std::int64_t> pruneCommands(std::int64_t before_ms, const std::string& ids_below,
                                             std::size_t limit) = 0;

  // "conflict" when the id is taken.
  virtual Result<void> insertCommandBatch(const CommandBatch& batch) = 0;
  virtual Result<std::optional<CommandBatch>> getCommandBatch(const std::string& id) = 0;
  // The batch's commands, ordered by node id.
  virtual Result<std::vector<Command>> listBatchCommands(const std::string& batch_id) = 0;

  // Appends samples in one transaction and keeps only the newest `keep` per node.
  virtual Result<void> appendTelemetry(const std::vector<std::pair<std::string, TelemetrySample>>& samples,
                                       std::size_t keep) = 0;
  // The highest sequence number stored for the node (0 when none).
  virtual Result<std::int64_t> latestTelemetrySeq(const std::string& node_id) = 0;
  // Newest first.
  virtual Result<std::vector<TelemetrySample>> telemetryHistory(const std::string& node_id, std::size_t limit) = 0;

  virtual Result<void> upsertApp(const App& app) = 0;
  virtual Result<std::optional<App>> getApp(const std::string& name) = 0;
  virtual Result<std::vector<App>> listApps() = 0;
  // The apps of one org.
  virtual Result<std::vector<App>> listOrgApps(const std::string& org) = 0;
  // Where apps run: (name, node, current deployment) of every app placed on a
  // node with a deployment running, without the rest of each row. Placement
  // reads this on every deploy, so it stays cheap with thousands of apps.
  virtual Result<std::vector<AppPlacement>> listAppPlacements() = 0;
  // Removes the app with its deployments, events, logs, domains, source credentials and hook deliveries.
  virtual Result<void> deleteApp(const std::string& name) = 0;

  // Fails "domain_in_use" (the message names the holding app) when any app
  // already holds the domain; nothing is written then.
  virtual Result<void> insertAppDomain(const AppDomain& domain) = 0;
  // Sets (or with "" clears) the uploaded certificate of a domain `app` holds; false when it holds none such.
  virtual Result<bool> setAppDomainCertificate(const std::string& app, const std::string& domain,
                                               const std::string& sealed) = 0;
  // Removes the domain only when `app` holds it; false when it does not.
  virtual Result<bool> deleteAppDomain(const std::string& app, const std::string& domain) = 0;
  // The app's domains, ordered by domain.
  virtual Result<std::vector<AppDomain>> listAppDomains(const std::string& app) = 0;
  virtual Result<std::optional<AppDomain>> findAppDomain(const std::string& domain) = 0;

  virtual Result<void> upsertDeployment(const Deployment& deployment) = 0;
  virtual Result<std::optional<Deployment>> getDeployment(const std::string& app, int number) = 0;
  // Newest first.
  virtual Result<std::vector<Deployment>> listDeployments(const std::string& app) = 0;

  virtual Result<void> appendAppEvent(const AppEvent& event) = 0;
  // Oldest first, the newest `limit`.
  virtual Result<std::vector<AppEvent>> listAppEvents(const std::string& app, std::size_t limit) = 0;

  // Assigns seq to each record in order.
  virtual Result<void> appendLogs(std::vector<LogRecord>& records) = 0;
  // Oldest first: lines with seq > after_seq and at >= since_ms, at most `limit`.
  virtual Result<std::vector<LogRecord>> listLogs(const std::string& app, std::int64_t after_seq, std::int64_t since_ms,
                                                  std::size_t limit) = 0;
  // The newest `tail` lines with at >= since_ms, oldest first.
  virtual Result<std::vector<LogRecord>> tailLogs(const std::string& app, std::int64_t since_ms, std::size_t tail) = 0;
  // Drops lines older than `min_at_ms`, then the oldest lines of each app
  // beyond `max_bytes_per_app`, counting what a row costs: its text plus
  // kLogRowOverheadBytes (a million empty lines are not free). Returns how many went.
  virtual Result<std::int64_t> pruneLogs(std::int64_t min_at_ms, std::int64_t max_bytes_per_app) = 0;

  // Stores `record` as given, its id included (server/audit_log chains it);
  // "conflict" when the id is taken.
  virtual Result<void> appendAudit(const AuditRecord& record) = 0;
  // Without after_id: newest first (before before_id when set); with it: oldest first.
  virtual Result<std::vector<AuditRecord>> listAudit(const AuditQuery& query) = 0;
  // The record with the highest id, or one with id 0 when there is none.
  virtual Result<AuditRecord> auditHead() = 0;
  // The same record's id and hash only (the rest left empty): all that
  // chaining the next record needs, read without copying its text.
  virtual Result<AuditRecord> auditHeadLink() = 0;

  // Quotas and container policy per org (auth/quotas.hpp, auth/container_policy.hpp).
  virtual Result<std::optional<OrgLimits>> getOrgLimits(const std::string& org) = 0;
  virtual Result<void> putOrgLimits(const OrgLimits& limits) = 0;
  // Notes a deployment started by `org` at `at` and forgets the org's older
  // than `forget_before`; deleting an app does not take its deployments back.
  virtual Result<void> recordOrgDeployment(const std::string& org, std::int64_t at, std::int64_t forget_before) = 0;
  virtual Result<std::int64_t> countOrgDeploymentsSince(const std::string& org, std::int64_t since) = 0;
};

// Opens the SQLite store at `path` (created with its schema if missing).
// `synchronous_full` false means synchronous=NORMAL (benchmarks only).
Result<std::unique_ptr<Store>> openSqliteStore(const std::string& path, bool synchronous_full = true);

}  // namespace berth::store
