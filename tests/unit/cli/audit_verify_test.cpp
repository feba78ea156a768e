#include "cli/audit_verify.hpp"

#include <gtest/gtest.h>

namespace berth::cli {
namespace {

nlohmann::json recordJson(const auth::AuditEntry& e) {
  return {{"id", e.id},           {"at", e.at},         {"actor", e.actor},           {"org", e.org},
          {"action", e.action},   {"target", e.target}, {"request_id", e.request_id}, {"source", e.source},
          {"outcome", e.outcome}, {"detail", e.detail}, {"prev_hash", e.prev_hash},   {"hash", e.hash}};
}

// `n` chained records served `per_page` at a time, as GET /audit?after= answers.
struct FakeServer {
  std::vector<nlohmann::json> records;
  std::size_t per_page = 2;
  int calls = 0;

  explicit FakeServer(int n) {
    std::string prev;
    for (int i = 1; i <= n; ++i) {
      auth::AuditEntry e;
      e.id = i;
      e.at = 1000 + i;
      e.actor = "key:k";
      e.action = "POST /api/v1/apps";
      e.target = "app" + std::to_string(i);
      e.outcome = "ok";
      auth::sealAuditEntry(e, prev);
      prev = e.hash;
      records.push_back(recordJson(e));
    }
  }

  std::function<Result<nlohmann::json>(std::int64_t)> page() {
    return [this](std::int64_t after) -> Result<nlohmann::json> {
      ++calls;
      nlohmann::json out = nlohmann::json::array();
      std::size_t i = 0;
      while (i < records.size() && records[i]["id"].get<std::int64_t>() <= after) ++i;
      for (; i < records.size() && out.size() < per_page; ++i) out.push_back(records[i]);
      return nlohmann::json{{"records", out}, {"more", i < records.size()}};
    };
  }
};

TEST(AuditVerifyTest, WalksEveryPage) {
  FakeServer server(5);
  auto report = verifyAuditChain(server.page(), "");
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->ok) << report->reason;
  EXPECT_EQ(report->checked, 5);
  EXPECT_EQ(report->head_id, 5);
  EXPECT_EQ(report->head_hash, server.records[4]["hash"]);
  EXPECT_EQ(server.calls, 3);
}

TEST(AuditVerifyTest, NamesTheFirstBrokenRecordOnALaterPage) {
  FakeServer server(5);
  server.records[3]["detail"] = "edited";
  auto report = verifyAuditChain(server.page(), "");
  ASSERT_TRUE(report.ok());
  EXPECT_FALSE(report->ok);
  EXPECT_EQ(*report->broken_id, 4);
}

TEST(AuditVerifyTest, ASavedHeadMustStillBeThere) {
  FakeServer server(5);
  const std::string saved = server.records[4]["hash"];
  server.records.pop_back();
  auto report = verifyAuditChain(server.page(), saved);
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->ok);
  EXPECT_FALSE(report->head_found);
  auto older = verifyAuditChain(server.page(), server.records[1]["hash"]);
  EXPECT_TRUE(older->head_found);
}

TEST(AuditVerifyTest, AMalformedAnswerIsAnErrorNamingTheField) {
  FakeServer server(2);
  server.records[1].erase("prev_hash");
  auto report = verifyAuditChain(server.page(), "");
  ASSERT_FALSE(report.ok());
  EXPECT_NE(report.error().message.find("prev_hash"), std::string::npos);
  auto notRecords = verifyAuditChain(
      [](std::int64_t) -> Result<nlohmann::json> {
        return nlohmann::json{{"x", 1}};
      },
      "");
  EXPECT_FALSE(notRecords.ok());
}

// An org admin's view is part of the chain only: refused, not reported as broken.
TEST(AuditVerifyTest, AnOrgsViewIsRefusedNotCalledBroken) {
  FakeServer server(3);
  auto report = verifyAuditChain(
      [&](std::int64_t) -> Result<nlohmann::json> {
        return nlohmann::json{{"records", server.records}, {"more", false}, {"view", "org"}};
      },
      "");
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.error().code, "forbidden");
}

// A server that keeps answering "more" with the same page cannot loop the walk.
TEST(AuditVerifyTest, AServerRepeatingAPageEndsTheWalk) {
  FakeServer server(2);
  int calls = 0;
  auto report = verifyAuditChain(
      [&](std::int64_t) -> Result<nlohmann::json> {
        ++calls;
        return nlohmann::json{{"records", server.records}, {"more", true}};
      },
      "");
  ASSERT_TRUE(report.ok());
  EXPECT_FALSE(report->ok);
  EXPECT_EQ(calls, 2);
}

}  // namespace
}  // namespace berth::cli
