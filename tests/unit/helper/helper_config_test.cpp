#include "helper/helper_config.hpp"

#include <gtest/gtest.h>

namespace berth::helper {
namespace {

TEST(HelperConfig, DefaultsRunProxiesAsBerthWithFixedDirectories) {
  auto c = helperConfigFromJson(nlohmann::json::object());
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->socket, "/run/berth/helper.sock");
  EXPECT_EQ(c->proxy_user, "berth");
  EXPECT_EQ(c->proxy_dirs, std::vector<std::string>{"/var/lib/berth-agent/proxy"});
}

TEST(HelperConfig, ListsFromFlagsOrArrays) {
  auto c = helperConfigFromJson({{"proxy_dirs", "/a/b,/c"}, {"writable_files", nlohmann::json::array({"/etc/x.yml"})},
                                 {"clock_skew_s", "3"}});
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->proxy_dirs, (std::vector<std::string>{"/a/b", "/c"}));
  EXPECT_EQ(c->writable_files, std::vector<std::string>{"/etc/x.yml"});
  EXPECT_EQ(c->clock_skew_s, 3);
}

TEST(HelperConfig, RefusalsNameTheField) {
  auto err = [](const nlohmann::json& j) {
    auto c = helperConfigFromJson(j);
    return c ? std::string() : c.error().message;
  };
  EXPECT_NE(err({{"nope", 1}}).find("'nope'"), std::string::npos);
  EXPECT_NE(err({{"proxy_dirs", "/a/../etc"}}).find("'proxy_dirs'"), std::string::npos);
  EXPECT_NE(err({{"proxy_dirs", "relative"}}).find("'proxy_dirs'"), std::string::npos);
  EXPECT_NE(err({{"writable_files", nlohmann::json::array({1})}}).find("'writable_files'"), std::string::npos);
  EXPECT_NE(err({{"socket", "/run/a b.sock"}}).find("'socket'"), std::string::npos);
  EXPECT_NE(err({{"proxy_user", "root;id"}}).find("'proxy_user'"), std::string::npos);
  EXPECT_NE(err({{"clock_skew_s", 3600}}).find("'clock_skew_s'"), std::string::npos);
  EXPECT_NE(err({{"max_request_lifetime_s", "0"}}).find("'max_request_lifetime_s'"), std::string::npos);
  EXPECT_NE(err({{"log_level", "loud"}}).find("'log_level'"), std::string::npos);
}

}  // namespace
}  // namespace berth::helper
