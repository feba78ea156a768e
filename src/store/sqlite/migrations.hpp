// Numbered schema migrations for the SQLite store. Each is applied once, in
// order, inside one transaction with its record in schema_migrations, so a
// database is always at a version the code knows. Append new ones; never edit
// one that has shipped.
#pragma once

#include <sqlite3.h>

#include <string>
#include <vector>

#include "common/result.hpp"

namespace berth::store::sqlite {

struct Migration {
  int version = 0;
  std::string description;
  std::string sql;
};

const std::vector<Migration>& migrations();

// Applies every migration above the database's version. Fails
// "schema_too_new" when the database was written by a newer berth.
Result<int> migrate(sqlite3* db, std::int64_t now_ms);

// The version recorded in the database (0 for an empty one).
Result<int> schemaVersion(sqlite3* db);

}  // namespace berth::store::sqlite
