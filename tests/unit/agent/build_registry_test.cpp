#include <gtest/gtest.h>

#include "agent/build_registry.hpp"
#include "agent/progress_throttle.hpp"
#include "protocol/verb_args.hpp"

namespace berth::agent {
namespace {

TEST(BuildRegistryTest, CancelReachesTheRunningBuildOfThatAppOnly) {
  BuildRegistry builds;
  EXPECT_FALSE(builds.cancel("web"));
  auto web = builds.start("web");
  auto api = builds.start("api");
  EXPECT_TRUE(builds.running("web"));
  EXPECT_TRUE(builds.cancel("web"));
  EXPECT_TRUE(web->cancel().load());
  EXPECT_FALSE(api->cancel().load());
  web.reset();
  EXPECT_FALSE(builds.running("web"));
  EXPECT_FALSE(builds.cancel("web"));
}

TEST(BuildRegistryTest, AnEndingEarlierBuildDoesNotUnregisterALaterOne) {
  BuildRegistry builds;
  auto first = builds.start("web");
  auto second = builds.start("web");
  first.reset();
  EXPECT_TRUE(builds.running("web"));
  EXPECT_TRUE(builds.cancel("web"));
  EXPECT_TRUE(second->cancel().load());
}

TEST(BuildRegistryTest, TheCancelVerbChecksItsArgumentAndAnswersWhetherABuildRan) {
  BuildRegistry builds;
  auto verb = buildCancelVerb(builds);
  auto none = verb({{"app", "web"}});
  EXPECT_TRUE(none.ok);
  EXPECT_EQ(none.output["cancelled"], false);
  auto running = builds.start("web.acme");
  auto hit = verb({{"app", "web.acme"}});
  EXPECT_EQ(hit.output["cancelled"], true);
  EXPECT_TRUE(running->cancel().load());
  for (const auto& bad : {nlohmann::json{{"app", "../x"}}, nlohmann::json{{"app", 3}}, nlohmann::json::object()}) {
    auto refused = verb(bad);
    EXPECT_FALSE(refused.ok) << bad.dump();
    EXPECT_NE(refused.error_message.find("args.app"), std::string::npos) << refused.error_message;
  }
  // The typed args table both sides check.
  EXPECT_TRUE(protocol::checkVerbArgs("app.build.cancel", {{"app", "web"}}).ok());
  EXPECT_FALSE(protocol::checkVerbArgs("app.build.cancel", nlohmann::json::object()).ok());
  EXPECT_FALSE(protocol::checkVerbArgs("app.build.cancel", {{"app", "web"}, {"cmd", "rm -rf /"}}).ok());
}

TEST(ProgressThrottleTest, AtMostOneReportPerIntervalAndABackwardClockLetsOneThrough) {
  ProgressThrottle throttle(250);
  EXPECT_TRUE(throttle.due(1000));
  EXPECT_FALSE(throttle.due(1000));
  EXPECT_FALSE(throttle.due(1249));
  EXPECT_TRUE(throttle.due(1250));
  EXPECT_FALSE(throttle.due(1300));
  EXPECT_TRUE(throttle.due(500));  // clock stepped back
  EXPECT_FALSE(throttle.due(600));
}

}  // namespace
}  // namespace berth::agent
