#include "server/command_service.hpp"

#include <gtest/gtest.h>

#include "command_service_world.hpp"

namespace berth::server {
namespace {

class CommandServiceTest : public CommandServiceWorld {
 protected:
  Result<SubmitOutcome> submit(nlohmann::json body, const std::string& node = "n_1") {
    return service.submit({node, std::move(body)});
  }
};

TEST_F(CommandServiceTest, BadInputNamesTheField) {
  const std::vector<std::pair<nlohmann::json, std::string>> cases = {
      {nlohmann::json::array(), "body"},
      {{{"args", {}}}, "verb"},
      {{{"verb", "rm -rf"}}, "verb"},
      {{{"verb", "ping"}, {"args", "x"}}, "args"},
      {{{"verb", "ping"}, {"ttl_s", 0}}, "ttl_s"},
      {{{"verb", "ping"}, {"ttl_s", "5"}}, "ttl_s"},
      {{{"verb", "ping"}, {"correlation_id", "has space"}}, "correlation_id"},
  };
  for (const auto& [body, field] : cases) {
    auto r = submit(body);
    ASSERT_FALSE(r.ok()) << body.dump();
    EXPECT_EQ(r.error().code, "invalid_argument");
    EXPECT_NE(r.error().message.find("'" + field + "'"), std::string::npos) << r.error().message;
  }
  EXPECT_EQ(store->listCommands("", 10)->size(), 0u);  // nothing half-stored
}

TEST_F(CommandServiceTest, CorrelationIdMakesSubmitIdempotent) {
  auto first = submit({{"verb", "ping"}, {"correlation_id", "deploy-7"}});
  ASSERT_TRUE(first.ok());
  EXPECT_TRUE(first->created);
  auto again = submit({{"verb", "ping"}, {"correlation_id", "deploy-7"}});
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->created);
  EXPECT_EQ(again->command.id, first->command.id);
  auto different = submit({{"verb", "host.info"}, {"correlation_id", "deploy-7"}});
  ASSERT_FALSE(different.ok());
  EXPECT_EQ(different.error().code, "conflict");
}

TEST_F(CommandServiceTest, ARolledBackSubmitLeavesNoTraceAndIsNeverOffered) {
  std::vector<std::string> queuedFor;
  service.onQueued([&](const std::string& node) { queuedFor.push_back(node); });
  std::string id;
  auto r = store->transaction([&]() -> Result<void> {
    auto outcome = submit({{"verb", "ping"}});
    EXPECT_TRUE(outcome.ok());
    id = outcome->command.id;
    EXPECT_EQ(service.queuedCount("n_1"), 0u);  // not before the commit
    return makeError("store_error", "disk full");
  });
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(service.queuedCount("n_1"), 0u);
  EXPECT_TRUE(service.takeForDispatch("n_1").empty());
  EXPECT_FALSE(service.openCommand(id));
  EXPECT_FALSE(store->getCommand(id)->has_value());
  EXPECT_TRUE(queuedFor.empty());
  // The same submit committed is queued and announced once.
  ASSERT_TRUE(store->transaction([&]() -> Result<void> { return submit({{"verb", "ping"}}).ok() ? Result<void>(Ok{}) : makeError("x", "y"); }).ok());
  EXPECT_EQ(service.queuedCount("n_1"), 1u);
  EXPECT_EQ(queuedFor, std::vector<std::string>{"n_1"});
}

TEST_F(CommandServiceTest, QueueIsBounded) {
  config.max_queue = 2;
  ASSERT_TRUE(submit({{"verb", "ping"}}).ok());
  ASSERT_TRUE(submit({{"verb", "ping"}}).ok());
  auto full = submit({{"verb", "ping"}});
  ASSERT_FALSE(full.ok());
  EXPECT_EQ(full.error().code, "queue_full");
  EXPECT_TRUE(submit({{"verb", "ping"}}, "n_2").ok());  // per node
}

TEST_F(CommandServiceTest, DispatchRespectsTheInFlightLimitAndRequeuesInOrder) {
  config.max_in_flight = 2;
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    now += 1;
    ids.push_back(submit({{"verb", "ping"}})->command.id);
  }
  auto sent = service.takeForDispatch("n_1");
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(sent[0].id, ids[0]);
  EXPECT_EQ(service.takeForDispatch("n_1").size(), 0u);
  service.requeueInFlight("n_1");
  EXPECT_EQ(service.queuedCount("n_1"), 3u);
  auto again = service.takeForDispatch("n_1");
  ASSERT_EQ(again.size(), 2u);
  EXPECT_EQ(again[0].id, ids[0]);
  EXPECT_EQ(again[0].attempts, 2);
  auto done =
      service.complete("n_1", again[0].correlation_id, {{"status", "succeeded"}, {"output", {{"pong", true}}}}, "");
  ASSERT_TRUE(done.has_value());
  EXPECT_EQ(done->state, store::CommandState::Succeeded);
  EXPECT_FALSE(service.complete("n_1", again[0].correlation_id, {}, "").has_value());  // duplicate RESULT
  EXPECT_EQ(service.takeForDispatch("n_1").size(), 1u);
}

TEST_F(CommandServiceTest, QueuedCommandsExpireAtTheirTtl) {
  auto c = submit({{"verb", "ping"}, {"ttl_s", 5}});
  now += 4'000;
  EXPECT_EQ(service.expireDue(), 0u);
  now += 1'000;
  EXPECT_EQ(service.expireDue(), 1u);
  EXPECT_EQ((*store->getCommand(c->command.id))->state, store::CommandState::Expired);
}

TEST_F(CommandServiceTest, LoadAfterRestartRequeuesWhatWasInFlight) {
  auto c = submit({{"verb", "ping"}});
  ASSERT_EQ(service.takeForDispatch("n_1").size(), 1u);
  EXPECT_EQ(service.openCommand(c->command.id)->state, store::CommandState::Dispatched);
  CommandService restarted(
      *store, metrics, [this] { return now; }, config);
  ASSERT_TRUE(restarted.load().ok());
  EXPECT_EQ(restarted.queuedCount("n_1"), 1u);
  EXPECT_EQ((*store->getCommand(c->command.id))->state, store::CommandState::Queued);
}

TEST_F(CommandServiceTest, OutputIsTruncatedToTheLimit) {
  config.max_output_bytes = 4;
  auto c = submit({{"verb", "ping"}});
  auto sent = service.takeForDispatch("n_1");
  auto done = service.complete("n_1", sent[0].correlation_id, {{"stdout", "0123456789"}}, "");
  EXPECT_EQ(done->stdout_text, "0123");
  EXPECT_EQ(done->result["output_truncated"], true);
}

TEST_F(CommandServiceTest, OnlyQueuedCommandsCanBeCancelled) {
  auto a = submit({{"verb", "ping"}});
  ASSERT_TRUE(service.cancel(a->command.id).ok());
  EXPECT_EQ((*store->getCommand(a->command.id))->state, store::CommandState::Cancelled);
  EXPECT_EQ(service.cancel(a->command.id).error().code, "conflict");
  EXPECT_EQ(service.cancel("cmd_missing").error().code, "not_found");
}

}  // namespace
}  // namespace berth::server
