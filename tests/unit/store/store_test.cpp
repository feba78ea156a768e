// The shared suite every Store implementation must pass. Today: SQLite.
#include "store/store.hpp"

#include <gtest/gtest.h>

#include <tuple>

#include <functional>

#include "../temp_dir.hpp"
#include "apps/domains.hpp"

namespace berth::store {
namespace {

using Factory = std::function<std::unique_ptr<Store>(const std::string& dir)>;

class StoreTest : public ::testing::TestWithParam<Factory> {
 protected:
  berth::testing::TempDir dir;
  std::unique_ptr<Store> open() { return GetParam()(dir.path()); }
};

Command makeCommand(const std::string& id, const std::string& corr, std::int64_t at) {
  Command c;
  c.id = id;
  c.node_id = "n_1";
  c.correlation_id = corr;
  c.verb = "ping";
  c.created_at = at;
  c.expires_at = at + 1000;
  return c;
}

TEST_P(StoreTest, JoinTokenIsConsumedOnce) {
  auto store = open();
  ASSERT_TRUE(store->insertJoinToken({"t1", "hash1", "", 0, 5000, 0, ""}).ok());
  auto first = store->consumeJoinToken("hash1", "n_a", 1000);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->used_by_node, "n_a");
  auto second = store->consumeJoinToken("hash1", "n_b", 1001);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.error().code, "token_unknown");  // a used token is deleted, not kept
}

TEST_P(StoreTest, ExpiredTokensArePrunedAndNodeBindingIsKept) {
  auto store = open();
  ASSERT_TRUE(store->insertJoinToken({"t1", "old", "", 0, 5000, 0, "", ""}).ok());
  ASSERT_TRUE(store->insertJoinToken({"t2", "live", "", 0, 9000, 0, "", "n_7"}).ok());
  auto pruned = store->pruneJoinTokens(5000);
  ASSERT_TRUE(pruned.ok());
  EXPECT_EQ(*pruned, 1);
  EXPECT_EQ(store->consumeJoinToken("old", "n", 1).error().code, "token_unknown");
  auto live = store->consumeJoinToken("live", "n_7", 6000);
  ASSERT_TRUE(live.ok());
  EXPECT_EQ(live->node_id, "n_7");
}

Command finishedCommand(const std::string& id, std::int64_t at, CommandState state) {
  Command c = makeCommand(id, "corr-" + id, at);
  c.state = state;
  return c;
}

TEST_P(StoreTest, PruningRemovesOnlyOldFinishedCommandsOldestFirst) {
  auto store = open();
  ASSERT_TRUE(store->insertCommand(finishedCommand("c0", 1000, CommandState::Succeeded)).ok());
  ASSERT_TRUE(store->insertCommand(finishedCommand("c1", 1001, CommandState::Failed)).ok());
  ASSERT_TRUE(store->insertCommand(finishedCommand("c2", 1002, CommandState::Queued)).ok());
  ASSERT_TRUE(store->insertCommand(finishedCommand("c3", 1003, CommandState::Running)).ok());
  ASSERT_TRUE(store->insertCommand(finishedCommand("c4", 1004, CommandState::Expired)).ok());
  ASSERT_TRUE(store->insertCommand(finishedCommand("c5", 1005, CommandState::Cancelled)).ok());
  ASSERT_TRUE(store->insertCommand(finishedCommand("c6", 2000, CommandState::Succeeded)).ok());  // not old enough
  auto exists = [&](const std::string& id) { return store->getCommand(id)->has_value(); };

  auto first = store->pruneCommands(2000, "c9", 2);
  ASSERT_TRUE(first.ok()) << first.error().message;
  EXPECT_EQ(*first, 2);
  EXPECT_FALSE(exists("c0"));
  EXPECT_FALSE(exists("c1"));
  EXPECT_TRUE(exists("c4"));  // the limit held

  auto rest = store->pruneCommands(2000, "c9", 100);
  ASSERT_TRUE(rest.ok());
  EXPECT_EQ(*rest, 2);
  EXPECT_FALSE(exists("c4"));
  EXPECT_FALSE(exists("c5"));
  EXPECT_TRUE(exists("c2"));  // open commands stay whatever their age
  EXPECT_TRUE(exists("c3"));
  EXPECT_TRUE(exists("c6"));
  EXPECT_EQ(*store->pruneCommands(2000, "c9", 100), 0);
  EXPECT_EQ(store->listOpenCommands()->size(), 2u);
}

TEST_P(StoreTest, PruningIsNotBlockedByACommandMadeWhileTheClockWasAhead) {
  // Found by the attack pass: the first row, made with a clock far ahead, held back every
  // later one when the scan went in row order and stopped at the first recent row.
  auto store = open();
  ASSERT_TRUE(store->insertCommand(finishedCommand("c_9_future", 900'000, CommandState::Succeeded)).ok());
  for (int i = 0; i < 5; ++i)
    ASSERT_TRUE(store->insertCommand(finishedCommand("c_1_" + std::to_string(i), 1000 + i, CommandState::Failed)).ok());
  auto pruned = store->pruneCommands(2000, "c_2", 100);
  ASSERT_TRUE(pruned.ok()) << pruned.error().message;
  EXPECT_EQ(*pruned, 5);
  EXPECT_TRUE(store->getCommand("c_9_future")->has_value());
}

TEST_P(StoreTest, PruningRemovesABatchOnceNoneOfItsCommandsIsLeft) {
  auto store = open();
  for (const std::string id : {"b_done", "b_open"}) {
    CommandBatch b;
    b.id = id;
    b.selector = "all";
    b.verb = "ping";
    b.node_count = 1;
    b.created_at = 1000;
    ASSERT_TRUE(store->insertCommandBatch(b).ok());
  }
  Command done = finishedCommand("c_done", 1000, CommandState::Succeeded);
  done.batch_id = "b_done";
  Command open = finishedCommand("c_open", 1000, CommandState::Queued);
  open.batch_id = "b_open";
  ASSERT_TRUE(store->insertCommand(done).ok());
  ASSERT_TRUE(store->insertCommand(open).ok());
  ASSERT_EQ(*store->pruneCommands(5000, "d", 100), 1);
  EXPECT_FALSE(store->getCommandBatch("b_done")->has_value());
  EXPECT_TRUE(store->getCommandBatch("b_open")->has_value());
  EXPECT_EQ(store->listBatchCommands("b_open")->size(), 1u);
}

TEST_P(StoreTest, NodeKeepsItsPreviousCertificateSerial) {
  auto store = open();
  Node n;
  n.id = "n_1";
  n.cert_serial = "BB";
  n.previous_cert_serial = "AA";
  ASSERT_TRUE(store->upsertNode(n).ok());
  auto back = store->getNode("n_1");
  ASSERT_TRUE(back.ok() && back->has_value());
  EXPECT_EQ((*back)->cert_serial, "BB");
  EXPECT_EQ((*back)->previous_cert_serial, "AA");
}

TEST_P(StoreTest, ExpiredAndUnknownTokensAreRefused) {
  auto store = open();
  ASSERT_TRUE(store->insertJoinToken({"t1", "hash1", "", 0, 5000, 0, ""}).ok());
  EXPECT_EQ(store->consumeJoinToken("hash1", "n", 5000).error().code, "token_expired");
  EXPECT_EQ(store->consumeJoinToken("nope", "n", 1).error().code, "token_unknown");
  // A refused expired token stays unused (nothing half-applied).
  EXPECT_EQ(store->consumeJoinToken("hash1", "n", 6000).error().code, "token_expired");
}

TEST_P(StoreTest, CommandsSurviveReopenAndAreFoundByCorrelation) {
  {
    auto store = open();
    ASSERT_TRUE(store->insertCommand(makeCommand("c1", "corr-1", 10)).ok());
    ASSERT_TRUE(store->insertCommand(makeCommand("c2", "corr-2", 20)).ok());
    auto dup = store->insertCommand(makeCommand("c3", "corr-1", 30));
    ASSERT_FALSE(dup.ok());
    EXPECT_EQ(dup.error().code, "conflict");
    auto c2 = *store->getCommand("c2");
    c2->state = CommandState::Succeeded;
    c2->result = {{"pong", true}};
    ASSERT_TRUE(store->updateCommand(*c2).ok());
  }
  auto store = open();
  auto found = store->findCommandByCorrelation("n_1", "corr-1");
  ASSERT_TRUE(found.ok());
  ASSERT_TRUE(found->has_value());
  EXPECT_EQ((*found)->id, "c1");
  auto open = store->listOpenCommands();
  ASSERT_EQ(open->size(), 1u);
  EXPECT_EQ(open->front().id, "c1");
  auto c2 = *store->getCommand("c2");
  EXPECT_EQ(c2->state, CommandState::Succeeded);
  EXPECT_EQ(c2->result["pong"], true);
  auto listed = store->listCommands("n_1", 10);
  ASSERT_EQ(listed->size(), 2u);
  EXPECT_EQ(listed->front().id, "c2");  // newest first
}

TEST_P(StoreTest, TelemetryKeepsOnlyTheNewest) {
  auto store = open();
  for (int i = 0; i < 10; i += 2) {
    ASSERT_TRUE(
        store->appendTelemetry({{"n_1", {i, {{"i", i}}}}, {"n_1", {i + 1, {{"i", i + 1}}}}, {"n_2", {i, {}}}}, 3).ok());
  }
  EXPECT_EQ(store->telemetryHistory("n_2", 100)->size(), 3u);
  auto history = store->telemetryHistory("n_1", 100);
  ASSERT_EQ(history->size(), 3u);
  EXPECT_EQ(history->front().data["i"], 9);
  EXPECT_EQ(history->back().data["i"], 7);
}

TEST_P(StoreTest, NodesAndAuditRoundTrip) {
  auto store = open();
  Node n;
  n.id = "n_1";
  n.hostname = "web-1";
  n.labels = {{"zone", "a"}};
  n.status = NodeStatus::Revoked;
  ASSERT_TRUE(store->upsertNode(n).ok());
  auto back = store->getNode("n_1");
  ASSERT_TRUE(back->has_value());
  EXPECT_EQ((*back)->labels["zone"], "a");
  EXPECT_EQ((*back)->status, NodeStatus::Revoked);
  store::AuditRecord record;
  record.id = 1;
  record.at = 5;
  record.actor = "key:k";
  record.request_id = "req_1";
  ASSERT_TRUE(store->appendAudit(record).ok());
  auto audit = store->listAudit({});
  ASSERT_EQ(audit->size(), 1u);
  EXPECT_EQ(audit->front().request_id, "req_1");
}

// Filters, both directions, the head, and ids that cannot be taken twice.
TEST_P(StoreTest, AuditRecordsFilterAndPage) {
  auto store = open();
  for (int i = 1; i <= 6; ++i) {
    store::AuditRecord r;
    r.id = i;
    r.at = 1000 * i;
    r.actor = i % 2 ? "key:odd" : "key:even";
    r.org = i <= 3 ? "acme" : "beta";
    r.target = i == 4 ? "web" : "other";
    r.hash = "h" + std::to_string(i);
    ASSERT_TRUE(store->appendAudit(r).ok());
  }
  store::AuditRecord again;
  again.id = 3;
  EXPECT_EQ(store->appendAudit(again).error().code, "conflict");
  auto ids = [&](const store::AuditQuery& q) {
    std::vector<std::int64_t> out;
    auto records = store->listAudit(q);
    for (const auto& r : *records) out.push_back(r.id);
    return out;
  };
  EXPECT_EQ(ids({}), (std::vector<std::int64_t>{6, 5, 4, 3, 2, 1}));
  store::AuditQuery q;
  q.org = "acme";
  EXPECT_EQ(ids(q), (std::vector<std::int64_t>{3, 2, 1}));
  q.actor = "key:odd";
  EXPECT_EQ(ids(q), (std::vector<std::int64_t>{3, 1}));
  q = {};
  q.target = "web";
  EXPECT_EQ(ids(q), (std::vector<std::int64_t>{4}));
  q = {};
  q.since_ms = 5000;
  EXPECT_EQ(ids(q), (std::vector<std::int64_t>{6, 5}));
  q = {};
  q.after_id = 0;
  q.limit = 2;
  EXPECT_EQ(ids(q), (std::vector<std::int64_t>{1, 2}));
  q.after_id = 2;
  EXPECT_EQ(ids(q), (std::vector<std::int64_t>{3, 4}));
  q = {};
  q.before_id = 4;
  q.limit = 2;
  EXPECT_EQ(ids(q), (std::vector<std::int64_t>{3, 2}));
  auto head = store->auditHead();
  ASSERT_TRUE(head.ok());
  EXPECT_EQ(head->id, 6);
  EXPECT_EQ(head->hash, "h6");
}

TEST_P(StoreTest, FailedTransactionLeavesNothingBehind) {
  auto store = open();
  auto r = store->transaction([&]() -> Result<void> {
    if (auto w = store->insertCommand(makeCommand("c1", "corr-1", 10)); !w) return w;
    return makeError("invalid_argument", "changed my mind");
  });
  ASSERT_FALSE(r.ok());
  EXPECT_FALSE(store->getCommand("c1")->has_value());
}

TEST_P(StoreTest, GroupCommitHoldsWritesUntilFlushAndKeepsFailuresApart) {
  auto store = open();
  auto reader = open();  // a second connection sees only committed data
  int opened = 0;
  store->enableGroupCommit([&] { ++opened; });
  ASSERT_TRUE(store->transaction([&] { return store->insertCommand(makeCommand("c1", "corr-1", 10)); }).ok());
  auto failed = store->transaction([&]() -> Result<void> {
    (void)store->insertCommand(makeCommand("c2", "corr-2", 20));
    return makeError("invalid_argument", "no");
  });
  ASSERT_FALSE(failed.ok());
  ASSERT_TRUE(store->transaction([&] { return store->insertCommand(makeCommand("c3", "corr-3", 30)); }).ok());
  EXPECT_EQ(opened, 1);
  EXPECT_TRUE(store->batchOpen());
  EXPECT_FALSE(reader->getCommand("c1")->has_value());
  ASSERT_TRUE(store->flush().ok());
  EXPECT_FALSE(store->batchOpen());
  EXPECT_TRUE(reader->getCommand("c1")->has_value());
  EXPECT_FALSE(reader->getCommand("c2")->has_value());
  EXPECT_TRUE(reader->getCommand("c3")->has_value());
}

TEST_P(StoreTest, AppsDeploymentsAndEventsRoundTripAndDeleteTogether) {
  auto store = open();
  App app;
  app.name = "web";
  app.node_id = "n_1";
  app.selector = {{"zone", "a"}};
  app.current_deployment = 2;
  app.next_deployment = 3;
  app.created_at = 5;
  ASSERT_TRUE(store->upsertApp(app).ok());
  app.desired = AppDesired::Stopped;
  ASSERT_TRUE(store->upsertApp(app).ok());
  auto got = store->getApp("web");
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ((*got)->desired, AppDesired::Stopped);
  EXPECT_EQ((*got)->selector["zone"], "a");
  EXPECT_EQ((*got)->next_deployment, 3);
  for (int n : {1, 2}) {
    Deployment d;
    d.app = "web";
    d.number = n;
    d.spec = {{"image", "web:" + std::to_string(n)}};
    d.sealed_secrets = "sealed";
    d.state = n == 2 ? DeploymentState::Healthy : DeploymentState::Superseded;
    ASSERT_TRUE(store->upsertDeployment(d).ok());
  }
  auto list = store->listDeployments("web");
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].number, 2);  // newest first
  EXPECT_EQ((*list)[0].spec["image"], "web:2");
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(store->appendAppEvent({0, "web", 2, i, "drift", std::to_string(i)}).ok());
  auto events = store->listAppEvents("web", 3);
  ASSERT_EQ(events->size(), 3u);
  EXPECT_EQ((*events)[0].reason, "2");  // the newest three, oldest first
  EXPECT_EQ((*events)[2].reason, "4");
  ASSERT_TRUE(store->deleteApp("web").ok());
  EXPECT_FALSE(store->getApp("web")->has_value());
  EXPECT_TRUE(store->listDeployments("web")->empty());
  EXPECT_TRUE(store->listAppEvents("web", 10)->empty());
}

TEST_P(StoreTest, LogsPageByCursorAndPruneByAgeAndSize) {
  auto store = open();
  std::vector<LogRecord> records;
  for (int i = 0; i < 10; ++i) records.push_back({0, "web", 1, 0, 1000 + i, "stdout", std::string(10, 'a' + i)});
  records.push_back({0, "db", 1, 0, 1005, "stderr", "other app"});
  ASSERT_TRUE(store->appendLogs(records).ok());
  EXPECT_LT(records[0].seq, records[1].seq);
  auto page = store->listLogs("web", 0, 0, 4);
  ASSERT_EQ(page->size(), 4u);
  auto next = store->listLogs("web", page->back().seq, 0, 100);
  ASSERT_EQ(next->size(), 6u);
  EXPECT_EQ(next->front().text, std::string(10, 'e'));
  EXPECT_EQ(store->listLogs("web", 0, 1008, 100)->size(), 2u);  // --since
  // Age: lines before 1003 go. Size: what three lines cost (text plus the per-row overhead) stays per app.
  auto removed = store->pruneLogs(1003, 3 * (10 + kLogRowOverheadBytes));
  ASSERT_TRUE(removed.ok());
  EXPECT_EQ(*removed, 3 + 4);
  auto left = store->listLogs("web", 0, 0, 100);
  ASSERT_EQ(left->size(), 3u);
  EXPECT_EQ(left->front().text, std::string(10, 'h'));
  EXPECT_EQ(store->listLogs("db", 0, 0, 100)->size(), 1u);
}

TEST_P(StoreTest, RetentionCountsWhatARowCostsNotOnlyItsText) {
  auto store = open();
  std::vector<LogRecord> records;
  for (int i = 0; i < 1000; ++i) records.push_back({0, "chatty", 1, 0, 2000 + i, "stdout", "x"});
  ASSERT_TRUE(store->appendLogs(records).ok());
  // 1000 one-character lines are 1000 bytes of text but ~65 KB of rows: a 10,000-byte budget keeps ~150.
  auto removed = store->pruneLogs(0, 10'000);
  ASSERT_TRUE(removed.ok());
  const auto kept = store->listLogs("chatty", 0, 0, 5000)->size();
  EXPECT_EQ(kept, static_cast<std::size_t>(10'000 / (1 + kLogRowOverheadBytes)));
  EXPECT_EQ(*removed, static_cast<std::int64_t>(1000 - kept));
  EXPECT_EQ(store->listLogs("chatty", 0, 0, 5000)->back().at, 2999);  // the newest stay
}

TEST_P(StoreTest, TailReturnsTheNewestLinesInOrder) {
  auto store = open();
  std::vector<LogRecord> records;
  for (int i = 0; i < 250; ++i) records.push_back({0, "web", 1, 0, 1000 + i, "stdout", "line " + std::to_string(i)});
  records.push_back({0, "db", 1, 0, 5000, "stdout", "other app"});
  ASSERT_TRUE(store->appendLogs(records).ok());
  auto tail = store->tailLogs("web", 0, 100);
  ASSERT_TRUE(tail.ok());
  ASSERT_EQ(tail->size(), 100u);
  EXPECT_EQ(tail->front().text, "line 150");
  EXPECT_EQ(tail->back().text, "line 249");
  EXPECT_LT(tail->front().seq, tail->back().seq);
  EXPECT_EQ(store->tailLogs("web", 1245, 100)->size(), 5u);  // with --since
  EXPECT_EQ(store->tailLogs("web", 0, 1000)->size(), 250u);
  EXPECT_TRUE(store->tailLogs("web", 0, 0)->empty());
}

TEST_P(StoreTest, DeploymentIdRoundTrips) {
  auto store = open();
  Deployment d;
  d.app = "web";
  d.number = 2;
  d.deployment_id = "dep_0123456789abcdef";
  ASSERT_TRUE(store->upsertDeployment(d).ok());
  EXPECT_EQ((*store->getDeployment("web", 2))->deployment_id, "dep_0123456789abcdef");
  d.state = DeploymentState::Healthy;
  ASSERT_TRUE(store->upsertDeployment(d).ok());
  EXPECT_EQ(store->listDeployments("web")->front().deployment_id, "dep_0123456789abcdef");
}

TEST_P(StoreTest, AfterCommitRunsOnlyForWhatCommitted) {
  auto store = open();
  std::vector<std::string> ran;
  store->afterCommit([&] { ran.push_back("outside"); });  // no transaction: at once
  EXPECT_EQ(ran, std::vector<std::string>{"outside"});
  ran.clear();
  ASSERT_TRUE(store
                  ->transaction([&]() -> Result<void> {
                    store->afterCommit([&] { ran.push_back("outer"); });
                    // A savepoint that fails takes its callbacks with it.
                    (void)store->transaction([&]() -> Result<void> {
                      store->afterCommit([&] { ran.push_back("failed inner"); });
                      return makeError("x", "refused");
                    });
                    EXPECT_TRUE(store->transaction([&]() -> Result<void> {
                      store->afterCommit([&] { ran.push_back("inner"); });
                      return Ok{};
                    }).ok());
                    EXPECT_TRUE(ran.empty());  // nothing before the commit
                    return Ok{};
                  })
                  .ok());
  EXPECT_EQ(ran, (std::vector<std::string>{"outer", "inner"}));
  ran.clear();
  EXPECT_FALSE(store->transaction([&]() -> Result<void> {
    store->afterCommit([&] { ran.push_back("rolled back"); });
    return makeError("x", "refused");
  }).ok());
  EXPECT_TRUE(ran.empty());
}

// Savepoints are prepared once per nesting level and reused: a failed inner
// transaction takes its rows with it, every time, at each level, inside a
// plain transaction and inside an open group-commit batch alike.
TEST_P(StoreTest, NestedTransactionsRollBackOnlyTheirOwnRowsEveryTime) {
  auto store = open();
  auto inner = [&](const std::string& id, bool fail) {
    return store->transaction([&]() -> Result<void> {
      if (auto r = store->insertCommand(makeCommand(id, "corr-" + id, 10)); !r) return r;
      // One level deeper, always refused.
      (void)store->transaction([&]() -> Result<void> {
        if (auto r = store->insertCommand(makeCommand(id + "-deep", "corr-" + id + "-deep", 10)); !r) return r;
        return makeError("x", "refused");
      });
      if (fail) return makeError("x", "refused");
      return Ok{};
    });
  };
  for (int batch = 0; batch < 2; ++batch) {
    if (batch == 1) store->enableGroupCommit([] {});
    for (int round = 0; round < 3; ++round) {
      const std::string tag = std::to_string(batch) + "-" + std::to_string(round);
      ASSERT_TRUE(store->transaction([&]() -> Result<void> {
        EXPECT_TRUE(inner("kept" + tag, false).ok());
        EXPECT_FALSE(inner("gone" + tag, true).ok());
        return Ok{};
      }).ok());
    }
    ASSERT_TRUE(store->flush().ok());
  }
  for (int batch = 0; batch < 2; ++batch) {
    for (int round = 0; round < 3; ++round) {
      const std::string tag = std::to_string(batch) + "-" + std::to_string(round);
      EXPECT_TRUE(store->getCommand("kept" + tag)->has_value()) << tag;
      EXPECT_FALSE(store->getCommand("gone" + tag)->has_value()) << tag;
      EXPECT_FALSE(store->getCommand("kept" + tag + "-deep")->has_value()) << tag;
    }
  }
  EXPECT_EQ(store->listCommands("", 100)->size(), 6u);
}

TEST_P(StoreTest, AfterCommitUnderGroupCommitWaitsForTheFlush) {
  auto store = open();
  store->enableGroupCommit([] {});
  std::vector<std::string> ran;
  ASSERT_TRUE(store->transaction([&]() -> Result<void> {
    store->afterCommit([&] { ran.push_back("a"); });
    return Ok{};
  }).ok());
  EXPECT_FALSE(store->transaction([&]() -> Result<void> {
    store->afterCommit([&] { ran.push_back("refused"); });
    return makeError("x", "refused");
  }).ok());
  EXPECT_TRUE(ran.empty());
  ASSERT_TRUE(store->flush().ok());
  EXPECT_EQ(ran, std::vector<std::string>{"a"});
}
TEST_P(StoreTest, AppPlacementsListOnlyPlacedAppsWithARunningDeployment) {
  auto store = open();
  for (const auto& [name, node, current] : std::vector<std::tuple<std::string, std::string, int>>{
           {"web", "n_1", 2}, {"queued", "n_1", 0}, {"nowhere", "", 0}, {"api.acme", "n_2", 7}}) {
    App app;
    app.name = name;
    app.node_id = node;
    app.current_deployment = current;
    ASSERT_TRUE(store->upsertApp(app).ok());
  }
  auto placed = store->listAppPlacements();
  ASSERT_TRUE(placed.ok()) << placed.error().message;
  std::map<std::string, std::pair<std::string, int>> got;
  for (const auto& p : *placed) got[p.name] = {p.node_id, p.current_deployment};
  EXPECT_EQ(got, (std::map<std::string, std::pair<std::string, int>>{{"web", {"n_1", 2}}, {"api.acme", {"n_2", 7}}}));
}

TEST_P(StoreTest, DomainsAreUniqueAcrossAppsAndListedPerApp) {
  auto store = open();
  ASSERT_TRUE(store->insertAppDomain({"shop.example.com", "shop", "/", false, 5}).ok());
  ASSERT_TRUE(store->insertAppDomain({"api.example.com", "shop", "/v1", true, 6}).ok());
  auto taken = store->insertAppDomain({"shop.example.com", "blog", "/", false, 7});
  ASSERT_FALSE(taken.ok());
  EXPECT_EQ(taken.error().code, "domain_in_use");
  EXPECT_NE(taken.error().message.find("used by app shop"), std::string::npos) << taken.error().message;
  auto held = store->findAppDomain("shop.example.com");
  ASSERT_TRUE(held.ok() && held->has_value());
  EXPECT_EQ((*held)->app, "shop");  // the refused insert changed nothing
  EXPECT_EQ((*held)->created_at, 5);
  auto list = store->listAppDomains("shop");
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].domain, "api.example.com");  // ordered by domain
  EXPECT_EQ((*list)[0].path_prefix, "/v1");
  EXPECT_TRUE((*list)[0].strip_prefix);
  EXPECT_EQ((*list)[1].domain, "shop.example.com");
  EXPECT_FALSE((*list)[1].strip_prefix);
  EXPECT_TRUE(store->listAppDomains("blog")->empty());
  EXPECT_FALSE(store->findAppDomain("nope.example.com")->has_value());
}

TEST_P(StoreTest, AnAppHoldsAtMostTheDomainsItsNodeAccepts) {
  auto store = open();
  for (std::size_t i = 0; i < apps::kMaxDomainsPerApp; ++i)
    ASSERT_TRUE(store->insertAppDomain({"d" + std::to_string(i) + ".example.com", "shop", "/", false, 5}).ok());
  auto over = store->insertAppDomain({"over.example.com", "shop", "/", false, 6});
  ASSERT_FALSE(over.ok());
  EXPECT_NE(over.error().message.find("1000 domains already"), std::string::npos) << over.error().message;
  EXPECT_FALSE(store->findAppDomain("over.example.com")->has_value());
  EXPECT_TRUE(store->insertAppDomain({"other.example.com", "blog", "/", false, 6}).ok());  // per app
  ASSERT_TRUE(store->deleteAppDomain("shop", "d0.example.com").ok());
  EXPECT_TRUE(store->insertAppDomain({"over.example.com", "shop", "/", false, 7}).ok());
}

TEST_P(StoreTest, DomainIsRemovedOnlyByTheAppHoldingIt) {
  auto store = open();
  ASSERT_TRUE(store->insertAppDomain({"shop.example.com", "shop", "/", false, 5}).ok());
  auto other = store->deleteAppDomain("blog", "shop.example.com");
  ASSERT_TRUE(other.ok());
  EXPECT_FALSE(*other);
  EXPECT_TRUE(store->findAppDomain("shop.example.com")->has_value());
  auto own = store->deleteAppDomain("shop", "shop.example.com");
  ASSERT_TRUE(own.ok());
  EXPECT_TRUE(*own);
  EXPECT_FALSE(store->findAppDomain("shop.example.com")->has_value());
  EXPECT_FALSE(*store->deleteAppDomain("shop", "shop.example.com"));
  // Free again: another app may take it.
  EXPECT_TRUE(store->insertAppDomain({"shop.example.com", "blog", "/", false, 9}).ok());
}

TEST_P(StoreTest, DeletingAnAppFreesItsDomainsOnly) {
  auto store = open();
  App app;
  app.name = "shop";
  ASSERT_TRUE(store->upsertApp(app).ok());
  ASSERT_TRUE(store->insertAppDomain({"shop.example.com", "shop", "/", false, 5}).ok());
  ASSERT_TRUE(store->insertAppDomain({"blog.example.com", "blog", "/", false, 5}).ok());
  ASSERT_TRUE(store->deleteApp("shop").ok());
  EXPECT_TRUE(store->listAppDomains("shop")->empty());
  EXPECT_FALSE(store->findAppDomain("shop.example.com")->has_value());
  EXPECT_TRUE(store->findAppDomain("blog.example.com")->has_value());
  EXPECT_TRUE(store->insertAppDomain({"shop.example.com", "blog", "/", false, 6}).ok());
}

TEST_P(StoreTest, FailedTransactionLeavesNoDomainBehind) {
  auto store = open();
  auto r = store->transaction([&]() -> Result<void> {
    if (auto w = store->insertAppDomain({"shop.example.com", "shop", "/", false, 5}); !w) return w;
    return makeError("boom", "later step failed");
  });
  ASSERT_FALSE(r.ok());
  EXPECT_FALSE(store->findAppDomain("shop.example.com")->has_value());
}


TEST_P(StoreTest, CommandBatchesRoundTripWithTheirCommands) {
  auto store = open();
  CommandBatch b;
  b.id = "batch_1";
  b.org = "acme";
  b.actor = "key:k_1";
  b.idempotency_key = "rollout-1";
  b.selector = "role=web";
  b.verb = "ping";
  b.args = {{"delay_ms", 5}};
  b.ttl_s = 60;
  b.node_count = 2;
  b.created_at = 1000;
  ASSERT_TRUE(store->insertCommandBatch(b).ok());
  EXPECT_EQ(store->insertCommandBatch(b).error().code, "conflict");
  for (const char* node : {"n_2", "n_1"}) {
    Command c = makeCommand(std::string("cmd_") + node, std::string("batch_1:") + node, 1000);
    c.node_id = node;
    c.batch_id = "batch_1";
    ASSERT_TRUE(store->insertCommand(c).ok());
  }
  ASSERT_TRUE(store->insertCommand(makeCommand("cmd_alone", "alone", 1000)).ok());
  store.reset();
  store = open();
  auto read = store->getCommandBatch("batch_1");
  ASSERT_TRUE(read.ok() && read->has_value());
  EXPECT_EQ((*read)->org, "acme");
  EXPECT_EQ((*read)->actor, "key:k_1");
  EXPECT_EQ((*read)->idempotency_key, "rollout-1");
  EXPECT_EQ((*read)->selector, "role=web");
  EXPECT_EQ((*read)->args, b.args);
  EXPECT_EQ((*read)->ttl_s, 60);
  EXPECT_EQ((*read)->node_count, 2);
  EXPECT_EQ((*read)->created_at, 1000);
  auto commands = store->listBatchCommands("batch_1");
  ASSERT_EQ(commands->size(), 2u);
  EXPECT_EQ((*commands)[0].node_id, "n_1");  // by node id
  EXPECT_EQ((*commands)[0].batch_id, "batch_1");
  EXPECT_EQ((*store->getCommand("cmd_alone"))->batch_id, "");
  EXPECT_TRUE(store->listBatchCommands("")->empty());  // "" is not a batch
  EXPECT_FALSE(store->getCommandBatch("batch_2")->has_value());
}

INSTANTIATE_TEST_SUITE_P(Sqlite, StoreTest, ::testing::Values(Factory([](const std::string& dir) {
                           auto s = openSqliteStore(dir + "/test.db");
                           EXPECT_TRUE(s.ok());
                           return std::move(*s);
                         })),
                         [](const ::testing::TestParamInfo<Factory>&) { return std::string("Sqlite"); });

}  // namespace
}  // namespace berth::store
