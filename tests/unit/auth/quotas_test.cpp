// Quotas: what a platform admin may set, and the admission decision on
// literal uses (refusals name the quota, its limit and the current use).
#include "auth/quotas.hpp"

#include <gtest/gtest.h>

namespace berth::auth {
namespace {

TEST(Quotas, MergeParsesUnitsClearsWithNullAndRefusesOddValuesNamingTheField) {
  auto q = mergeQuotas({}, {{"apps", 10}, {"cpu", "2"}, {"memory", "1g"}, {"disk", 0}, {"deployments_per_hour", 5}});
  ASSERT_TRUE(q.ok()) << q.error().message;
  EXPECT_EQ(q->apps, 10);
  EXPECT_EQ(q->cpu_millicores, 2000);
  EXPECT_EQ(q->memory_bytes, 1024LL * 1024 * 1024);
  EXPECT_EQ(q->disk_bytes, 0);
  EXPECT_FALSE(q->domains.has_value());
  auto cleared = mergeQuotas(*q, {{"apps", nullptr}});
  ASSERT_TRUE(cleared.ok());
  EXPECT_FALSE(cleared->apps.has_value());
  EXPECT_EQ(cleared->cpu_millicores, 2000);  // the others stay

  for (const auto& bad : {nlohmann::json{{"apps", -1}}, nlohmann::json{{"apps", "10"}}, nlohmann::json{{"apps", 1.5}},
                          nlohmann::json{{"apps", 10'000'000'000LL}}, nlohmann::json{{"cpu", "lots"}},
                          nlohmann::json{{"memory", -5}}, nlohmann::json{{"memory", "9999999999999999999g"}}}) {
    auto r = mergeQuotas({}, bad);
    ASSERT_FALSE(r.ok()) << bad.dump();
    EXPECT_EQ(r.error().code, "invalid_argument");
    EXPECT_NE(r.error().message.find("'" + bad.items().begin().key() + "'"), std::string::npos) << r.error().message;
  }
  auto unknown = mergeQuotas({}, {{"gpus", 1}});
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.error().message.find("'gpus'"), std::string::npos);
  EXPECT_FALSE(mergeQuotas({}, nlohmann::json::object()).ok());
  EXPECT_FALSE(mergeQuotas({}, nlohmann::json::array()).ok());
}

TEST(Quotas, StoredFormRoundTrips) {
  auto q = mergeQuotas({}, {{"apps", 3}, {"cpu", "500m"}, {"domains", 2}, {"builds_running", 1}});
  ASSERT_TRUE(q.ok());
  auto back = quotasFromJson(quotasJson(*q));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(quotasJson(*back), quotasJson(*q));
  EXPECT_TRUE(quotasJson(*q)["memory_bytes"].is_null());
  EXPECT_FALSE(quotasFromJson({{"apps", -3}}).ok());
}

TEST(Quotas, ARequestOverAQuotaIsRefusedNamingTheQuotaItsLimitAndTheUse) {
  Quotas q;
  q.apps = 2;
  Usage use;
  use.apps = 2;
  Request more;
  more.adding.apps = 1;
  auto refused = admit("acme", q, use, more);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, "quota_exceeded");
  EXPECT_NE(refused.error().message.find("quota 'apps'"), std::string::npos) << refused.error().message;
  EXPECT_NE(refused.error().message.find("acme is 2"), std::string::npos) << refused.error().message;
  EXPECT_NE(refused.error().message.find("in use: 2"), std::string::npos) << refused.error().message;
  use.apps = 1;
  EXPECT_TRUE(admit("acme", q, use, more).ok());
  q.apps = 0;  // zero forbids
  use.apps = 0;
  EXPECT_FALSE(admit("acme", q, use, more).ok());
}

TEST(Quotas, ADeploymentReplacingItsAppsClaimCountsOnlyTheDifference) {
  Quotas q;
  q.memory_bytes = 1000;
  Usage use;
  use.memory_bytes = 900;  // this app's 600 among them
  Request r;
  r.deployment = r.declares_memory = true;
  r.releasing.memory_bytes = 600;
  r.adding.memory_bytes = 700;
  EXPECT_TRUE(admit("acme", q, use, r).ok());  // 900 - 600 + 700 = 1000
  r.adding.memory_bytes = 701;
  auto over = admit("acme", q, use, r);
  ASSERT_FALSE(over.ok());
  EXPECT_NE(over.error().message.find("quota 'memory'"), std::string::npos);
  EXPECT_NE(over.error().message.find("1001"), std::string::npos) << over.error().message;
}

TEST(Quotas, AnOrgOverALoweredQuotaMayStillShrink) {
  Quotas q;
  q.cpu_millicores = 1000;
  Usage use;
  use.cpu_millicores = 4000;
  Request shrink;
  shrink.deployment = shrink.declares_cpu = true;
  shrink.releasing.cpu_millicores = 2000;
  shrink.adding.cpu_millicores = 1000;
  EXPECT_TRUE(admit("acme", q, use, shrink).ok());
  shrink.adding.cpu_millicores = 2500;
  EXPECT_FALSE(admit("acme", q, use, shrink).ok());
}

TEST(Quotas, UnderAResourceQuotaADeploymentMustDeclareThatLimit) {
  Quotas q;
  q.disk_bytes = 1 << 30;
  Request r;
  r.deployment = true;  // declares no disk limit: unbounded, cannot be counted
  auto refused = admit("acme", q, {}, r);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message.find("limits.disk"), std::string::npos) << refused.error().message;
  r.declares_disk = true;
  EXPECT_TRUE(admit("acme", q, {}, r).ok());
}

TEST(Quotas, DeploymentsPerHourCountEveryDeployment) {
  Quotas q;
  q.deployments_per_hour = 3;
  Usage use;
  use.deployments_last_hour = 3;
  Request r;
  r.deployment = true;
  r.adding.deployments_last_hour = 1;
  auto refused = admit("acme", q, use, r);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message.find("quota 'deployments_per_hour'"), std::string::npos);
  use.deployments_last_hour = 2;
  EXPECT_TRUE(admit("acme", q, use, r).ok());
}

}  // namespace
}  // namespace berth::auth
