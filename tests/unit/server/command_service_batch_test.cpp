// CommandService::submitBatch: one transaction, a correlation id per node
// derived from the batch, backpressure per node, the queue fed once committed.
#include <gtest/gtest.h>

#include "command_service_world.hpp"
#include "server/command_batch.hpp"

namespace berth::server {
namespace {

class CommandBatchServiceTest : public CommandServiceWorld {
 protected:
  const std::string id = "batch_0123456789abcdef0123456789abcdef";

  store::CommandBatch batch() {
    store::CommandBatch b;
    b.id = id;
    b.org = "acme";
    b.actor = "key:k_1";
    b.selector = "role=web";
    return b;
  }

  // Submits inside one transaction, as the API does; the error or the outcome.
  Result<BatchOutcome> submitCommitted(const nlohmann::json& body, const std::vector<std::string>& nodes) {
    std::optional<Result<BatchOutcome>> outcome;
    auto committed = store->transaction([&]() -> Result<void> {
      outcome = service.submitBatch(batch(), body, nodes);
      if (!*outcome) return outcome->error();
      return Ok{};
    });
    if (!committed) return committed.error();
    return *outcome;
  }
};

TEST_F(CommandBatchServiceTest, QueuesOneCommandPerNodeWithCorrelationIdsFromTheBatch) {
  std::vector<std::string> announced;
  service.onQueued([&](const std::string& node) { announced.push_back(node); });
  auto outcome = submitCommitted({{"verb", "ping"}, {"ttl_s", 60}}, {"n_1", "n_2", "n_3"});
  ASSERT_TRUE(outcome.ok()) << outcome.error().message;
  EXPECT_EQ(outcome->queued, 3u);
  EXPECT_EQ(outcome->refused, 0u);
  EXPECT_EQ(outcome->batch.node_count, 3);
  EXPECT_EQ(outcome->batch.verb, "ping");
  EXPECT_EQ(outcome->batch.ttl_s, 60);
  auto stored = store->getCommandBatch(id);
  ASSERT_TRUE(stored.ok() && stored->has_value());
  EXPECT_EQ((*stored)->org, "acme");
  EXPECT_EQ((*stored)->selector, "role=web");
  auto commands = store->listBatchCommands(id);
  ASSERT_EQ(commands->size(), 3u);
  for (const auto& c : *commands) {
    EXPECT_EQ(c.batch_id, id);
    EXPECT_EQ(c.correlation_id, batchCorrelationId(id, c.node_id));
    EXPECT_EQ(c.state, store::CommandState::Queued);
    EXPECT_EQ(c.expires_at, now + 60'000);
    EXPECT_EQ(service.queuedCount(c.node_id), 1u);
  }
  EXPECT_EQ(announced, (std::vector<std::string>{"n_1", "n_2", "n_3"}));
  // The RESULT is matched by the derived correlation id, as any command's.
  auto sent = service.takeForDispatch("n_2");
  ASSERT_EQ(sent.size(), 1u);
  auto done = service.complete("n_2", batchCorrelationId(id, "n_2"), {{"status", "failed"}, {"exit_code", 3}}, "");
  ASSERT_TRUE(done.has_value());
  EXPECT_EQ(done->state, store::CommandState::Failed);
}

TEST_F(CommandBatchServiceTest, VerbAndArgsAreValidatedOnceBeforeAnythingIsWritten) {
  const std::vector<std::pair<nlohmann::json, std::string>> cases = {
      {{{"verb", "app.deploy"}}, "verb"},  // app verbs only through /apps
      {{{"verb", "rm -rf"}}, "verb"},
      {{{"verb", "ping"}, {"args", {{"delay_ms", "soon"}}}}, "delay_ms"},
      {{{"verb", "ping"}, {"args", {{"command", "id"}}}}, "command"},
      {{{"verb", "ping"}, {"ttl_s", 0}}, "ttl_s"},
  };
  for (const auto& [body, field] : cases) {
    auto r = submitCommitted(body, {"n_1", "n_2"});
    ASSERT_FALSE(r.ok()) << body.dump();
    EXPECT_EQ(r.error().code, "invalid_argument");
    EXPECT_NE(r.error().message.find(field), std::string::npos) << r.error().message;
  }
  EXPECT_FALSE(store->getCommandBatch(id)->has_value());
  EXPECT_EQ(store->listCommands("", 10)->size(), 0u);
}

TEST_F(CommandBatchServiceTest, AFullQueueFailsOnlyThatNodesEntry) {
  config.max_queue = 1;
  ASSERT_TRUE(service.submit({"n_2", {{"verb", "ping"}}}).ok());  // n_2's queue is now full
  auto outcome = submitCommitted({{"verb", "ping"}}, {"n_1", "n_2", "n_3"});
  ASSERT_TRUE(outcome.ok()) << outcome.error().message;
  EXPECT_EQ(outcome->queued, 2u);
  EXPECT_EQ(outcome->refused, 1u);
  auto entries = store->listBatchCommands(id);  // a named Result: the loop must not outlive it
  ASSERT_TRUE(entries.ok());
  for (const auto& c : *entries) {
    if (c.node_id == "n_2") {
      EXPECT_EQ(c.state, store::CommandState::Failed);
      EXPECT_EQ(c.error.rfind("queue_full: ", 0), 0u) << c.error;
    } else {
      EXPECT_EQ(c.state, store::CommandState::Queued) << c.node_id;
    }
  }
  EXPECT_EQ(service.queuedCount("n_1"), 1u);
  EXPECT_EQ(service.queuedCount("n_2"), 1u);  // only the earlier command
  EXPECT_EQ(metrics.commands_finished_total["failed"], 1u);
}

TEST_F(CommandBatchServiceTest, EveryQueueFullRefusesTheWholeBatch) {
  config.max_queue = 1;
  ASSERT_TRUE(service.submit({"n_1", {{"verb", "ping"}}}).ok());
  auto r = submitCommitted({{"verb", "ping"}}, {"n_1"});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "queue_full");
  EXPECT_FALSE(store->getCommandBatch(id)->has_value());  // rolled back with the request
}

TEST_F(CommandBatchServiceTest, ARolledBackBatchQueuesNothing) {
  std::vector<std::string> announced;
  service.onQueued([&](const std::string& node) { announced.push_back(node); });
  auto r = store->transaction([&]() -> Result<void> {
    EXPECT_TRUE(service.submitBatch(batch(), {{"verb", "ping"}}, {"n_1", "n_2"}).ok());
    return makeError("store_error", "disk full");
  });
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(announced.empty());
  EXPECT_EQ(service.queuedCount("n_1"), 0u);
  EXPECT_FALSE(store->getCommandBatch(id)->has_value());
  EXPECT_TRUE(store->listBatchCommands(id)->empty());
}

TEST_F(CommandBatchServiceTest, TheSameBatchIdIsNeverWrittenTwice) {
  ASSERT_TRUE(submitCommitted({{"verb", "ping"}}, {"n_1"}).ok());
  auto again = submitCommitted({{"verb", "ping"}}, {"n_1"});
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code, "conflict");
  EXPECT_EQ(store->listBatchCommands(id)->size(), 1u);
  EXPECT_EQ(service.queuedCount("n_1"), 1u);
}

TEST_F(CommandBatchServiceTest, ASingleCommandCannotTakeABatchsCorrelationId) {
  auto r = service.submit({"n_1", {{"verb", "ping"}, {"correlation_id", batchCorrelationId(id, "n_1")}}});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "invalid_argument");
  EXPECT_NE(r.error().message.find("'correlation_id'"), std::string::npos) << r.error().message;
}

TEST_F(CommandBatchServiceTest, BatchCommandsSurviveARestart) {
  ASSERT_TRUE(submitCommitted({{"verb", "ping"}}, {"n_1", "n_2"}).ok());
  CommandService restarted(*store, metrics, [this] { return now; }, config);
  ASSERT_TRUE(restarted.load().ok());
  EXPECT_EQ(restarted.queuedCount("n_1"), 1u);
  auto sent = restarted.takeForDispatch("n_2");
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].batch_id, id);
  EXPECT_EQ(sent[0].correlation_id, batchCorrelationId(id, "n_2"));
}

}  // namespace
}  // namespace berth::server
