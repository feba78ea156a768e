// Appending to the audit chain (docs/audit.md). Every change of state the
// server makes appends one record through here, inside the store transaction
// of the change itself, so the record and its effect commit or roll back
// together. Runs on the server's service thread, like the store.
#pragma once

#include <map>
#include <nlohmann/json.hpp>

#include "auth/audit_chain.hpp"
#include "store/store.hpp"

namespace berth::server {

// Chains `record` onto the newest record in the store (its id, prev_hash and
// hash are filled here) and stores it, in a transaction of its own or as a
// savepoint of the caller's. Text fields are made valid UTF-8 and capped.
Result<store::AuditRecord> appendAudit(store::Store& store, store::AuditRecord record);

// "ok" for 1xx-3xx, "refused" for 4xx, "failed" for 5xx.
std::string auditOutcome(int status);

// GET /api/v1/audit's query: since (a duration such as "90m", "2h", "7d", or
// ms since the epoch), actor, target, org (percent-decoded), after or before
// (a record id), limit (1..10000, default 100). Fails "invalid_argument" naming
// the field.
Result<store::AuditQuery> parseAuditQuery(const std::map<std::string, std::string>& query, std::int64_t now_ms);

auth::AuditEntry toAuditEntry(const store::AuditRecord& record);
nlohmann::json auditJson(const store::AuditRecord& record);

}  // namespace berth::server
