#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>

#include "../temp_dir.hpp"
#include "server/app_service.hpp"
#include "server/command_service.hpp"

namespace berth::server {
namespace {

class AppDomainsServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store::Node node;
    node.id = "n_1";
    node.hostname = "one";
    node.status = store::NodeStatus::Online;
    ASSERT_TRUE(store->upsertNode(node).ok());
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

  berth::testing::TempDir dir;
  std::unique_ptr<store::Store> store = std::move(store::openSqliteStore(dir.path() + "/db").value());
  Metrics metrics;
  std::int64_t now = 1'000'000;
  ServerConfig config;
  CommandService commands{*store, metrics, [this] { return now; }, config};
  boost::asio::io_context io;
  AppService apps{*store, commands, metrics, [this] { return now; }, config, std::string(32, 'k'), io.get_executor()};
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
