// The SQLite store's audit log (table audit): appends and reads of the
// hash-chained records. Called by SqliteStore through its statement cache,
// inside its transactions (an append is part of the mutation it records).
#pragma once

#include <sqlite3.h>

#include <vector>

#include "store/sqlite/rows.hpp"

namespace berth::store {

Result<void> sqliteAppendAudit(sqlite3* db, StatementSource& statements, const AuditRecord& r);
Result<std::vector<AuditRecord>> sqliteListAudit(sqlite3* db, StatementSource& statements, const AuditQuery& q);
// The newest record's id and hash only (what the next append chains to); id 0 when there is none.
Result<AuditRecord> sqliteAuditHeadLink(sqlite3* db, StatementSource& statements);
// The newest record whole; id 0 when there is none.
Result<AuditRecord> sqliteAuditHead(sqlite3* db, StatementSource& statements);

}  // namespace berth::store
