// Servers started: `berth dev` (a server and its own agent in one process), twice
// on the same data directory.
#include <gtest/gtest.h>

#include <csignal>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "cli/api_client.hpp"
#include "harness.hpp"
#include "pki/sealed_file.hpp"

namespace berth::itest {
namespace {

struct DevRun {
  std::unique_ptr<Process> process;
  nlohmann::json context;
};

DevRun startDev(const std::string& root, int run) {
  const std::string cliFile = root + "/data/cli.json";
  const auto before =
      pki::fileExists(cliFile) ? std::filesystem::last_write_time(cliFile) : std::filesystem::file_time_type::min();
  DevRun dev;
  // A relative data directory, as README's `scripts/dev.sh` uses; the user's
  // config directory is the test's own.
  dev.process = Process::spawn({BERTH_BINARY, "dev", "--data-dir", "data", "--listen", "127.0.0.1:0"},
                               root + "/dev-" + std::to_string(run) + ".log",
                               {"XDG_CONFIG_HOME=" + root + "/xdg", "HOME=" + root + "/home"}, root);
  EXPECT_TRUE(eventually([&] {
    return pki::fileExists(cliFile) && std::filesystem::last_write_time(cliFile) != before;
  })) << dev.process->log();
  dev.context = nlohmann::json::parse(*pki::readFile(cliFile));
  return dev;
}

nlohmann::json nodes(const DevRun& dev) {
  auto client = cli::ApiClient::create({dev.context["server"], dev.context["api_key"], dev.context["ca_file"]});
  auto reply = client->call("GET", "/api/v1/nodes");
  return reply ? reply->body["nodes"] : nlohmann::json::array();
}

TEST(Dev, RunsServerAndAgentStopsCleanlyAndReusesItsState) {
  std::string pattern = ::testing::TempDir() + "berth-dev-XXXXXX";
  const std::string root = ::mkdtemp(pattern.data());

  auto first = startDev(root, 1);
  std::string nodeId;
  ASSERT_TRUE(eventually([&] {
    auto list = nodes(first);
    if (list.size() != 1 || list[0]["status"] != "online") return false;
    nodeId = list[0]["id"];
    return true;
  })) << first.process->log();
  EXPECT_NE(first.process->log().find("admin key:"), std::string::npos);
  first.process->signal(SIGINT);
  EXPECT_EQ(first.process->wait(std::chrono::seconds(10)), 0) << first.process->log();

  auto second = startDev(root, 2);
  EXPECT_EQ(second.context["api_key"], first.context["api_key"]);  // the same admin key still works
  ASSERT_TRUE(eventually([&] {
    auto list = nodes(second);
    return list.size() == 1 && list[0]["id"] == nodeId && list[0]["status"] == "online";
  })) << second.process->log();
  EXPECT_EQ(second.process->log().find("admin key:"), std::string::npos);  // shown only once
  EXPECT_EQ(countOccurrences(second.process->log(), "node enrolled"), 0);  // the dev agent did not re-enrol

  // The CLI finds the server from any directory through the user's context
  // file, and ignores a ./berth-data/cli.json it was not pointed at.
  const std::string userContext = root + "/xdg/berth/cli.json";
  ASSERT_TRUE(pki::fileExists(userContext));
  struct stat fileStat {}, dirStat{};
  ::stat(userContext.c_str(), &fileStat);
  ::stat((root + "/xdg/berth").c_str(), &dirStat);
  EXPECT_EQ(fileStat.st_mode & 0777, 0600u);
  EXPECT_EQ(dirStat.st_mode & 0777, 0700u);
  auto context = nlohmann::json::parse(*pki::readFile(userContext));
  EXPECT_EQ(context["ca_file"].get<std::string>().front(), '/') << context.dump();
  EXPECT_EQ(context["api_key"], first.context["api_key"]);
  const std::string elsewhere = root + "/elsewhere";
  std::filesystem::create_directories(elsewhere + "/berth-data");
  std::ofstream(elsewhere + "/berth-data/cli.json")
      << nlohmann::json{{"server", "https://127.0.0.1:1"}, {"api_key", "bk_trap"}, {"ca_file", "/dev/null"}};
  const std::vector<std::string> env = {"XDG_CONFIG_HOME=" + root + "/xdg", "BERTH_CLI_CONFIG="};
  auto ls = Process::spawn({BERTH_BINARY, "node", "ls"}, root + "/cli-ls.log", env, elsewhere);
  EXPECT_EQ(ls->wait(std::chrono::seconds(30)), 0) << ls->log();
  EXPECT_NE(ls->log().find(nodeId), std::string::npos) << ls->log();
  auto named = Process::spawn({BERTH_BINARY, "status", "--context", "data/cli.json"}, root + "/cli-named.log", env,
                              root);
  EXPECT_EQ(named->wait(std::chrono::seconds(30)), 0) << named->log();
  second.process->signal(SIGTERM);
  EXPECT_EQ(second.process->wait(std::chrono::seconds(10)), 0);
  if (!::testing::Test::HasFailure()) std::filesystem::remove_all(root);
}

}  // namespace
}  // namespace berth::itest
