// Rows to structs for the SQLite store: each table's column list and the
// reader that maps a row selected with exactly those columns, kept side by
// side so their order cannot drift apart.
#pragma once

#include "store/sqlite/statement.hpp"
#include "store/store.hpp"

namespace berth::store {

inline constexpr const char* kCommandColumns =
    "id, node_id, correlation_id, verb, args, state, created_at, expires_at, dispatched_at, finished_at, "
    "attempts, exit_code, result, stdout, stderr, error, batch_id";
inline constexpr const char* kNodeColumns =
    "id, hostname, site, labels, version, capabilities, verbs, capacity, status, cert_serial, cert_not_after, "
    "created_at, last_seen_at, session_id, clock_skew_ms, last_refusal, last_refusal_at, previous_cert_serial, org";
inline constexpr const char* kAppColumns =
    "name, node_id, selector, current_deployment, next_deployment, desired, keep, created_at, updated_at, org";
inline constexpr const char* kApiKeyColumns =
    "id, name, secret_hash, role, created_at, COALESCE(prefix, ''), user_id, org, scope, expires_at, revoked_at";
inline constexpr const char* kDeploymentColumns =
    "app, number, spec, sealed_secrets, image, state, reason, command_id, source, created_at, updated_at, "
    "deployment_id, source_ref, source_commit, built_image, build_plan";
inline constexpr const char* kAppDomainColumns =
    "domain, app, path_prefix, strip_prefix, created_at, certificate_sealed";

AppDomain readAppDomain(const Statement& s);
App readApp(const Statement& s);
Deployment readDeployment(const Statement& s);
Command readCommand(const Statement& s);
Node readNode(const Statement& s);
ApiKey readApiKey(const Statement& s);

// Hands out the store's cached statements to the parts of the store in other files.
class StatementSource {
 public:
  virtual ~StatementSource() = default;
  virtual Statement query(const std::string& sql) = 0;
};

}  // namespace berth::store
