// The zero-downtime path's decisions against the in-memory runtime and a
// recording router, on a clock the test moves: the route moves only to a
// healthy version, the old one drains, stops, and goes when the watch window
// closes; a version failing inside the window is switched back from. The real
// path (dockerd, nginx, load) is tests/integration/routes_test.cpp.
#include <gtest/gtest.h>

#include "../../support/memory_runtime.hpp"
#include "../temp_dir.hpp"
#include "agent/app_supervisor.hpp"

namespace berth::agent {
namespace {

using berth::testing::MemoryRuntime;

struct RecordingRouter final : AppRouter {
  std::map<std::string, std::vector<proxy::Upstream>> served;
  std::map<std::string, std::vector<apps::AppRoute>> routes;
  std::map<std::string, int> hold_ms;
  Result<void> route(const std::string& app, const std::vector<apps::AppRoute>& r,
                     const std::vector<proxy::Upstream>& upstreams, bool, int hold) override {
    hold_ms[app] = hold;
    if (r.empty()) {
      served.erase(app);
      routes.erase(app);
    } else {
      served[app] = upstreams;
      routes[app] = r;
    }
    return Ok{};
  }
  Result<void> unroute(const std::string& app) override { return route(app, {}, {}, false, 0); }
  nlohmann::json describe() const override { return nlohmann::json::object(); }
};

class AppSettleTest : public ::testing::Test {
 protected:
  berth::testing::TempDir dir;
  MemoryRuntime runtime;
  RecordingRouter router;
  std::int64_t now = 1'000'000;
  std::vector<nlohmann::json> events;
  std::unique_ptr<AppSupervisor> supervisor;

  AppSettleTest() {
    runtime.registry["reg:5000/web:1"] = {{"sha256:id1", {"reg:5000/web@sha256:1"}}, ""};
    runtime.registry["reg:5000/web:2"] = {{"sha256:id2", {"reg:5000/web@sha256:2"}}, ""};
    SupervisorOptions options{"n_1", dir.path(), "", std::string(32, 'k')};
    options.router = &router;
    options.clock = [this] { return now; };
    supervisor = std::make_unique<AppSupervisor>(runtime, options, [this](const nlohmann::json& e) { events.push_back(e); });
  }

  VerbOutcome deploy(int number, const std::string& tag, const std::string& watch = "60s") {
    nlohmann::json spec = {{"image", "reg:5000/web:" + tag},
                           {"port", 8080},
                           {"drain", "30s"},
                           {"watch", watch},
                           {"health_check",
                            {{"type", "command"}, {"command", {"/bin/check"}}, {"interval", "10ms"}, {"timeout", "10ms"},
                             {"retries", 2}}}};
    auto out = supervisor->handle("app.deploy", {{"app", "web"},
                                                 {"deployment", number},
                                                 {"deployment_id", "dep_" + std::to_string(number)},
                                                 {"spec", spec},
                                                 {"routing", {{"domains", {{{"domain", "shop.example.com"}}}}}}});
    supervisor->runDeferred("web");
    return out;
  }

  std::string ipOf(int deployment) {
    for (const auto& c : runtime.running())
      if (c.labels.at("berth.deployment") == std::to_string(deployment)) return c.ip_address;
    return "";
  }
  bool runs(int deployment) { return !ipOf(deployment).empty(); }
  bool exists(int deployment) {
    auto ids = runtime.list({{"berth.deployment", std::to_string(deployment)}});
    return ids && !ids->empty();
  }
  void settle() {
    supervisor->watchStep("web");
    supervisor->retire("web");
  }
  bool sawEvent(const std::string& state) {
    for (const auto& e : events)
      if (e["state"] == state) return true;
    return false;
  }
  // The supervisor again, starting new versions beside a serving one at `shares`.
  void useStartupCpuShares(int shares) {
    SupervisorOptions options{"n_1", dir.path(), "", std::string(32, 'k')};
    options.router = &router;
    options.clock = [this] { return now; };
    options.startup_cpu_shares = shares;
    supervisor = std::make_unique<AppSupervisor>(runtime, options, [this](const nlohmann::json& e) { events.push_back(e); });
  }
};

TEST_F(AppSettleTest, TheNodesBaseDomainOverridesTheServersForTheGeneratedName) {
  auto deployUnder = [&](const std::string& node_base_domain) {
    SupervisorOptions options{"n_1", dir.path(), "", std::string(32, 'k')};
    options.router = &router;
    options.clock = [this] { return now; };
    options.base_domain = node_base_domain;
    supervisor = std::make_unique<AppSupervisor>(runtime, options, [this](const nlohmann::json& e) { events.push_back(e); });
    nlohmann::json spec = {{"image", "reg:5000/web:1"}, {"port", 8080}};
    auto out = supervisor->handle("app.deploy", {{"app", "web"},
                                                 {"deployment", 1},
                                                 {"deployment_id", "dep_1"},
                                                 {"spec", spec},
                                                 {"routing", {{"domains", nlohmann::json::array()}, {"base_domain", "apps.test"}}}});
    EXPECT_TRUE(out.ok) << out.error_code << ": " << out.error_message;
    return router.routes["web"].empty() ? std::vector<std::string>{} : router.routes["web"][0].hosts;
  };
  EXPECT_EQ(deployUnder(""), std::vector<std::string>{"web.apps.test"}) << "the server's base_domain";
  EXPECT_EQ(deployUnder("edge.example.net"), std::vector<std::string>{"web.edge.example.net"})
      << "the node's own base_domain wins";
}

TEST_F(AppSettleTest, ANewVersionIsProbedEveryTenthOfASecondWhileItStartsNotOncePerInterval) {
  // A check every 1 s with 1 retry gives a starting version 1 s. Probed once per interval it would
  // be asked twice; probed while it starts, about ten times, so a version ready after 150 ms
  // takes traffic then, not a second later. (A lower bound only: a slow machine probes less often.)
  runtime.exec_exit = 1;
  nlohmann::json spec = {{"image", "reg:5000/web:1"},
                         {"port", 8080},
                         {"health_check",
                          {{"type", "command"}, {"command", {"/bin/check"}}, {"interval", "1s"}, {"timeout", "50ms"},
                           {"retries", 1}}}};
  auto out = supervisor->handle("app.deploy", {{"app", "web"}, {"deployment", 1}, {"deployment_id", "dep_1"}, {"spec", spec}});
  ASSERT_FALSE(out.ok);
  const auto at = out.error_message.find(" probes in ");
  ASSERT_NE(at, std::string::npos) << out.error_message;
  const auto open = out.error_message.rfind('(', at);
  const int probes = std::atoi(out.error_message.c_str() + open + 1);
  EXPECT_GE(probes, 4) << out.error_message;
}

TEST_F(AppSettleTest, TheRouteMovesToTheHealthyNewVersionAndTheOldOneDrainsStopsAndGoes) {
  ASSERT_TRUE(deploy(1, "1").ok);
  ASSERT_EQ(router.served["web"].size(), 1u);
  EXPECT_EQ(router.served["web"][0].address, ipOf(1));
  EXPECT_EQ(router.served["web"][0].port, 8080);
  EXPECT_EQ(router.routes["web"][0].hosts, std::vector<std::string>{"shop.example.com"});

  auto second = deploy(2, "2");
  ASSERT_TRUE(second.ok) << second.error_message;
  EXPECT_EQ(router.served["web"][0].address, ipOf(2)) << "the route is on the new version when the deploy answers";
  EXPECT_TRUE(runs(1)) << "the old version serves its open requests during the drain";
  EXPECT_EQ(supervisor->retiringApps(), std::vector<std::string>{"web"});

  now += 29'000;
  settle();
  EXPECT_TRUE(runs(1)) << "drain not over";
  now += 2'000;
  settle();
  EXPECT_FALSE(runs(1)) << "drained: stopped";
  EXPECT_TRUE(exists(1)) << "kept (stopped) for a switch back while the window is open";
  supervisor->reconcileApp("web");
  EXPECT_TRUE(exists(1)) << "reconcile leaves a retiring container to settle()";

  now += 30'000;  // 61 s after the switch: the window closed
  settle();
  settle();
  EXPECT_TRUE(sawEvent("watch_passed"));
  EXPECT_FALSE(exists(1));
  EXPECT_TRUE(supervisor->retiringApps().empty());
  EXPECT_TRUE(supervisor->watchedApps().empty());
}

TEST_F(AppSettleTest, AVersionFailingInsideItsWatchWindowIsSwitchedBackFrom) {
  ASSERT_TRUE(deploy(1, "1").ok);
  ASSERT_TRUE(deploy(2, "2").ok);
  now += 31'000;
  settle();  // the old version is drained and stopped
  ASSERT_FALSE(runs(1));
  runtime.exec_exit = 1;  // the new version's check fails once...
  settle();
  runtime.exec_exit = 0;  // ...then passes: the count starts again
  now += 20;
  settle();
  runtime.exec_exit = 1;
  now += 20;
  settle();
  EXPECT_FALSE(sawEvent("rolled_back")) << "one failure in a row is not `retries` (2)";
  runtime.exec_exit = 0;
  // The new version crashes (its containers stop); the old one would pass its check again.
  for (const auto& c : runtime.running())
    if (c.labels.at("berth.deployment") == "2") (void)runtime.stop(c.id, 0);
  now += 20;
  settle();
  ASSERT_TRUE(sawEvent("rolled_back"));
  nlohmann::json rolled;
  for (const auto& e : events)
    if (e["state"] == "rolled_back") rolled = e;
  EXPECT_EQ(rolled["deployment"], 2);
  EXPECT_EQ(rolled["rolled_back_to"], 1);
  EXPECT_NE(rolled["reason"].get<std::string>().find("watch window"), std::string::npos) << rolled.dump();
  EXPECT_TRUE(runs(1)) << "the previous version runs again";
  EXPECT_EQ(router.served["web"][0].address, ipOf(1)) << "and has the route";
  auto status = supervisor->handle("app.status", {{"app", "web"}});
  EXPECT_EQ(status.output["deployment"], 1);
}

TEST_F(AppSettleTest, ANewDeployEndsThePreviousWatchWindow) {
  ASSERT_TRUE(deploy(1, "1").ok);
  ASSERT_TRUE(deploy(2, "2").ok);
  ASSERT_TRUE(deploy(3, "1").ok);
  EXPECT_EQ(router.served["web"][0].address, ipOf(3));
  now += 31'000;  // past both drains; deployment 3's own window is open
  settle();
  settle();
  EXPECT_FALSE(exists(1)) << "the predecessor of the ended window goes once drained";
  EXPECT_TRUE(exists(2)) << "deployment 2 is deployment 3's switch-back target";
}


TEST_F(AppSettleTest, ARunningAppIsHeldForItsHoldAndAStoppedOneIsNot) {
  ASSERT_TRUE(deploy(1, "1").ok);
  EXPECT_EQ(router.hold_ms["web"], 10'000);  // the spec's default
  ASSERT_TRUE(supervisor->handle("app.stop", {{"app", "web"}}).ok);
  EXPECT_TRUE(router.served["web"].empty());
  EXPECT_EQ(router.hold_ms["web"], 0) << "a stopped app answers 503 at once";
  ASSERT_TRUE(supervisor->handle("app.start", {{"app", "web"}}).ok);
  EXPECT_EQ(router.hold_ms["web"], 10'000);
}


TEST_F(AppSettleTest, ANewVersionStartsAtALowCpuWeightBesideTheServingOneAndGetsTheDefaultOnceRouted) {
  useStartupCpuShares(128);
  const auto createdShares = [&](int deployment) -> std::int64_t {
    for (const auto& [id, spec] : runtime.specs)
      if (spec.labels.at("berth.deployment") == std::to_string(deployment)) return spec.cpu_shares;
    return -1;
  };
  const auto runningShares = [&](int deployment) -> std::int64_t {
    for (const auto& c : runtime.running())
      if (c.labels.at("berth.deployment") == std::to_string(deployment)) return c.cpu_shares;
    return -1;
  };
  ASSERT_TRUE(deploy(1, "1").ok);
  EXPECT_EQ(createdShares(1), 0) << "nothing served before it: the default weight from the start";
  auto second = deploy(2, "2");
  ASSERT_TRUE(second.ok) << second.error_message;
  EXPECT_EQ(createdShares(2), 128) << "started beside the serving version: low weight";
  EXPECT_EQ(runningShares(2), 1024) << "routed: the default weight";
  EXPECT_EQ(runningShares(1), 0) << "the draining version keeps its own";
}


// A raise that failed (or an agent stopped between routing and raising) must not leave a serving
// container at the start-up weight: a redelivered deploy that adopts it, and the reconcile, put it right.
TEST_F(AppSettleTest, NoServingContainerKeepsTheStartUpCpuWeight) {
  useStartupCpuShares(128);
  ASSERT_TRUE(deploy(1, "1").ok);
  ASSERT_TRUE(deploy(2, "2").ok);
  const auto serving = [&]() -> runtime::ContainerInfo* {
    for (auto& [id, c] : runtime.containers)
      if (c.state == "running" && c.labels.at("berth.deployment") == "2") return &c;
    return nullptr;
  };
  ASSERT_NE(serving(), nullptr);
  ASSERT_EQ(serving()->cpu_shares, 1024);

  serving()->cpu_shares = 128;  // the raise never happened
  supervisor->reconcileApp("web");
  EXPECT_EQ(serving()->cpu_shares, 1024) << "the reconcile raises it";

  serving()->cpu_shares = 128;
  auto again = deploy(2, "2");  // the same deployment delivered again adopts the container
  ASSERT_TRUE(again.ok) << again.error_message;
  EXPECT_EQ(serving()->cpu_shares, 1024) << "adopted, it is not left low";
}

}  // namespace
}  // namespace berth::agent
