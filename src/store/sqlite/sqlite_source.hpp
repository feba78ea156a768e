// The SQLite SourceStore: app source credentials and webhook deliveries in the
// store's own database, through its statement cache.
#pragma once

#include <sqlite3.h>

#include <memory>

#include "store/source_store.hpp"
#include "store/sqlite/rows.hpp"

namespace berth::store {

// `statements` (the SqliteStore) outlives the returned store.
std::unique_ptr<SourceStore> makeSqliteSourceStore(sqlite3* db, StatementSource& statements);

}  // namespace berth::store
