#include "agent/agent.hpp"

#include <gtest/gtest.h>

namespace berth::agent {
namespace {

TEST(AgentConfig, HelperSocketIsOffByDefaultAndTakesAbsolutePaths) {
  auto plain = agentConfigFromJson(nlohmann::json::object());
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->helper_socket, "");  // the agent acts itself, as before
  EXPECT_EQ(plain->helper_key_file, "/etc/berth/helper.key");
  auto set = agentConfigFromJson({{"helper_socket", "/run/berth/helper.sock"}, {"helper_key_file", "/etc/k"}});
  ASSERT_TRUE(set.ok()) << set.error().message;
  EXPECT_EQ(set->helper_socket, "/run/berth/helper.sock");
  EXPECT_EQ(set->helper_key_file, "/etc/k");
  for (const auto* bad : {"relative.sock", "/run/../etc/x"}) {
    auto r = agentConfigFromJson({{"helper_socket", bad}});
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_NE(r.error().message.find("helper_socket"), std::string::npos);
  }
  EXPECT_FALSE(agentConfigFromJson({{"helper_key_file", 7}}).ok());
}

}  // namespace
}  // namespace berth::agent
