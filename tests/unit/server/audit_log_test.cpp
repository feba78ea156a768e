#include "server/audit_log.hpp"

#include <gtest/gtest.h>

#include <limits>

#include "../temp_dir.hpp"

namespace berth::server {
namespace {

class AuditLogTest : public ::testing::Test {
 protected:
  berth::testing::TempDir dir;
  std::unique_ptr<store::Store> store = std::move(store::openSqliteStore(dir.path() + "/db").value());

  store::AuditRecord record(const std::string& target) {
    store::AuditRecord r;
    r.at = 42;
    r.actor = "key:k_1";
    r.org = "acme";
    r.action = "POST /api/v1/apps";
    r.target = target;
    r.outcome = "ok";
    return r;
  }

  auth::AuditChainCheck checkAll() {
    store::AuditQuery q;
    q.after_id = 0;
    q.limit = 1000;
    auth::AuditChainCheck check;
    auto records = store->listAudit(q);
    for (const auto& r : *records) check.add(toAuditEntry(r));
    return check;
  }
};

TEST_F(AuditLogTest, AppendsChainOntoTheHead) {
  EXPECT_EQ(store->auditHead()->id, 0);
  auto first = appendAudit(*store, record("a"));
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->id, 1);
  EXPECT_EQ(first->prev_hash, auth::kAuditGenesis);
  auto second = appendAudit(*store, record("b"));
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->id, 2);
  EXPECT_EQ(second->prev_hash, first->hash);
  EXPECT_EQ(store->auditHead()->hash, second->hash);
  auto check = checkAll();
  EXPECT_TRUE(check.ok()) << check.reason();
  EXPECT_EQ(check.checked(), 2);
}

// A record appended in a transaction that rolls back leaves no trace, and the
// next one chains onto what committed.
TEST_F(AuditLogTest, RolledBackAppendsLeaveTheChainWhole) {
  ASSERT_TRUE(appendAudit(*store, record("a")).ok());
  auto failed = store->transaction([&]() -> Result<void> {
    if (auto r = appendAudit(*store, record("lost")); !r) return r.error();
    return makeError("conflict", "refused later");
  });
  EXPECT_FALSE(failed.ok());
  auto next = appendAudit(*store, record("b"));
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(next->id, 2);
  EXPECT_TRUE(checkAll().ok());
}

TEST_F(AuditLogTest, TextIsMadeValidAndCapped) {
  auto r = record(std::string("bad\xff") + std::string(5000, 'x'));
  auto stored = appendAudit(*store, r);
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->target.substr(0, 6), "bad\xEF\xBF\xBD");
  EXPECT_LE(stored->target.size(), 1024u);
  EXPECT_TRUE(checkAll().ok());
}

TEST(AuditOutcomeTest, ByStatus) {
  EXPECT_EQ(auditOutcome(201), "ok");
  EXPECT_EQ(auditOutcome(302), "ok");
  EXPECT_EQ(auditOutcome(403), "refused");
  EXPECT_EQ(auditOutcome(429), "refused");
  EXPECT_EQ(auditOutcome(503), "failed");
}

TEST(AuditQueryTest, ParsesFilters) {
  const std::int64_t now = 10 * 86'400'000LL;
  auto q = parseAuditQuery(
      {{"actor", "session%3Aalice"}, {"target", "web.acme"}, {"org", "acme"}, {"since", "2d"}, {"limit", "20"}}, now);
  ASSERT_TRUE(q.ok()) << q.error().message;
  EXPECT_EQ(q->actor, "session:alice");
  EXPECT_EQ(q->target, "web.acme");
  EXPECT_EQ(q->org, "acme");
  EXPECT_EQ(q->since_ms, 8 * 86'400'000LL);
  EXPECT_EQ(q->limit, 20u);
  EXPECT_FALSE(q->after_id);
  EXPECT_EQ(parseAuditQuery({{"since", "1700000000000"}}, now)->since_ms, 1700000000000);
  EXPECT_EQ(parseAuditQuery({{"since", "36000d"}}, now)->since_ms, 0);  // before the epoch: everything
  EXPECT_EQ(*parseAuditQuery({{"after", "0"}}, now)->after_id, std::numeric_limits<std::int64_t>::min())
      << "after=0 reads from the very first record, ids below 1 included";
  EXPECT_EQ(*parseAuditQuery({{"before", "17"}}, now)->before_id, 17);
  auto most = parseAuditQuery({{"limit", "10000"}}, now);
  ASSERT_TRUE(most.ok()) << most.error().message;
  EXPECT_EQ(most->limit, 10000u);
  EXPECT_EQ(parseAuditQuery({{"limit", "1"}}, now)->limit, 1u);
}

TEST(AuditQueryTest, RefusesOddValuesNamingTheField) {
  const std::int64_t now = 1'000'000;
  for (auto [key, value] : std::vector<std::pair<std::string, std::string>>{{"since", "2w"},
                                                                            {"since", "-5m"},
                                                                            {"since", "h"},
                                                                            {"since", "99999999999999999999"},
                                                                            {"since", "36600001d"},
                                                                            {"after", "-1"},
                                                                            {"after", "1e3"},
                                                                            {"before", "x"},
                                                                            {"after", "9999999999999999999"},
                                                                            {"limit", "ten"},
                                                                            {"limit", "0"},
                                                                            {"limit", "10001"},
                                                                            {"org", "acme%00"},
                                                                            {"actor", "a%0Ab"},
                                                                            {"actor", "%zz"},
                                                                            {"actor", "abc%4"},
                                                                            {"target", std::string(4000, 'x')}}) {
    auto q = parseAuditQuery({{key, value}}, now);
    ASSERT_FALSE(q.ok()) << key << "=" << value;
    EXPECT_EQ(q.error().code, "invalid_argument");
    EXPECT_NE(q.error().message.find("'" + key + "'"), std::string::npos) << q.error().message;
  }
  EXPECT_FALSE(parseAuditQuery({{"after", "1"}, {"before", "5"}}, now).ok());
}

}  // namespace
}  // namespace berth::server
