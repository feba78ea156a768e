#include <gtest/gtest.h>

#include "app_service_world.hpp"

namespace berth::server {
namespace {

class AppDomainsServiceTest : public ::testing::Test, public testing::AppServiceWorld {
 protected:
  void SetUp() override {
    ASSERT_TRUE(store->upsertNode(onlineNode("n_1")).ok());
    ASSERT_TRUE(apps.create("default", {{"name", "web"}, {"node", "n_1"}}).ok());
  }

  std::vector<store::Command> commandsOf(const std::string& verb) {
    std::vector<store::Command> out;
    auto all = store->listCommands("n_1", 100);
    EXPECT_TRUE(all.ok());
    for (auto& c : *all)
      if (c.verb == verb) out.push_back(c);
    return out;
  }

};

TEST_F(AppDomainsServiceTest, ADomainAddedWhileTheFirstDeployRunsReachesTheNodeWhenItIsHealthy) {
  auto deploy = apps.deploy("web", {{"image", "nginx:1"}, {"port", 80}});
  ASSERT_TRUE(deploy.ok()) << deploy.error().message;
  // No version runs yet: nothing to push, and the deploy already carries its (empty) list.
  ASSERT_TRUE(apps.addDomain("web", {{"domain", "shop.example.com"}}).ok());
  EXPECT_TRUE(commandsOf("app.routes").empty());

  auto deployed = commandsOf("app.deploy");
  ASSERT_EQ(deployed.size(), 1u);
  deployed[0].state = store::CommandState::Succeeded;
  apps.onCommandFinished(deployed[0]);
  io.poll();

  const auto routes = commandsOf("app.routes");
  ASSERT_EQ(routes.size(), 1u);
  const auto& domains = routes[0].args["routing"]["domains"];
  ASSERT_EQ(domains.size(), 1u);
  EXPECT_EQ(domains[0]["domain"], "shop.example.com");
}

TEST_F(AppDomainsServiceTest, ADeployThatCarriedTheCurrentDomainsSendsNoRoutesAfter) {
  ASSERT_TRUE(apps.addDomain("web", {{"domain", "shop.example.com"}}).ok());
  ASSERT_TRUE(apps.deploy("web", {{"image", "nginx:1"}, {"port", 80}}).ok());
  auto deployed = commandsOf("app.deploy");
  ASSERT_EQ(deployed.size(), 1u);
  deployed[0].state = store::CommandState::Succeeded;
  apps.onCommandFinished(deployed[0]);
  io.poll();
  EXPECT_TRUE(commandsOf("app.routes").empty());
}

}  // namespace
}  // namespace berth::server
