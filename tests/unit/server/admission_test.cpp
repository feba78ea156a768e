// Admission through AppService: quotas and container policy are checked on
// every path that takes more (create, deploy, rollback, scale, limits,
// domains), and a refusal names the quota with its limit and use.
#include "server/admission.hpp"

#include <gtest/gtest.h>

#include "app_service_world.hpp"
#include "store/identity_store.hpp"

namespace berth::server {
namespace {

class AdmissionTest : public ::testing::Test, public testing::AppServiceWorld {
 protected:
  void SetUp() override {
    ASSERT_TRUE(store->upsertNode(onlineNode("n_1")).ok());
    ASSERT_TRUE(store->identity().insertOrg({"acme", 1}).ok());
  }
  Admission& admission() { return apps.admission(); }
  // Marks deployment `number` of `app` as the running one (no agent here to report it healthy).
  void markRunning(const std::string& app, int number) {
    auto a = store->getApp(app);
    ASSERT_TRUE(a.ok() && *a);
    (*a)->current_deployment = number;
    ASSERT_TRUE(store->upsertApp(**a).ok());
    auto d = store->getDeployment(app, number);
    ASSERT_TRUE(d.ok() && *d);
    (*d)->state = DeploymentState::Healthy;
    (*d)->image = "nginx@sha256:" + std::string(64, 'a');
    ASSERT_TRUE(store->upsertDeployment(**d).ok());
  }
};

TEST_F(AdmissionTest, AppsQuotaRefusesTheNextAppNamingLimitAndUse) {
  ASSERT_TRUE(admission().setQuotas("acme", {{"apps", 2}}).ok());
  ASSERT_TRUE(apps.create("acme", {{"name", "one"}}).ok());
  ASSERT_TRUE(apps.create("acme", {{"name", "two"}}).ok());
  auto third = apps.create("acme", {{"name", "three"}});
  ASSERT_FALSE(third.ok());
  EXPECT_EQ(third.error().code, "quota_exceeded");
  EXPECT_NE(third.error().message.find("quota 'apps' of org acme is 2; in use: 2"), std::string::npos)
      << third.error().message;
  // Another org is not counted against acme's quota.
  EXPECT_TRUE(apps.create("default", {{"name", "three"}}).ok());
  auto shown = admission().describe("acme");
  ASSERT_TRUE(shown.ok());
  EXPECT_EQ((*shown)["quotas"]["apps"], 2);
  EXPECT_EQ((*shown)["usage"]["apps"], 2);
}

TEST_F(AdmissionTest, MemoryQuotaCountsReplicasAndEveryPathThatStartsADeployment) {
  ASSERT_TRUE(admission().setQuotas("acme", {{"memory", "1g"}}).ok());
  ASSERT_TRUE(apps.create("acme", {{"name", "web"}}).ok());
  auto unlimited = apps.deploy("web.acme", {{"image", "nginx:1"}});
  ASSERT_FALSE(unlimited.ok());
  EXPECT_NE(unlimited.error().message.find("limits.memory"), std::string::npos) << unlimited.error().message;
  auto fits = apps.deploy("web.acme", {{"image", "nginx:1"}, {"limits", {{"memory", "256m"}}}, {"replicas", 2}});
  ASSERT_TRUE(fits.ok()) << fits.error().message;
  markRunning("web.acme", fits->deployment);
  // Its own claim is given back: redeploying at 512m x 2 fits exactly.
  ASSERT_TRUE(apps.deploy("web.acme", {{"image", "nginx:1"}, {"limits", {{"memory", "512m"}}}, {"replicas", 2}}).ok());
  auto over = apps.deploy("web.acme", {{"image", "nginx:1"}, {"limits", {{"memory", "512m"}}}, {"replicas", 3}});
  ASSERT_FALSE(over.ok());
  EXPECT_EQ(over.error().code, "quota_exceeded");
  EXPECT_NE(over.error().message.find("quota 'memory'"), std::string::npos);
  // Scale and live limits pass through the same check.
  auto scaled = apps.scale("web.acme", 5);
  ASSERT_FALSE(scaled.ok());
  EXPECT_EQ(scaled.error().code, "quota_exceeded");
  auto limits = apps.setLimits("web.acme", {{"memory", "2g"}});
  ASSERT_FALSE(limits.ok());
  EXPECT_EQ(limits.error().code, "quota_exceeded");
}

TEST_F(AdmissionTest, DeploymentsPerHourSurviveDeletingTheAppAndExpireAfterAnHour) {
  ASSERT_TRUE(admission().setQuotas("acme", {{"deployments_per_hour", 2}}).ok());
  ASSERT_TRUE(apps.create("acme", {{"name", "web"}}).ok());
  ASSERT_TRUE(apps.deploy("web.acme", {{"image", "nginx:1"}}).ok());
  ASSERT_TRUE(apps.deploy("web.acme", {{"image", "nginx:2"}}).ok());
  auto third = apps.deploy("web.acme", {{"image", "nginx:3"}});
  ASSERT_FALSE(third.ok());
  EXPECT_NE(third.error().message.find("quota 'deployments_per_hour' of org acme is 2; in use: 2"), std::string::npos)
      << third.error().message;
  ASSERT_TRUE(apps.remove("web.acme", false, true).ok());
  ASSERT_TRUE(apps.create("acme", {{"name", "web"}}).ok());
  EXPECT_FALSE(apps.deploy("web.acme", {{"image", "nginx:3"}}).ok());
  now += kHourMs + 1;
  EXPECT_TRUE(apps.deploy("web.acme", {{"image", "nginx:3"}}).ok());
}

TEST_F(AdmissionTest, DomainsQuota) {
  ASSERT_TRUE(admission().setQuotas("acme", {{"domains", 1}}).ok());
  ASSERT_TRUE(apps.create("acme", {{"name", "web"}}).ok());
  ASSERT_TRUE(apps.addDomain("web.acme", {{"domain", "a.example.com"}}).ok());
  auto second = apps.addDomain("web.acme", {{"domain", "b.example.com"}});
  ASSERT_FALSE(second.ok());
  EXPECT_NE(second.error().message.find("quota 'domains'"), std::string::npos);
}

// A newer deployment that has not taken over (pending, or failed) with small limits does not free
// what the running one holds.
TEST_F(AdmissionTest, AnAppHoldsTheLargerOfItsRunningAndItsNewestDeployment) {
  ASSERT_TRUE(admission().setQuotas("acme", {{"memory", "1g"}}).ok());
  ASSERT_TRUE(apps.create("acme", {{"name", "big"}}).ok());
  ASSERT_TRUE(apps.create("acme", {{"name", "other"}}).ok());
  auto big = apps.deploy("big.acme", {{"image", "nginx:1"}, {"limits", {{"memory", "768m"}}}});
  ASSERT_TRUE(big.ok()) << big.error().message;
  markRunning("big.acme", big->deployment);
  ASSERT_TRUE(apps.deploy("big.acme", {{"image", "nope:x"}, {"limits", {{"memory", "64m"}}}}).ok());
  auto other = apps.deploy("other.acme", {{"image", "nginx:1"}, {"limits", {{"memory", "512m"}}}});
  ASSERT_FALSE(other.ok()) << "768m still run";
  EXPECT_EQ(other.error().code, "quota_exceeded");
  EXPECT_TRUE(apps.deploy("other.acme", {{"image", "nginx:1"}, {"limits", {{"memory", "256m"}}}}).ok());
}

// A live limits change counts from the moment it is queued, not when the node
// confirms it: raises sent back to back cannot each pass against the old use,
// and a lowering the node has not applied yet frees nothing.
TEST_F(AdmissionTest, LiveLimitChangesCountWhileTheNodeHasNotAnswered) {
  ASSERT_TRUE(admission().setQuotas("acme", {{"memory", "1g"}}).ok());
  ASSERT_TRUE(apps.create("acme", {{"name", "a"}}).ok());
  ASSERT_TRUE(apps.create("acme", {{"name", "b"}}).ok());
  for (const char* name : {"a.acme", "b.acme"}) {
    auto d = apps.deploy(name, {{"image", "nginx:1"}, {"limits", {{"memory", "256m"}}}});
    ASSERT_TRUE(d.ok()) << d.error().message;
    markRunning(name, d->deployment);
  }
  // Each raise alone fits (256m + 768m); both at once would make 1.5g.
  ASSERT_TRUE(apps.setLimits("a.acme", {{"memory", "768m"}}).ok());
  auto second = apps.setLimits("b.acme", {{"memory", "768m"}});
  ASSERT_FALSE(second.ok()) << "a's raise is queued and must count";
  EXPECT_EQ(second.error().code, "quota_exceeded");
  EXPECT_NE(second.error().message.find("in use: 1073741824 bytes"), std::string::npos) << second.error().message;
  // Lowering a while its raise is still in flight frees nothing yet.
  ASSERT_TRUE(apps.setLimits("a.acme", {{"memory", "128m"}}).ok());
  EXPECT_FALSE(apps.setLimits("b.acme", {{"memory", "768m"}}).ok());
  auto shown = admission().describe("acme");
  ASSERT_TRUE(shown.ok());
  EXPECT_EQ((*shown)["usage"]["memory_bytes"], 1073741824);
}

TEST_F(AdmissionTest, HostCapabilitiesAndRootNeedThePolicyOnDeployRollbackAndScale) {
  config.allowed_capabilities = {"SYS_PTRACE"};
  ASSERT_TRUE(apps.create("acme", {{"name", "web"}}).ok());
  auto refused = apps.deploy("web.acme", {{"image", "nginx:1"}, {"capabilities", {"SYS_PTRACE"}}});
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, "policy_refused");
  // An allowance outside the server's ceiling cannot be given.
  EXPECT_FALSE(admission().setPolicy("acme", {{"allowed_capabilities", {"SYS_ADMIN"}}}).ok());
  ASSERT_TRUE(admission().setPolicy("acme", {{"allowed_capabilities", {"SYS_PTRACE"}}}).ok());
  auto first = apps.deploy("web.acme", {{"image", "nginx:1"}, {"capabilities", {"SYS_PTRACE"}}});
  ASSERT_TRUE(first.ok()) << first.error().message;
  markRunning("web.acme", first->deployment);
  auto second = apps.deploy("web.acme", {{"image", "nginx:2"}, {"user", "1000"}});
  ASSERT_TRUE(second.ok());
  markRunning("web.acme", second->deployment);
  // The allowance is withdrawn: rolling back to the capable deployment is refused, and
  // after non-root is required, scaling the root-default deployment is too.
  ASSERT_TRUE(admission().setPolicy("acme", {{"allowed_capabilities", nlohmann::json::array()}}).ok());
  auto back = apps.rollback("web.acme", first->deployment);
  ASSERT_FALSE(back.ok());
  EXPECT_EQ(back.error().code, "policy_refused");
  // Nor can a stop and a start bring it back while the capable deployment is the current one.
  ASSERT_TRUE(apps.create("acme", {{"name", "tool"}}).ok());
  ASSERT_TRUE(admission().setPolicy("acme", {{"allowed_capabilities", {"SYS_PTRACE"}}}).ok());
  auto tool = apps.deploy("tool.acme", {{"image", "nginx:1"}, {"capabilities", {"SYS_PTRACE"}}});
  ASSERT_TRUE(tool.ok()) << tool.error().message;
  markRunning("tool.acme", tool->deployment);
  ASSERT_TRUE(admission().setPolicy("acme", {{"allowed_capabilities", nlohmann::json::array()}}).ok());
  EXPECT_TRUE(apps.lifecycle("tool.acme", "app.stop").ok()) << "stopping is always allowed";
  for (const char* verb : {"app.start", "app.restart"}) {
    auto again = apps.lifecycle("tool.acme", verb);
    ASSERT_FALSE(again.ok()) << verb;
    EXPECT_EQ(again.error().code, "policy_refused") << verb;
  }
  ASSERT_TRUE(apps.scale("web.acme", 2).ok());  // runs as 1000
  ASSERT_TRUE(admission().setPolicy("acme", {{"require_non_root", true}}).ok());
  auto root = apps.deploy("web.acme", {{"image", "nginx:3"}});
  ASSERT_FALSE(root.ok());
  EXPECT_NE(root.error().message.find("non-root"), std::string::npos);
  EXPECT_TRUE(apps.deploy("web.acme", {{"image", "nginx:3"}, {"user", "1000:1000"}}).ok());
  // Another org keeps its own (empty) policy.
  ASSERT_TRUE(apps.create("default", {{"name", "web"}}).ok());
  EXPECT_TRUE(apps.deploy("web", {{"image", "nginx:1"}}).ok());
  EXPECT_FALSE(apps.deploy("web", {{"image", "nginx:1"}, {"capabilities", {"SYS_PTRACE"}}}).ok());
}

}  // namespace
}  // namespace berth::server
