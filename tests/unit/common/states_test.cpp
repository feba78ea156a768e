#include "common/states.hpp"

#include <gtest/gtest.h>

#include <set>

namespace berth {
namespace {

// Every value spells to a distinct name that parses back to it: one mapping, no drift.
template <typename Enum, typename Name, typename Parse>
void expectRoundTrip(int count, Name name, Parse parse) {
  std::set<std::string> seen;
  for (int i = 0; i < count; ++i) {
    const auto value = static_cast<Enum>(i);
    const std::string spelled = name(value);
    EXPECT_FALSE(spelled.empty());
    EXPECT_TRUE(seen.insert(spelled).second) << spelled << " spelled twice";
    EXPECT_EQ(parse(spelled), value) << spelled;
  }
}

TEST(States, EveryStateHasOneSpellingThatParsesBack) {
  expectRoundTrip<NodeStatus>(3, nodeStatusName, parseNodeStatus);
  expectRoundTrip<CommandState>(7, commandStateName, parseCommandState);
  expectRoundTrip<DeploymentState>(7, deploymentStateName, parseDeploymentState);
  expectRoundTrip<AppDesired>(3, appDesiredName, parseAppDesired);
}

TEST(States, UnknownSpellingsAreRefused) {
  EXPECT_FALSE(parseDeploymentState("Healthy"));
  EXPECT_FALSE(parseDeploymentState(""));
  EXPECT_FALSE(parseCommandState("done"));
  EXPECT_FALSE(parseAppDesired("deleted"));
}

TEST(States, SettledAndRollbackTargets) {
  EXPECT_TRUE(isSettled(DeploymentState::Failed));
  EXPECT_TRUE(isSettled(DeploymentState::Superseded));
  EXPECT_FALSE(isSettled(DeploymentState::Starting));
  EXPECT_FALSE(isSettled(DeploymentState::Pending));
  EXPECT_TRUE(ranHealthy(DeploymentState::Superseded));
  EXPECT_FALSE(ranHealthy(DeploymentState::Failed));
  EXPECT_TRUE(isTerminal(CommandState::Expired));
  EXPECT_FALSE(isTerminal(CommandState::Running));
}

}  // namespace
}  // namespace berth
