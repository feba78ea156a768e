// AppService and orgs: an org's apps are keyed by org, placed only on the
// org's own nodes or platform nodes, and never found through another org.
#include <gtest/gtest.h>

#include "app_service_world.hpp"

namespace berth::server {
namespace {

class AppServiceOrgsTest : public ::testing::Test, public testing::AppServiceWorld {
 protected:
  void addNode(const std::string& id, const std::string& org) { ASSERT_TRUE(store->upsertNode(onlineNode(id, org)).ok()); }

};

TEST_F(AppServiceOrgsTest, AnOrgsAppsRunOnItsOwnNodesOrPlatformNodesNeverAnotherOrgs) {
  addNode("n_b", "beta");
  ASSERT_TRUE(apps.create("acme", {{"name", "web"}}).ok());
  // Only beta's node is online: acme's app has nowhere to go.
  auto refused = apps.deploy("web.acme", {{"image", "nginx:1"}});
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, "no_node");
  // A platform node takes it; an acme node too, never beta's.
  addNode("n_shared", "");
  auto placed = apps.deploy("web.acme", {{"image", "nginx:1"}});
  ASSERT_TRUE(placed.ok()) << placed.error().message;
  EXPECT_EQ(placed->app.node_id, "n_shared");
  EXPECT_EQ(placed->app.org, "acme");
  // Naming beta's node is answered like naming a missing one.
  auto foreign = apps.create("acme", {{"name", "api"}, {"node", "n_b"}});
  auto missing = apps.create("acme", {{"name", "api"}, {"node", "n_none"}});
  ASSERT_FALSE(foreign.ok());
  EXPECT_EQ(foreign.error().code, missing.error().code);
  std::string expected = missing.error().message;
  expected.replace(expected.find("n_none"), 6, "n_b");
  EXPECT_EQ(foreign.error().message, expected);
  EXPECT_TRUE(apps.create("beta", {{"name", "api"}, {"node", "n_b"}}).ok());
}

TEST_F(AppServiceOrgsTest, SameNameInTwoOrgsIsTwoAppsListedApart) {
  ASSERT_TRUE(apps.create("acme", {{"name", "web"}}).ok());
  ASSERT_TRUE(apps.create("default", {{"name", "web"}}).ok());
  EXPECT_EQ(apps.create("acme", {{"name", "web"}}).error().code, "conflict");
  auto acme = apps.list("acme");
  ASSERT_TRUE(acme.ok());
  ASSERT_EQ(acme->size(), 1u);
  EXPECT_EQ((*acme)[0]["name"], "web");
  auto shown = apps.show("web.acme");
  ASSERT_TRUE(shown.ok());
  EXPECT_EQ((*shown)["org"], "acme");
  EXPECT_EQ((*shown)["name"], "web");
  EXPECT_EQ(apps.list("beta")->size(), 0u);
  // A name that is not a key of its org is simply not there.
  EXPECT_EQ(apps.show("web.default").error().code, "not_found");
  EXPECT_EQ(apps.show("../web").error().code, "not_found");
}

TEST_F(AppServiceOrgsTest, AnOrgCannotClaimAnotherOrgsGeneratedDomain) {
  config.base_domain = "apps.example.com";
  ASSERT_TRUE(apps.create("acme", {{"name", "web"}}).ok());
  ASSERT_TRUE(apps.create("default", {{"name", "shop"}}).ok());
  ASSERT_TRUE(apps.create("evil", {{"name", "site"}}).ok());
  // acme's web answers at web.acme.apps.example.com, default's shop at shop.apps.example.com.
  for (const char* taken : {"web.acme.apps.example.com", "shop.apps.example.com", "api.acme.apps.example.com"}) {
    auto claimed = apps.addDomain("site.evil", {{"domain", taken}});
    ASSERT_FALSE(claimed.ok()) << taken << " was added to another org's app";
    EXPECT_EQ(claimed.error().code, "invalid_argument") << taken;
    // Whether acme has a "web" is not told: the same answer as for a name no app has.
    EXPECT_EQ(claimed.error().message.find("acme"), std::string::npos) << claimed.error().message;
    EXPECT_EQ(claimed.error().message.find("organisation"), std::string::npos) << claimed.error().message;
  }
  // Inside its own org the holder is named.
  ASSERT_TRUE(apps.create("acme", {{"name", "api"}}).ok());
  auto inOrg = apps.addDomain("api.acme", {{"domain", "web.acme.apps.example.com"}});
  ASSERT_FALSE(inOrg.ok());
  EXPECT_EQ(inOrg.error().code, "domain_in_use");
  EXPECT_NE(inOrg.error().message.find("app web"), std::string::npos) << inOrg.error().message;
  auto listed = apps.domains("site.evil");
  ASSERT_TRUE(listed.ok());
  EXPECT_TRUE(listed->empty()) << listed->dump();
}

}  // namespace
}  // namespace berth::server
