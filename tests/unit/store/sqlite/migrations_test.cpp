// Schema migrations: from an empty database, from the schema berth 0.1
// created (no migrations table), and refusal of a newer database.
#include "store/sqlite/migrations.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "../../temp_dir.hpp"
#include "store/identity_store.hpp"
#include "store/store.hpp"

namespace berth::store::sqlite {
namespace {

struct Db {
  sqlite3* db = nullptr;
  explicit Db(const std::string& path) { sqlite3_open(path.c_str(), &db); }
  ~Db() { sqlite3_close(db); }
  int count(const std::string& sql) {
    sqlite3_stmt* s = nullptr;
    sqlite3_prepare_v2(db, sql.c_str(), -1, &s, nullptr);
    int n = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int(s, 0) : -1;
    sqlite3_finalize(s);
    return n;
  }
};

// Brings `db` to schema `version` by the migrations' own SQL, recorded as applied (an older
// release's database, for the migrations after it to take over).
void migrateTo(Db& db, int version) {
  ASSERT_EQ(sqlite3_exec(db.db,
                         "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, description TEXT NOT NULL, "
                         "applied_at INTEGER NOT NULL)",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  for (const auto& m : migrations()) {
    if (m.version > version) break;
    ASSERT_EQ(sqlite3_exec(db.db, m.sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK) << m.description;
    const std::string applied = "INSERT INTO schema_migrations VALUES (" + std::to_string(m.version) + ", 'x', 0)";
    ASSERT_EQ(sqlite3_exec(db.db, applied.c_str(), nullptr, nullptr, nullptr), SQLITE_OK);
  }
}

TEST(Migrations, AreNumberedInOrderFromOne) {
  int expected = 1;
  for (const auto& m : migrations()) EXPECT_EQ(m.version, expected++) << m.description;
}

TEST(Migrations, EmptyDatabaseReachesTheNewestVersion) {
  berth::testing::TempDir dir;
  Db db(dir.path() + "/x.db");
  auto version = migrate(db.db, 1);
  ASSERT_TRUE(version.ok()) << version.error().message;
  EXPECT_EQ(*version, migrations().back().version);
  EXPECT_EQ(db.count("SELECT COUNT(*) FROM schema_migrations"), static_cast<int>(migrations().size()));
  // Applying again changes nothing.
  ASSERT_TRUE(migrate(db.db, 2).ok());
  EXPECT_EQ(db.count("SELECT COUNT(*) FROM schema_migrations"), static_cast<int>(migrations().size()));
}

TEST(Migrations, ReleaseZeroOneDatabaseKeepsItsRows) {
  berth::testing::TempDir dir;
  Db db(dir.path() + "/x.db");
  // What berth 0.1 left behind: its tables, no schema_migrations.
  ASSERT_EQ(sqlite3_exec(db.db, migrations().front().sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db.db,
                         "INSERT INTO nodes VALUES ('n_1','h','','{}','0.1','[]','[]','{}','online','01',5,1,2,'s')",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  auto version = migrate(db.db, 1);
  ASSERT_TRUE(version.ok()) << version.error().message;
  EXPECT_EQ(*version, migrations().back().version);
  EXPECT_EQ(db.count("SELECT COUNT(*) FROM nodes WHERE id = 'n_1'"), 1);
}

// A database at version 4 (before app_domains) keeps every row when it
// reaches version 5, and the new table starts empty and usable.
TEST(Migrations, VersionFourDatabaseKeepsItsRowsAndGetsAppDomains) {
  berth::testing::TempDir dir;
  Db db(dir.path() + "/x.db");
  ASSERT_NO_FATAL_FAILURE(migrateTo(db, 4));
  ASSERT_EQ(sqlite3_exec(db.db,
                         "INSERT INTO apps VALUES ('shop','n_1','{}',1,2,'running',3,1,2);"
                         "INSERT INTO apps VALUES ('blog','n_1','{}',0,1,'stopped',3,1,2);"
                         "INSERT INTO deployments (app, number, spec, sealed_secrets, image, state, reason, "
                         "command_id, source, created_at, updated_at, deployment_id) VALUES "
                         "('shop',1,'{}','s','img','healthy','','c_1','deploy',1,2,'dep_1');"
                         "INSERT INTO nodes (id, hostname, site, labels, version, capabilities, verbs, capacity, "
                         "status, cert_serial, cert_not_after, created_at, last_seen_at, session_id) VALUES "
                         "('n_1','h','','{}','0.1','[]','[]','{}','online','01',5,1,2,'s');"
                         "INSERT INTO settings VALUES ('k','v');"
                         "INSERT INTO audit (at, actor, action, target, outcome, request_id) VALUES "
                         "(1,'a','app.deploy','shop','ok','r'), (2,'a','POST /api/v1/apps','shop','403 forbidden','r');",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  auto version = migrate(db.db, 1);
  ASSERT_TRUE(version.ok()) << version.error().message;
  EXPECT_EQ(*version, migrations().back().version);
  EXPECT_EQ(db.count("SELECT COUNT(*) FROM apps"), 2);
  EXPECT_EQ(db.count("SELECT COUNT(*) FROM deployments WHERE deployment_id = 'dep_1'"), 1);
  EXPECT_EQ(db.count("SELECT COUNT(*) FROM nodes WHERE id = 'n_1'"), 1);
  EXPECT_EQ(db.count("SELECT COUNT(*) FROM settings"), 1);
  EXPECT_EQ(db.count("SELECT COUNT(*) FROM audit"), 2);
  // Older audit records stay, unchained; a status outcome becomes ok/refused with the status as detail.
  EXPECT_EQ(db.count("SELECT COUNT(*) FROM audit WHERE hash = '' AND prev_hash = '' AND org = ''"), 2);
  EXPECT_EQ(db.count("SELECT COUNT(*) FROM audit WHERE outcome = 'refused' AND detail = '403 forbidden'"), 1);
  EXPECT_EQ(db.count("SELECT COUNT(*) FROM audit WHERE outcome = 'ok' AND detail = 'ok'"), 1);
  EXPECT_EQ(db.count("SELECT COUNT(*) FROM app_domains"), 0);
  ASSERT_EQ(sqlite3_exec(db.db, "INSERT INTO app_domains (domain, app, created_at) VALUES ('shop.example.com','shop',3)",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  EXPECT_EQ(db.count("SELECT COUNT(*) FROM app_domains WHERE path_prefix = '/' AND strip_prefix = 0"), 1);
}

TEST(Migrations, NewerDatabaseIsRefused) {
  berth::testing::TempDir dir;
  Db db(dir.path() + "/x.db");
  ASSERT_TRUE(migrate(db.db, 1).ok());
  ASSERT_EQ(sqlite3_exec(db.db, "INSERT INTO schema_migrations VALUES (999, 'future', 0)", nullptr, nullptr, nullptr),
            SQLITE_OK);
  auto version = migrate(db.db, 1);
  ASSERT_FALSE(version.ok());
  EXPECT_EQ(version.error().code, "schema_too_new");
}

TEST(SqliteStoreFiles, DatabaseAndWalArePrivateUnderAnOpenUmask) {
  berth::testing::TempDir dir;
  const mode_t old = ::umask(0);
  {
    auto store = openSqliteStore(dir.path() + "/berth.db");
    ASSERT_TRUE(store.ok()) << store.error().message;
    ASSERT_TRUE((*store)->putSetting("k", "v").ok());
    for (const char* suffix : {"", "-wal", "-shm"}) {
      struct stat st {};
      ASSERT_EQ(::stat((dir.path() + "/berth.db" + suffix).c_str(), &st), 0) << suffix;
      EXPECT_EQ(st.st_mode & 0777, 0600u) << suffix;
    }
  }
  ::umask(old);
}

// A database at version 6 (one admin key, apps, a node) moves into the org
// "default": its app keeps its name there, its key becomes an owner key of a
// user "owner" (platform admin, no password), the node a platform node.
TEST(Migrations, VersionSixDatabaseMovesIntoTheDefaultOrg) {
  berth::testing::TempDir dir;
  const std::string path = dir.path() + "/x.db";
  {
    Db db(path);
    ASSERT_NO_FATAL_FAILURE(migrateTo(db, 6));
    ASSERT_EQ(sqlite3_exec(db.db,
                           "INSERT INTO api_keys VALUES ('key_1','admin','abc123','admin',7);"
                           "INSERT INTO settings VALUES ('admin_key_created','key_1');"
                           "INSERT INTO apps VALUES ('shop','n_1','{}',1,2,'running',3,1,2);"
                           "INSERT INTO nodes (id, hostname, site, labels, version, capabilities, verbs, capacity, "
                           "status, cert_serial, cert_not_after, created_at, last_seen_at, session_id) VALUES "
                           "('n_1','h','','{}','0.1','[]','[]','{}','online','01',5,1,2,'s')",
                           nullptr, nullptr, nullptr),
              SQLITE_OK);
  }
  auto store = openSqliteStore(path);
  ASSERT_TRUE(store.ok()) << store.error().message;
  auto app = (*store)->getApp("shop");
  ASSERT_TRUE(app.ok() && app->has_value());
  EXPECT_EQ((*app)->org, "default");
  auto apps = (*store)->listOrgApps("default");
  ASSERT_TRUE(apps.ok());
  ASSERT_EQ(apps->size(), 1u);
  EXPECT_EQ(apps->front().name, "shop");
  auto node = (*store)->getNode("n_1");
  ASSERT_TRUE(node.ok() && node->has_value());
  EXPECT_EQ((*node)->org, "");
  auto key = (*store)->findApiKey("abc123");
  ASSERT_TRUE(key.ok() && key->has_value());
  EXPECT_EQ((*key)->org, "default");
  EXPECT_EQ((*key)->scope, "admin");
  auto& ids = (*store)->identity();
  auto user = ids.getUser((*key)->user_id);
  ASSERT_TRUE(user.ok() && user->has_value());
  EXPECT_EQ((*user)->platform_role, "admin");
  EXPECT_EQ((*user)->password_hash, "");  // no default password
  auto memberships = ids.membershipsOfUser((*user)->id);
  ASSERT_TRUE(memberships.ok());
  ASSERT_EQ(memberships->size(), 1u);
  EXPECT_EQ(memberships->front().org, "default");
  EXPECT_EQ(memberships->front().role, "owner");
  EXPECT_EQ(ids.countOwners().value(), 1);
}

// A fresh database has the org "default" and no user: the server's bootstrap makes the first owner.
TEST(Migrations, FreshDatabaseHasTheDefaultOrgAndNoUser) {
  berth::testing::TempDir dir;
  auto store = openSqliteStore(dir.path() + "/x.db");
  ASSERT_TRUE(store.ok());
  auto& ids = (*store)->identity();
  EXPECT_TRUE(ids.getOrg("default").value().has_value());
  EXPECT_EQ(ids.countOwners().value(), 0);
  EXPECT_FALSE(ids.findUserByName("owner").value().has_value());
}

// A database at version 12 keeps every command when the open-commands index
// becomes partial: the index then holds the open ones only, and the query
// that reads them at start (listOpenCommands) still finds them through it,
// in order.
TEST(Migrations, VersionTwelveDatabaseKeepsEveryCommandAndIndexesTheOpenOnes) {
  berth::testing::TempDir dir;
  const std::string path = dir.path() + "/x.db";
  {
    Db db(path);
    ASSERT_NO_FATAL_FAILURE(migrateTo(db, 12));
    std::string rows;
    // Random (old-style) ids, every state, created out of id order.
    const char* states[] = {"queued", "succeeded", "dispatched", "failed", "running", "expired", "cancelled"};
    for (int i = 0; i < 7; ++i) {
      rows += "INSERT INTO commands (id, node_id, correlation_id, verb, args, state, created_at, expires_at, "
              "dispatched_at, finished_at, attempts, exit_code, result, stdout, stderr, error, batch_id) VALUES ('cmd_" +
              std::string(1, static_cast<char>('g' - i)) + "', 'n_1', 'corr-" + std::to_string(i) + "', 'ping', '{}', '" +
              states[i] + "', " + std::to_string(100 + i) + ", 999999, 0, 0, 0, 0, 'null', '', '', '', '');";
    }
    ASSERT_EQ(sqlite3_exec(db.db, rows.c_str(), nullptr, nullptr, nullptr), SQLITE_OK);
  }
  {
    Db db(path);
    auto version = migrate(db.db, 1);
    ASSERT_TRUE(version.ok()) << version.error().message;
    EXPECT_EQ(*version, migrations().back().version);
    EXPECT_EQ(db.count("SELECT COUNT(*) FROM commands"), 7);
    const std::string open = "state = 'queued' OR state = 'dispatched' OR state = 'running'";
    EXPECT_EQ(db.count("SELECT COUNT(*) FROM commands INDEXED BY commands_open WHERE " + open), 3);
    // Column `col` of every row `sql` gives, joined.
    auto texts = [&](const std::string& sql, int col) {
      sqlite3_stmt* s = nullptr;
      EXPECT_EQ(sqlite3_prepare_v2(db.db, sql.c_str(), -1, &s, nullptr), SQLITE_OK) << sql;
      std::string out;
      while (sqlite3_step(s) == SQLITE_ROW) out += reinterpret_cast<const char*>(sqlite3_column_text(s, col)) + std::string("\n");
      sqlite3_finalize(s);
      return out;
    };
    // The start-up query (store: listOpenCommands) reads the index, in its order.
    const std::string plan = texts("EXPLAIN QUERY PLAN SELECT id FROM commands WHERE " + open + " ORDER BY created_at, id", 3);
    EXPECT_NE(plan.find("commands_open"), std::string::npos) << plan;
    EXPECT_EQ(plan.find("TEMP B-TREE"), std::string::npos) << plan;
    // Keeping the index costs an insert or update no temporary table (an IN list would build one each time).
    for (const std::string sql :
         {"EXPLAIN UPDATE commands SET state = ?, finished_at = ? WHERE id = ?",
          "EXPLAIN INSERT INTO commands (id, node_id, correlation_id, verb, args, state, created_at, expires_at, "
          "dispatched_at, finished_at, attempts, exit_code, result, stdout, stderr, error) VALUES "
          "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"}) {
      const std::string program = texts(sql, 1);
      EXPECT_NE(program.find("IdxInsert"), std::string::npos) << sql;
      EXPECT_EQ(program.find("OpenEphemeral"), std::string::npos) << sql;
    }
  }
  auto store = openSqliteStore(path);
  ASSERT_TRUE(store.ok()) << store.error().message;
  auto open = (*store)->listOpenCommands();
  ASSERT_TRUE(open.ok());
  ASSERT_EQ(open->size(), 3u);
  EXPECT_EQ((*open)[0].id, "cmd_g");
  EXPECT_EQ((*open)[1].id, "cmd_e");
  EXPECT_EQ((*open)[2].id, "cmd_c");
  // A command that finishes leaves the index; every row stays in the table.
  auto finished = (*open)[0];
  finished.state = CommandState::Succeeded;
  ASSERT_TRUE((*store)->updateCommand(finished).ok());
  EXPECT_EQ((*store)->listOpenCommands()->size(), 2u);
  EXPECT_EQ((*store)->listCommands("n_1", 100)->size(), 7u);
}

}  // namespace
}  // namespace berth::store::sqlite
