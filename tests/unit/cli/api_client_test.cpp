#include "cli/api_client.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "../temp_dir.hpp"

namespace berth::cli {
namespace {

void write(const std::string& path, const std::string& server) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream(path) << nlohmann::json{{"server", server}, {"api_key", "bk_" + server}, {"ca_file", "/ca.crt"}};
}

TEST(ApiClientSettings, UserContextPathPrefersAnAbsoluteXdgConfigHome) {
  EXPECT_EQ(userContextPath({{"XDG_CONFIG_HOME", "/x"}, {"HOME", "/h"}}), "/x/berth/cli.json");
  EXPECT_EQ(userContextPath({{"XDG_CONFIG_HOME", "relative"}, {"HOME", "/h"}}), "/h/.config/berth/cli.json");
  EXPECT_EQ(userContextPath({{"HOME", "/h"}}), "/h/.config/berth/cli.json");
  EXPECT_EQ(userContextPath({}), "");
}

TEST(ApiClientSettings, TheWorkingDirectoryIsNotReadUnlessNamed) {
  berth::testing::TempDir dir;
  const auto previous = std::filesystem::current_path();
  std::filesystem::current_path(dir.path());
  write(dir.path() + "/berth-data/cli.json", "https://attacker.example:7443");
  write(dir.path() + "/home/.config/berth/cli.json", "https://mine.example:7443");
  const std::map<std::string, std::string> env = {{"HOME", dir.path() + "/home"}};
  auto settings = resolveClientSettings({}, env);
  ASSERT_TRUE(settings.ok()) << settings.error().message;
  EXPECT_EQ(settings->server, "https://mine.example:7443");
  EXPECT_EQ(settings->api_key, "bk_https://mine.example:7443");
  // Named with --context (or BERTH_CLI_CONFIG), a file is read.
  ClientSettings flags;
  flags.context = "./berth-data/cli.json";
  auto named = resolveClientSettings(flags, env);
  ASSERT_TRUE(named.ok()) << named.error().message;
  EXPECT_EQ(named->server, "https://attacker.example:7443");
  auto viaEnv = resolveClientSettings({}, {{"BERTH_CLI_CONFIG", "./berth-data/cli.json"}});
  ASSERT_TRUE(viaEnv.ok());
  EXPECT_EQ(viaEnv->server, "https://attacker.example:7443");
  // A named file that is missing is an error, not a silent fallback.
  flags.context = "./nope.json";
  auto missing = resolveClientSettings(flags, env);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, "usage");
  // No user context and nothing named: no server, whatever ./berth-data holds.
  auto none = resolveClientSettings({}, {{"HOME", dir.path() + "/empty"}});
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.error().message.find("no server"), std::string::npos);
  std::filesystem::current_path(previous);
}

}  // namespace
}  // namespace berth::cli
