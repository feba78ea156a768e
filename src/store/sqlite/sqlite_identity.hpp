// The SQLite IdentityStore: users, orgs, memberships, keys, sessions and
// invitations in the store's own database, through its statement cache.
#pragma once

#include <sqlite3.h>

#include <memory>

#include "store/identity_store.hpp"
#include "store/sqlite/rows.hpp"

namespace berth::store {

// `statements` (the SqliteStore) outlives the returned store.
std::unique_ptr<IdentityStore> makeSqliteIdentityStore(sqlite3* db, StatementSource& statements);

}  // namespace berth::store
