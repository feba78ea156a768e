// An app deployed from a private git repository end to end: the CLI asks the
// server, the server sends the sealed token to the node, the agent fetches the
// commit, builds it on its dockerd and runs it; the deployment records the
// commit, the build's lines reach the app's log, and a failing build leaves the
// running version serving. Servers started: berth server and agent, a private
// dockerd, nginx + fcgiwrap running git http-backend over TLS with basic auth.
#include <gtest/gtest.h>

#include <csignal>
#include <filesystem>
#include <fstream>

#include "git_servers.hpp"
#include "harness.hpp"

namespace berth::itest {
namespace {

constexpr const char* kGitToken = "tok-e2e-secret";

class SourceDeployTest : public ::testing::Test {
 protected:
  std::unique_ptr<DockerDaemon> daemon;
  std::unique_ptr<HttpsGitServer> git;
  std::unique_ptr<GitRepo> repo;
  Cluster cluster;

  void SetUp() override {
    daemon = std::make_unique<DockerDaemon>();
    ASSERT_TRUE(daemon->ready());
    ASSERT_FALSE(daemon->importBusybox("berth-test/base", "1").empty());
    const std::string dir = daemon->root + "/source";
    std::filesystem::create_directories(dir + "/repos");
    git = std::make_unique<HttpsGitServer>(dir + "/https", dir + "/repos", "x-access-token", kGitToken);
    ASSERT_TRUE(git->ready()) << git->log();
    repo = std::make_unique<GitRepo>(dir + "/repos", "shop");
    cluster.startServer({"--telemetry-interval-s", "1"});
    ASSERT_FALSE(cluster
                     .startOnlineAgent("a", {"--docker-socket", daemon->socket, "--docker-network", "berth-test",
                                             "--reconcile-interval-s", "1", "--git-ca-file", git->caFile(),
                                             "--build-memory", "512m"})
                     .empty());
  }
  void TearDown() override {
    try {
      cluster.agent("a").signal(SIGTERM);
      cluster.agent("a").wait(std::chrono::seconds(20));
    } catch (const std::logic_error&) {
    }
    git.reset();
    daemon.reset();
  }

  nlohmann::json deployment(int number) {
    return cluster.api("GET", "/api/v1/apps/web/deployments/" + std::to_string(number)).body;
  }
  bool settled(int number, const std::string& state) {
    return eventually([&] { return deployment(number).value("state", "") == state; }, std::chrono::seconds(180));
  }
};

TEST_F(SourceDeployTest, ACommitIsFetchedBuiltRunAndRecordedAndABrokenBuildLeavesItServing) {
  const std::string first = repo->commit(
      {{"Dockerfile", "FROM berth-test/base:1\nRUN [\"/bin/busybox\", \"sh\", \"-c\", \"echo building the shop\"]\n"
                      "CMD [\"/bin/busybox\", \"sleep\", \"3600\"]\n"}});
  ::setenv("BERTH_E2E_GIT_TOKEN", kGitToken, 1);
  auto [code, out] = cluster.cli({"app", "deploy", "web", "--git", git->url("shop"), "--ref", "main", "--token-env",
                                  "BERTH_E2E_GIT_TOKEN", "--detach"});
  ASSERT_EQ(code, 0) << out;
  ASSERT_TRUE(settled(1, "healthy")) << deployment(1).dump() << "\n" << cluster.agent("a").log();
  auto shown = cluster.api("GET", "/api/v1/apps/web").body;
  EXPECT_EQ(shown["commit"], first) << shown.dump();
  EXPECT_EQ(deployment(1)["commit"], first);
  // Its build's output is in the app's log, as stream "build".
  bool sawBuildLine = false;
  EXPECT_TRUE(eventually([&] {
    const auto page = cluster.api("GET", "/api/v1/apps/web/logs?tail=500");
    for (const auto& l : page.body["lines"])
      sawBuildLine |= l.value("stream", "") == "build" && l.value("text", "").find("building the shop") != std::string::npos;
    return sawBuildLine;
  })) << cluster.api("GET", "/api/v1/apps/web/logs?tail=50").body.dump();
  // The image is tagged with the app and the commit.
  auto tagged = daemon->docker->inspectImage("web:" + first.substr(0, 12));
  ASSERT_TRUE(tagged.ok());
  EXPECT_TRUE(tagged->has_value());

  // A commit whose build fails: the deployment fails naming the step, the first keeps running.
  repo->commit({{"Dockerfile", "FROM berth-test/base:1\nRUN [\"/bin/busybox\", \"sh\", \"-c\", \"echo no space; exit 7\"]\n"}});
  std::tie(code, out) = cluster.cli({"app", "deploy", "web", "--git", git->url("shop"), "--ref", "main", "--detach"});
  ASSERT_EQ(code, 0) << out;
  ASSERT_TRUE(settled(2, "failed")) << deployment(2).dump();
  EXPECT_NE(deployment(2).value("reason", "").find("no space"), std::string::npos) << deployment(2).dump();
  shown = cluster.api("GET", "/api/v1/apps/web").body;
  EXPECT_EQ(shown["current_deployment"], 1) << shown.dump();
  auto running = daemon->docker->list({{"berth.app", "web"}});
  ASSERT_TRUE(running.ok());
  EXPECT_EQ(running->size(), 1u);
  ::unsetenv("BERTH_E2E_GIT_TOKEN");
}

// Docker's classic builder takes FROM images from the node before it asks a registry: a build
// must not start from an image another org's registry credentials brought to the node.
TEST_F(SourceDeployTest, ABuildFromAnImageAnotherOrgPulledWithCredentialsFailsAndRunsNothing) {
  // Named under a loopback registry nothing listens on, so that asking it stays on this machine.
  const std::string privateName = "127.0.0.1:1/berth-test/private:1";
  ASSERT_FALSE(daemon->importBusybox("127.0.0.1:1/berth-test/private", "1", {{"/secret", "acme's\n"}}).empty());
  auto privateImage = daemon->docker->inspectImage(privateName);
  ASSERT_TRUE(privateImage.ok() && *privateImage);
  // As acme's deploy records its pull with credentials (RegistryTest covers that record); the
  // agent reads the record when it starts.
  cluster.agent("a").signal(SIGTERM);
  ASSERT_GE(cluster.agent("a").wait(std::chrono::seconds(20)), 0);
  std::ofstream(cluster.agentDir("a") + "/image_access.json")
      << nlohmann::json{{"images", {{(*privateImage)->id, {"acme"}}}}}.dump();
  ASSERT_FALSE(cluster
                   .startOnlineAgent("a", {"--docker-socket", daemon->socket, "--docker-network", "berth-test",
                                           "--reconcile-interval-s", "1", "--git-ca-file", git->caFile(),
                                           "--build-memory", "512m"})
                   .empty());
  repo->commit({{"Dockerfile", "FROM " + privateName + "\nCMD [\"/bin/busybox\", \"cat\", \"/secret\"]\n"}});
  ::setenv("BERTH_E2E_GIT_TOKEN", kGitToken, 1);
  auto [code, out] = cluster.cli({"app", "deploy", "web", "--git", git->url("shop"), "--ref", "main", "--token-env",
                                  "BERTH_E2E_GIT_TOKEN", "--detach"});
  ::unsetenv("BERTH_E2E_GIT_TOKEN");
  ASSERT_EQ(code, 0) << out;
  ASSERT_TRUE(settled(1, "failed")) << deployment(1).dump() << "\n" << cluster.agent("a").log();
  EXPECT_NE(deployment(1).value("reason", "").find("FROM " + privateName), std::string::npos) << deployment(1).dump();
  auto running = daemon->docker->list({{"berth.app", "web"}});
  ASSERT_TRUE(running.ok());
  EXPECT_TRUE(running->empty());
}

}  // namespace
}  // namespace berth::itest
