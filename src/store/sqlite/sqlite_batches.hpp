// The SQLite store's fleet-wide command batches (table command_batches; the
// commands themselves are rows of `commands` carrying the batch id). Called
// by SqliteStore through its statement cache.
#pragma once

#include <sqlite3.h>

#include <optional>
#include <string>
#include <vector>

#include "store/sqlite/rows.hpp"

namespace berth::store {

Result<void> sqliteInsertCommandBatch(sqlite3* db, StatementSource& statements, const CommandBatch& batch);
Result<std::optional<CommandBatch>> sqliteGetCommandBatch(sqlite3* db, StatementSource& statements,
                                                          const std::string& id);
Result<std::vector<Command>> sqliteListBatchCommands(sqlite3* db, StatementSource& statements,
                                                     const std::string& batch_id);

}  // namespace berth::store
