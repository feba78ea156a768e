// The SQLite store's app history: deployments, app events and app log lines
// (tables deployments, app_events, app_logs). Called by SqliteStore through
// its statement cache, inside its transactions.
#pragma once

#include <sqlite3.h>

#include <optional>
#include <string>
#include <vector>

#include "store/sqlite/rows.hpp"

namespace berth::store {

Result<void> sqliteUpsertDeployment(sqlite3* db, StatementSource& statements, const Deployment& d);
Result<std::optional<Deployment>> sqliteGetDeployment(sqlite3* db, StatementSource& statements, const std::string& app,
                                                      int number);
Result<std::vector<Deployment>> sqliteListDeployments(sqlite3* db, StatementSource& statements, const std::string& app);
Result<void> sqliteAppendAppEvent(sqlite3* db, StatementSource& statements, const AppEvent& e);
Result<std::vector<AppEvent>> sqliteListAppEvents(sqlite3* db, StatementSource& statements, const std::string& app,
                                                  std::size_t limit);
// Sets each record's seq. The caller holds the transaction.
Result<void> sqliteInsertLogs(sqlite3* db, StatementSource& statements, std::vector<LogRecord>& records);
Result<std::vector<LogRecord>> sqliteListLogs(sqlite3* db, StatementSource& statements, const std::string& app,
                                              std::int64_t after_seq, std::int64_t since_ms, std::size_t limit);
Result<std::vector<LogRecord>> sqliteTailLogs(sqlite3* db, StatementSource& statements, const std::string& app,
                                              std::int64_t since_ms, std::size_t tail);
// Lines older than min_at_ms, then each app's oldest beyond max_bytes_per_app; how many went.
// The caller holds the transaction.
Result<std::int64_t> sqlitePruneLogs(sqlite3* db, StatementSource& statements, std::int64_t min_at_ms,
                                     std::int64_t max_bytes_per_app);

}  // namespace berth::store
