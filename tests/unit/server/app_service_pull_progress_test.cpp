// AppService and pull progress: a node's pull_progress reports (several a
// second) replace each other in memory and are served with the deployment,
// never stored as events; only the app's own node is heard.
#include <gtest/gtest.h>

#include "app_service_world.hpp"

namespace berth::server {
namespace {

class AppServicePullProgressTest : public ::testing::Test, public testing::AppServiceWorld {
 protected:
  void SetUp() override {
    ASSERT_TRUE(store->upsertNode(onlineNode("n_1")).ok());
    ASSERT_TRUE(store->upsertNode(onlineNode("n_2")).ok());
    ASSERT_TRUE(apps.create("default", {{"name", "web"}, {"node", "n_1"}}).ok());
  }
  void report(const std::string& node, int deployment, std::int64_t current) {
    protocol::AppEventFrame e;
    e.app = "web";
    e.deployment = deployment;
    e.state = "pull_progress";
    e.reason = "0/1 layers";
    e.progress = {{"layers", {{{"id", "3f2a"}, {"state", "Downloading"}, {"current", current}, {"total", 1000}}}},
                  {"layers_done", 0},
                  {"bytes_current", current},
                  {"bytes_total", 1000},
                  {"summary", "0/1 layers"}};
    apps.onAgentFrame(node, protocol::AppFrame{e});
  }
  std::size_t storedEvents() {
    auto events = apps.events("web", 1000);
    return events ? events->size() : 0;
  }
};

TEST_F(AppServicePullProgressTest, TheNewestReportIsServedWithItsDeploymentAndNoneIsStoredAsAnEvent) {
  ASSERT_TRUE(apps.deploy("web", {{"image", "reg:5000/web:1"}}).ok());
  const auto before = storedEvents();
  for (int i = 1; i <= 200; ++i) {
    now += 250;
    report("n_1", 1, i);
  }
  EXPECT_EQ(storedEvents(), before) << "reports replace each other; the events table does not grow";
  auto d = apps.deployment("web", 1);
  ASSERT_TRUE(d.ok());
  ASSERT_TRUE(d->contains("pull_progress")) << d->dump();
  EXPECT_EQ((*d)["pull_progress"]["bytes_current"], 200);
  EXPECT_EQ((*d)["pull_progress"]["layers"][0]["current"], 200);
  EXPECT_EQ((*d)["pull_progress"]["at"], now);

  // A newer deployment's reports replace the older's, which a late report cannot bring back.
  ASSERT_TRUE(apps.deploy("web", {{"image", "reg:5000/web:2"}}).ok());
  EXPECT_FALSE(apps.deployment("web", 2)->contains("pull_progress"));
  report("n_1", 2, 7);
  report("n_1", 1, 999);
  EXPECT_EQ((*apps.deployment("web", 2))["pull_progress"]["bytes_current"], 7);
  EXPECT_FALSE(apps.deployment("web", 1)->contains("pull_progress"));

  // Another node speaking for the app is not heard.
  report("n_2", 2, 500);
  EXPECT_EQ((*apps.deployment("web", 2))["pull_progress"]["bytes_current"], 7);
  // Nor a deployment the app does not have (which would otherwise shut out every later report).
  report("n_1", 1'000'000, 1);
  report("n_1", 0, 1);
  report("n_1", -3, 1);
  EXPECT_EQ((*apps.deployment("web", 2))["pull_progress"]["bytes_current"], 7);
  ASSERT_TRUE(apps.deploy("web", {{"image", "reg:5000/web:3"}}).ok());
  report("n_1", 3, 11);
  EXPECT_EQ((*apps.deployment("web", 3))["pull_progress"]["bytes_current"], 11);
}

}  // namespace
}  // namespace berth::server
