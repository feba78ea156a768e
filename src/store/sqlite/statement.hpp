// A cached prepared statement in use, and the error for a failed call: the
// small layer of the SQLite store that binds, steps and reads columns.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "common/json.hpp"
#include "common/result.hpp"

namespace berth::store {

// Binds by position, steps, and resets itself for the next user on scope exit.
class Statement {
 public:
  Statement(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  ~Statement() {
    if (stmt_) {
      sqlite3_reset(stmt_);
      sqlite3_clear_bindings(stmt_);
    }
  }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  bool valid() const { return stmt_ != nullptr; }
  Statement& bind(const std::string& v) {
    sqlite3_bind_text(stmt_, ++index_, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Statement& bind(std::int64_t v) {
    sqlite3_bind_int64(stmt_, ++index_, v);
    return *this;
  }
  Statement& bind(int v) { return bind(static_cast<std::int64_t>(v)); }
  Statement& bind(const nlohmann::json& v) { return bind(v.dump()); }

  int step() { return last_rc_ = stmt_ ? sqlite3_step(stmt_) : SQLITE_ERROR; }
  // What the last step() returned: SQLITE_DONE after a loop that read every row.
  int lastCode() const { return last_rc_; }
  std::string text(int col) const {
    auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col));
    return p ? std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(stmt_, col))) : std::string();
  }
  std::int64_t integer(int col) const { return sqlite3_column_int64(stmt_, col); }
  nlohmann::json json(int col) const {
    auto parsed = parseJsonOrDiscarded(text(col));
    return parsed.is_discarded() ? nlohmann::json() : parsed;
  }
  std::string errorMessage() const { return sqlite3_errmsg(db_); }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_;
  int index_ = 0;
  int last_rc_ = SQLITE_OK;
};

inline Error dbError(sqlite3* db, const std::string& what) {
  return makeError("store_error", what + ": " + sqlite3_errmsg(db));
}

// Runs a statement that returns no rows; a constraint failure is a conflict.
inline Result<void> stepDone(sqlite3* db, Statement& s, const std::string& what) {
  if (!s.valid()) return dbError(db, what);
  const int rc = s.step();
  if (rc == SQLITE_CONSTRAINT) return makeError("conflict", what + ": " + s.errorMessage());
  if (rc != SQLITE_DONE) return dbError(db, what);
  return Ok{};
}

}  // namespace berth::store
