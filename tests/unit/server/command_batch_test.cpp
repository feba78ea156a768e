#include "server/command_batch.hpp"

#include <gtest/gtest.h>

namespace berth::server {
namespace {

std::vector<BatchCandidate> batchFleet() {
  return {
      {"n_a1", "acme", false, {{"role", "web"}, {"zone", "eu"}}},
      {"n_a2", "acme", false, {{"role", "web"}, {"zone", "us"}}},
      {"n_a3", "acme", false, {{"role", "db"}}},
      {"n_a4", "acme", true, {{"role", "web"}, {"zone", "eu"}}},  // revoked
      {"n_b1", "beta", false, {{"role", "web"}, {"zone", "eu"}}},
      {"n_p1", "", false, {{"role", "web"}, {"zone", "eu"}}},  // a platform node
  };
}

BatchTarget batchTarget(const std::string& text) {
  BatchTarget t;
  if (text == "all") {
    t.all = true;
    t.text = "all";
  } else {
    t.selector = *apps::parseLabelSelector("selector", text);
    t.text = apps::selectorText(t.selector);
  }
  return t;
}

TEST(CommandBatch, ParsesASelectorOrAllWithTheCommand) {
  auto r = parseBatchRequest({{"selector", "zone=eu,role=web"}, {"verb", "ping"}, {"args", {{"delay_ms", 5}}}, {"ttl_s", 60}}, "");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_FALSE(r->target.all);
  EXPECT_EQ(r->target.text, "role=web,zone=eu");
  EXPECT_EQ(r->command, (nlohmann::json{{"verb", "ping"}, {"args", {{"delay_ms", 5}}}, {"ttl_s", 60}}));
  EXPECT_EQ(r->idempotency_key, "");
  auto all = parseBatchRequest({{"all", true}, {"verb", "host.info"}}, "retry-7");
  ASSERT_TRUE(all.ok()) << all.error().message;
  EXPECT_TRUE(all->target.all);
  EXPECT_EQ(all->target.text, "all");
  EXPECT_EQ(all->idempotency_key, "retry-7");
  auto fromBody = parseBatchRequest({{"all", true}, {"verb", "ping"}, {"idempotency_key", "k1"}}, "k1");
  ASSERT_TRUE(fromBody.ok());
  EXPECT_EQ(fromBody->idempotency_key, "k1");
}

TEST(CommandBatch, BadRequestsNameTheField) {
  const std::vector<std::tuple<nlohmann::json, std::string, std::string>> cases = {
      {nlohmann::json::array(), "", "body"},
      {{{"verb", "ping"}}, "", "selector"},                                         // neither
      {{{"verb", "ping"}, {"all", true}, {"selector", "a=b"}}, "", "selector"},     // both
      {{{"verb", "ping"}, {"all", false}}, "", "selector"},                         // all: false selects nothing
      {{{"verb", "ping"}, {"all", "yes"}}, "", "all"},
      {{{"verb", "ping"}, {"selector", 5}}, "", "selector"},
      {{{"verb", "ping"}, {"selector", "role"}}, "", "selector"},
      {{{"verb", "ping"}, {"all", true}, {"correlation_id", "x"}}, "", "correlation_id"},
      {{{"verb", "ping"}, {"all", true}, {"idempotency_key", 5}}, "", "idempotency_key"},
      {{{"verb", "ping"}, {"all", true}, {"idempotency_key", "a"}}, "b", "idempotency_key"},
      {{{"verb", "ping"}, {"all", true}}, "has space", "idempotency_key"},
      {{{"verb", "ping"}, {"all", true}}, std::string(129, 'k'), "idempotency_key"},
      {{{"verb", "ping"}, {"all", true}}, "bell\x07", "idempotency_key"},
  };
  for (const auto& [body, header, field] : cases) {
    auto r = parseBatchRequest(body, header);
    ASSERT_FALSE(r.ok()) << body.dump();
    EXPECT_EQ(r.error().code, "invalid_argument");
    EXPECT_NE(r.error().message.find("'" + field + "'"), std::string::npos) << body.dump() << ": " << r.error().message;
  }
}

TEST(CommandBatch, AnOrgReachesOnlyItsOwnNodesThatMatchAndAreNotRevoked) {
  auto web = selectBatchNodes(batchFleet(), batchTarget("role=web"), {"acme", false}, 10000);
  ASSERT_TRUE(web.ok()) << web.error().message;
  EXPECT_EQ(*web, (std::vector<std::string>{"n_a1", "n_a2"}));
  auto eu = selectBatchNodes(batchFleet(), batchTarget("role=web,zone=eu"), {"acme", false}, 10000);
  EXPECT_EQ(*eu, std::vector<std::string>{"n_a1"});
  auto all = selectBatchNodes(batchFleet(), batchTarget("all"), {"acme", false}, 10000);
  EXPECT_EQ(*all, (std::vector<std::string>{"n_a1", "n_a2", "n_a3"}));
  EXPECT_EQ(*selectBatchNodes(batchFleet(), batchTarget("all"), {"beta", false}, 10000), std::vector<std::string>{"n_b1"});
}

TEST(CommandBatch, APlatformAdminReachesEveryOrgsNodes) {
  auto eu = selectBatchNodes(batchFleet(), batchTarget("zone=eu"), {"", true}, 10000);
  EXPECT_EQ(*eu, (std::vector<std::string>{"n_a1", "n_b1", "n_p1"}));
  EXPECT_EQ(selectBatchNodes(batchFleet(), batchTarget("all"), {"", true}, 10000)->size(), 5u);
}

TEST(CommandBatch, NoMatchIsAnErrorNamingTheSelector) {
  auto none = selectBatchNodes(batchFleet(), batchTarget("role=cache"), {"acme", false}, 10000);
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.error().code, "no_node");
  EXPECT_NE(none.error().message.find("'role=cache'"), std::string::npos) << none.error().message;
  EXPECT_NE(none.error().message.find("acme"), std::string::npos) << none.error().message;
  // A platform node matching the selector is not the org's to command.
  auto platformOnly = selectBatchNodes({batchFleet()[5]}, batchTarget("all"), {"acme", false}, 10000);
  ASSERT_FALSE(platformOnly.ok());
  EXPECT_NE(platformOnly.error().message.find("'all'"), std::string::npos) << platformOnly.error().message;
  // An org named "" (a caller without one) reaches no platform node either.
  EXPECT_FALSE(selectBatchNodes({batchFleet()[5]}, batchTarget("all"), {"", false}, 10000).ok());
}

TEST(CommandBatch, MoreNodesThanTheCapAreRefusedNamingTheSetting) {
  EXPECT_TRUE(selectBatchNodes(batchFleet(), batchTarget("all"), {"acme", false}, 3).ok());
  auto over = selectBatchNodes(batchFleet(), batchTarget("all"), {"acme", false}, 2);
  ASSERT_FALSE(over.ok());
  EXPECT_EQ(over.error().code, "invalid_argument");
  EXPECT_NE(over.error().message.find("command_batch_max"), std::string::npos) << over.error().message;
  EXPECT_NE(over.error().message.find("matches 3 nodes"), std::string::npos) << over.error().message;
}

TEST(CommandBatch, TheSameKeyInTheSameOrgNamesTheSameBatch) {
  const std::string random = "0123456789abcdef0123456789abcdef";
  const auto a = batchId("acme", "deploy-42", random);
  EXPECT_EQ(a, batchId("acme", "deploy-42", "ffffffffffffffffffffffffffffffff"));
  EXPECT_TRUE(validBatchId(a)) << a;
  EXPECT_NE(a, batchId("beta", "deploy-42", random));  // another org's key is another batch
  EXPECT_NE(a, batchId("", "deploy-42", random));
  EXPECT_NE(a, batchId("acme", "deploy-43", random));
  // "acme\n" + "x" must not equal "acme" + "\nx": the separator cannot be forged by a name.
  EXPECT_NE(batchId("ac", "me", random), batchId("acme", "", random));
  EXPECT_EQ(batchId("acme", "", random), "batch_" + random);
  EXPECT_TRUE(validBatchId("batch_" + random));
}

TEST(CommandBatch, CorrelationIdsAreDerivedFromTheBatchAndReserved) {
  const std::string id = "batch_0123456789abcdef0123456789abcdef";
  EXPECT_EQ(batchCorrelationId(id, "n_a1"), id + ":n_a1");
  EXPECT_NE(batchCorrelationId(id, "n_a1"), batchCorrelationId(id, "n_a2"));
  EXPECT_TRUE(isBatchCorrelationId(batchCorrelationId(id, "n_a1")));
  EXPECT_FALSE(isBatchCorrelationId("deploy-7"));
  for (const std::string bad : {"", "batch_", "batch_0123", "batch_0123456789ABCDEF0123456789abcdef",
                                "batch_0123456789abcdef0123456789abcdef0", "../batch_0123456789abcdef0123456789abcd",
                                "cmd_0123456789abcdef0123456789abcdef"})
    EXPECT_FALSE(validBatchId(bad)) << bad;
}

}  // namespace
}  // namespace berth::server
