// The store's part of apps from git (store/source_store.hpp): source
// credentials, what a deployment built, webhook deliveries kept 24 h and the
// pushes that deployed.
#include <gtest/gtest.h>

#include "../temp_dir.hpp"
#include "store/store.hpp"

namespace berth::store {
namespace {

class SourceStoreTest : public ::testing::Test {
 protected:
  berth::testing::TempDir dir;
  std::unique_ptr<Store> store = std::move(openSqliteStore(dir.path() + "/test.db").value());
};

TEST_F(SourceStoreTest, AppSourceRoundTripsAndGoesWithTheApp) {
  EXPECT_FALSE(store->sources().getAppSource("web")->has_value());
  AppSource s;
  s.app = "web";
  s.kind = "ssh";
  s.sealed_credentials = "sealed:abc";
  s.public_key = "ssh-ed25519 AAAA berth:web";
  s.host_key = "SHA256:" + std::string(43, 'A');
  s.offered_host_keys = {"SHA256:" + std::string(43, 'B')};
  s.offered_at = 7;
  s.sealed_hook_secret = "sealed:hook";
  s.plan_override = {{"start", {"node", "server.js"}}};
  s.updated_at = 9;
  ASSERT_TRUE(store->sources().putAppSource(s).ok());
  auto back = store->sources().getAppSource("web");
  ASSERT_TRUE(back.ok() && back->has_value());
  EXPECT_EQ((*back)->kind, "ssh");
  EXPECT_EQ((*back)->sealed_credentials, "sealed:abc");
  EXPECT_EQ((*back)->host_key, s.host_key);
  EXPECT_EQ((*back)->offered_host_keys, s.offered_host_keys);
  EXPECT_EQ((*back)->plan_override, s.plan_override);
  EXPECT_EQ((*back)->sealed_hook_secret, "sealed:hook");
  ASSERT_TRUE(store->sources().recordHookDelivery("web", "d1", 5, 0).ok());
  App app;
  app.name = "web";
  ASSERT_TRUE(store->upsertApp(app).ok());
  ASSERT_TRUE(store->deleteApp("web").ok());
  EXPECT_FALSE(store->sources().getAppSource("web")->has_value());
  // A new app of the same name starts without the old one's deliveries.
  EXPECT_TRUE(*store->sources().recordHookDelivery("web", "d1", 6, 0));
}

TEST_F(SourceStoreTest, DeploymentRecordsWhatItBuilt) {
  Deployment d;
  d.app = "web";
  d.number = 1;
  d.source_ref = "main";
  d.source_commit = std::string(40, 'a');
  d.built_image = "web:aaaaaaaaaaaa";
  d.build_plan = {{"stack", "node"}};
  ASSERT_TRUE(store->upsertDeployment(d).ok());
  auto back = store->getDeployment("web", 1);
  ASSERT_TRUE(back.ok() && back->has_value());
  EXPECT_EQ((*back)->source_ref, "main");
  EXPECT_EQ((*back)->source_commit, d.source_commit);
  EXPECT_EQ((*back)->built_image, "web:aaaaaaaaaaaa");
  EXPECT_EQ((*back)->build_plan, d.build_plan);
  d.source_commit = std::string(40, 'b');  // an update keeps the columns too
  ASSERT_TRUE(store->upsertDeployment(d).ok());
  EXPECT_EQ((*store->getDeployment("web", 1))->source_commit, d.source_commit);
  Deployment image;
  image.app = "web";
  image.number = 2;
  ASSERT_TRUE(store->upsertDeployment(image).ok());
  EXPECT_TRUE((*store->getDeployment("web", 2))->build_plan.is_null());
}

TEST_F(SourceStoreTest, ADeliveryIsTakenOnceAndForgottenAfterItsDay) {
  auto& sources = store->sources();
  EXPECT_TRUE(*sources.recordHookDelivery("web", "abc", 1000, 0));
  EXPECT_FALSE(*sources.recordHookDelivery("web", "abc", 2000, 0));
  EXPECT_TRUE(*sources.recordHookDelivery("api", "abc", 2000, 0));  // per app
  // Pruned once older than the cutoff: the same id counts as new again.
  EXPECT_TRUE(*sources.recordHookDelivery("web", "abc", 90'000'000, 90'000'000 - 86'400'000));
}

TEST_F(SourceStoreTest, ThePushesThatDeployedABranchAreKeptNewestFirstPerBranchAndGoWithTheApp) {
  auto& sources = store->sources();
  const std::string a(40, 'a'), b(40, 'b'), c(40, 'c');
  EXPECT_FALSE(sources.hookPushes("web", "main", a)->commit_seen);
  EXPECT_EQ(sources.hookPushes("web", "main", a)->newest_pushed_at, 0);
  ASSERT_TRUE(sources.recordHookPush("web", "main", a, 100, 1000, 2).ok());
  ASSERT_TRUE(sources.recordHookPush("web", "main", b, 0, 2000, 2).ok());  // GitLab: no push time
  auto seen = sources.hookPushes("web", "main", a);
  ASSERT_TRUE(seen.ok());
  EXPECT_TRUE(seen->commit_seen);
  EXPECT_EQ(seen->newest_pushed_at, 100);
  EXPECT_FALSE(sources.hookPushes("web", "release", a)->commit_seen) << "per branch";
  EXPECT_FALSE(sources.hookPushes("api", "main", a)->commit_seen) << "per app";
  // Past `keep` the oldest (by when it deployed) is forgotten.
  ASSERT_TRUE(sources.recordHookPush("web", "main", c, 300, 3000, 2).ok());
  EXPECT_FALSE(sources.hookPushes("web", "main", a)->commit_seen);
  EXPECT_TRUE(sources.hookPushes("web", "main", b)->commit_seen);
  EXPECT_EQ(sources.hookPushes("web", "main", b)->newest_pushed_at, 300);
  App app;
  app.name = "web";
  ASSERT_TRUE(store->upsertApp(app).ok());
  ASSERT_TRUE(store->deleteApp("web").ok());
  EXPECT_FALSE(sources.hookPushes("web", "main", c)->commit_seen);
}

}  // namespace
}  // namespace berth::store
