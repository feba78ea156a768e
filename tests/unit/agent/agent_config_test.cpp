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

TEST(AgentConfig, SourceBuildSettingsHaveDefaultsAndBounds) {
  auto plain = agentConfigFromJson(nlohmann::json::object());
  ASSERT_TRUE(plain.ok());
  const auto defaults = buildSettingsOf(*plain);
  EXPECT_EQ(defaults.memory_bytes, std::int64_t{2} << 30);
  EXPECT_EQ(defaults.cpu_millicores, 2000);
  EXPECT_EQ(defaults.timeout_s, 900);
  EXPECT_EQ(defaults.git_timeout_s, 300);
  EXPECT_EQ(defaults.git_ca_file, "");
  auto set = agentConfigFromJson({{"build_memory", "4g"}, {"build_cpus", "1.5"}, {"build_timeout_s", "1200"},
                                  {"git_timeout_s", 60}, {"git_ca_file", "/etc/berth/git-ca.pem"}});
  ASSERT_TRUE(set.ok()) << set.error().message;
  const auto settings = buildSettingsOf(*set);
  EXPECT_EQ(settings.memory_bytes, std::int64_t{4} << 30);
  EXPECT_EQ(settings.cpu_millicores, 1500);
  EXPECT_EQ(settings.timeout_s, 1200);
  EXPECT_EQ(settings.git_timeout_s, 60);
  EXPECT_EQ(settings.git_ca_file, "/etc/berth/git-ca.pem");
  for (const auto& [key, bad] : std::vector<std::pair<std::string, nlohmann::json>>{
           {"build_memory", "1m"}, {"build_memory", "lots"}, {"build_cpus", "0.01"}, {"build_timeout_s", 0},
           {"git_timeout_s", 100000}, {"git_ca_file", "ca.pem"}, {"git_ca_file", "/etc/../ca.pem"}}) {
    auto r = agentConfigFromJson({{key, bad}});
    ASSERT_FALSE(r.ok()) << key << "=" << bad.dump();
    EXPECT_NE(r.error().message.find(key), std::string::npos) << r.error().message;
  }
}

}  // namespace
TEST(AgentConfig, UpstreamSwitchingAndTheStartUpCpuWeightTakeOnlyTheirValues) {
  auto defaults = agentConfigFromJson(nlohmann::json::object());
  ASSERT_TRUE(defaults.ok());
  EXPECT_EQ(defaults->proxy_switch, "kernel");
  EXPECT_EQ(defaults->startup_cpu_shares, 0);
  auto set = agentConfigFromJson({{"proxy_switch", "reload"}, {"startup_cpu_shares", 128}});
  ASSERT_TRUE(set.ok()) << set.error().message;
  EXPECT_EQ(set->proxy_switch, "reload");
  EXPECT_EQ(set->startup_cpu_shares, 128);
  for (const nlohmann::json& bad : {nlohmann::json{{"proxy_switch", "dns"}}, nlohmann::json{{"proxy_switch", "-kernel"}},
                                    nlohmann::json{{"proxy_switch", "kernel\n"}}, nlohmann::json{{"proxy_switch", 1}}}) {
    auto r = agentConfigFromJson(bad);
    ASSERT_FALSE(r.ok()) << bad.dump();
    EXPECT_NE(r.error().message.find("proxy_switch"), std::string::npos) << r.error().message;
  }
  for (int shares : {1, -1, 1025}) {  // Docker's smallest weight is 2
    auto r = agentConfigFromJson({{"startup_cpu_shares", shares}});
    ASSERT_FALSE(r.ok()) << shares;
    EXPECT_NE(r.error().message.find("startup_cpu_shares"), std::string::npos) << r.error().message;
  }
}

}  // namespace berth::agent
