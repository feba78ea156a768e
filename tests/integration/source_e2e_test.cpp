// Deploy from source end to end (issue 11), always through the CLI (`berth app
// deploy NAME --git URL`), with the app answering HTTP with the commit it runs
// (BERTH_GIT_COMMIT): a Node app built from its plan (no Dockerfile) and a
// multi-stage Dockerfile; a build over its memory limit and a cancelled build,
// each leaving the node responsive and the previous version serving; rollbacks
// that reuse a built image, or rebuild the commit once its image is gone.
// Servers started: berth server and agent, a private dockerd (images imported,
// never pulled; node from this machine's binary), nginx + fcgiwrap running git
// http-backend over TLS with basic auth.
#include <gtest/gtest.h>

#include <csignal>
#include <filesystem>
#include <fstream>

#include "common/json.hpp"
#include "common/subprocess.hpp"
#include "git_servers.hpp"
#include "harness.hpp"
#include "node_image.hpp"

namespace berth::itest {
namespace {

constexpr const char* kE2eToken = "tok-e2e-proofs";

// A busybox app whose page is the commit it runs, and /stage the first stage's output.
std::string multiStageDockerfile(const std::string& extra_step = "") {
  return "FROM berth-test/base:1 AS build\n"
         "COPY greeting /src/greeting\n"
         "RUN [\"/bin/busybox\", \"sh\", \"-c\", \"/bin/busybox mkdir -p /out && "
         "echo built-by-stage-one $(/bin/busybox cat /src/greeting) > /out/stage\"]\n"
         "FROM berth-test/base:1\n"
         "COPY --from=build /out/stage /www/stage\n" +
         extra_step +
         "CMD [\"/bin/busybox\", \"sh\", \"-c\", \"echo -n $BERTH_GIT_COMMIT > /www/index.html && "
         "exec /bin/busybox httpd -f -p 8080 -h /www\"]\n";
}

class SourceE2eTest : public ::testing::Test {
 protected:
  std::unique_ptr<DockerDaemon> daemon;
  std::unique_ptr<HttpsGitServer> git;
  std::string dir, nodeId;
  Cluster cluster;

  void SetUp() override {
    daemon = std::make_unique<DockerDaemon>();
    ASSERT_TRUE(daemon->ready());
    ASSERT_FALSE(daemon->importBusybox("berth-test/base", "1").empty());
    dir = daemon->root + "/source";
    std::filesystem::create_directories(dir + "/repos");
    git = std::make_unique<HttpsGitServer>(dir + "/https", dir + "/repos", "x-access-token", kE2eToken);
    ASSERT_TRUE(git->ready()) << git->log();
    ::setenv("BERTH_E2E_GIT_TOKEN", kE2eToken, 1);
    cluster.startServer({"--telemetry-interval-s", "1"});
  }
  void startAgent(const std::string& build_memory = "512m") {
    nodeId = cluster.startOnlineAgent("a", {"--docker-socket", daemon->socket, "--docker-network", "berth-test",
                                            "--reconcile-interval-s", "1", "--git-ca-file", git->caFile(),
                                            "--build-memory", build_memory});
    ASSERT_FALSE(nodeId.empty());
  }
  void TearDown() override {
    ::unsetenv("BERTH_E2E_GIT_TOKEN");
    try {
      cluster.agent("a").signal(SIGTERM);
      cluster.agent("a").wait(std::chrono::seconds(20));
    } catch (const std::logic_error&) {
    }
    git.reset();
    daemon.reset();
  }

  // `berth app deploy APP --git URL ...` (waits for healthy or failed unless --detach is in `extra`).
  std::pair<int, std::string> deploy(const std::string& app, const std::string& repo,
                                     const std::vector<std::string>& extra) {
    std::vector<std::string> args = {"app", "deploy", app, "--git", git->url(repo), "--ref", "main", "--token-env",
                                     "BERTH_E2E_GIT_TOKEN"};
    args.insert(args.end(), extra.begin(), extra.end());
    return cluster.cli(args);
  }
  nlohmann::json deployment(const std::string& app, int number) {
    return cluster.api("GET", "/api/v1/apps/" + app + "/deployments/" + std::to_string(number)).body;
  }
  bool settled(const std::string& app, int number, const std::string& state) {
    return eventually([&] { return deployment(app, number).value("state", "") == state; }, std::chrono::seconds(180));
  }
  // What each running container of `app` answers on `path`, in no order.
  std::vector<std::string> answers(const std::string& app, int port, const std::string& path = "/") {
    std::vector<std::string> out;
    auto ids = daemon->docker->list({{"berth.app", app}});
    if (!ids) return out;
    for (const auto& id : *ids) {
      auto info = daemon->docker->inspect(id);
      if (!info || !*info || (*info)->state != "running" || (*info)->ip_address.empty()) continue;
      auto got = runProcess(
          {"curl", "-s", "--max-time", "3", "http://" + (*info)->ip_address + ":" + std::to_string(port) + path}, 6000);
      out.push_back(got ? got->output : "");
    }
    return out;
  }
  // Every running container of `app` answers exactly `body` (and one does).
  bool serves(const std::string& app, int port, const std::string& body, const std::string& path = "/") {
    return eventually([&] {
      auto seen = answers(app, port, path);
      return !seen.empty() && std::all_of(seen.begin(), seen.end(), [&](const std::string& s) { return s == body; });
    }, std::chrono::seconds(60));
  }
  std::string seen(const std::string& app, int port) {
    std::string out;
    for (const auto& a : answers(app, port)) out += "[" + a + "] ";
    return out;
  }
  // The app's events for deployment `number` with this state and reason.
  int events(const std::string& app, int number, const std::string& state, const std::string& reason) {
    int n = 0;
    const auto page = cluster.api("GET", "/api/v1/apps/" + app + "/events?limit=1000");
    for (const auto& e : page.body)
      n += e.value("deployment", 0) == number && e.value("state", "") == state && e.value("reason", "") == reason;
    return n;
  }
  // Containers of the node's dockerd that are running and not an app's: build steps.
  std::vector<std::string> strayContainers() {
    std::vector<std::string> out;
    auto ids = daemon->docker->list({});
    if (!ids) return {"listing failed: " + ids.error().message};
    for (const auto& id : *ids) {
      auto info = daemon->docker->inspect(id);
      if (info && *info && (*info)->state == "running" && !(*info)->labels.count("berth.app"))
        out.push_back((*info)->name + " " + id);
    }
    return out;
  }
  std::string imageId(const std::string& reference) {
    auto image = daemon->docker->inspectImage(reference);
    return image && *image ? (*image)->id : "";
  }
  std::string agentLog() { return cluster.agent("a").log(); }
};

TEST_F(SourceE2eTest, ANodeAppWithoutDockerfileAndAMultiStageDockerfileEachAnswerWithTheirCommit) {
  ASSERT_EQ(importNodeImage(*daemon, "berth-test/node:20"), "");
  startAgent();
  // Node, no Dockerfile: the detected plan, with the base image this machine has and no npm install.
  GitRepo shop(dir + "/repos", "shop");
  const auto shopCommit = shop.commit({
      {"package.json", R"({"name":"shop","version":"1.0.0","main":"server.js"})"},
      {"server.js",
       "require('http').createServer((q, s) => s.end(process.env.BERTH_GIT_COMMIT))"
       ".listen(process.env.PORT);\n"},
  });
  auto [code, out] = cluster.cli({"app", "create", "shop", "--node", nodeId});
  ASSERT_EQ(code, 0) << out;
  const std::string planFile = dir + "/plan.json";
  std::ofstream(planFile) << R"({"base_image": "berth-test/node:20", "install": []})";
  std::tie(code, out) = cluster.cli({"app", "plan", "shop", "--set", planFile});
  ASSERT_EQ(code, 0) << out;
  std::tie(code, out) = deploy("shop", "shop", {"--port", "3000"});
  ASSERT_EQ(code, 0) << out << "\n" << deployment("shop", 1).dump() << "\n" << agentLog();
  ASSERT_TRUE(settled("shop", 1, "healthy")) << deployment("shop", 1).dump();
  EXPECT_TRUE(serves("shop", 3000, shopCommit)) << seen("shop", 3000);
  EXPECT_EQ(deployment("shop", 1)["build_plan"].value("stack", ""), "node") << deployment("shop", 1).dump();
  std::tie(code, out) = cluster.cli({"app", "show", "shop"});
  EXPECT_NE(out.find(shopCommit), std::string::npos) << out;
  // The same commit deployed again: its image is reused (no build) and the deployment keeps the plan it was built from.
  std::tie(code, out) = deploy("shop", "shop", {"--port", "3000"});
  ASSERT_EQ(code, 0) << out;
  ASSERT_TRUE(settled("shop", 2, "healthy")) << deployment("shop", 2).dump();
  EXPECT_EQ(events("shop", 2, "building", "build"), 0);
  EXPECT_EQ(deployment("shop", 2)["commit"], shopCommit);
  EXPECT_EQ(deployment("shop", 2)["build_plan"], deployment("shop", 1)["build_plan"]) << deployment("shop", 2).dump();
  EXPECT_TRUE(serves("shop", 3000, shopCommit)) << seen("shop", 3000);

  // A multi-stage Dockerfile: the final image has the first stage's output and runs the commit.
  GitRepo site(dir + "/repos", "site");
  const auto siteCommit = site.commit({{"Dockerfile", multiStageDockerfile()}, {"greeting", "hello"}});
  std::tie(code, out) = deploy("site", "site", {"--port", "8080", "--node", nodeId});
  ASSERT_EQ(code, 0) << out << "\n" << deployment("site", 1).dump() << "\n" << agentLog();
  ASSERT_TRUE(settled("site", 1, "healthy")) << deployment("site", 1).dump();
  EXPECT_TRUE(serves("site", 8080, siteCommit)) << seen("site", 8080);
  EXPECT_TRUE(serves("site", 8080, "built-by-stage-one hello\n", "/stage"));
  // A push of a new commit and a redeploy: the app answers with the new one.
  const auto siteNext = site.commit({{"greeting", "again"}});
  std::tie(code, out) = deploy("site", "site", {"--port", "8080"});
  ASSERT_EQ(code, 0) << out;
  ASSERT_TRUE(settled("site", 2, "healthy")) << deployment("site", 2).dump();
  EXPECT_TRUE(serves("site", 8080, siteNext)) << seen("site", 8080);
  EXPECT_TRUE(serves("site", 8080, "built-by-stage-one again\n", "/stage"));
}

TEST_F(SourceE2eTest, ABuildOverItsMemoryFailsNamingTheStepACancelStopsABuildAndTheNodeServesOn) {
  startAgent("64m");
  GitRepo repo(dir + "/repos", "web");
  const auto good = repo.commit({{"Dockerfile", multiStageDockerfile()}, {"greeting", "hi"}});
  auto [code, out] = deploy("web", "web", {"--port", "8080", "--node", nodeId});
  ASSERT_EQ(code, 0) << out << "\n" << agentLog();
  ASSERT_TRUE(serves("web", 8080, good)) << seen("web", 8080);

  // A step that holds 400 MB in a shell variable, in a build limited to 64 MiB (no swap).
  repo.commit({{"Dockerfile", multiStageDockerfile(
                                  "RUN [\"/bin/busybox\", \"sh\", \"-c\", \"echo allocating; "
                                  "x=$(/bin/busybox head -c 400000000 /dev/zero | /bin/busybox tr '\\\\0' a); "
                                  "echo held ${#x}\"]\n")}});
  std::tie(code, out) = deploy("web", "web", {"--port", "8080", "--detach"});
  ASSERT_EQ(code, 0) << out;
  ASSERT_TRUE(settled("web", 2, "failed")) << deployment("web", 2).dump() << "\n" << agentLog();
  const std::string reason = deployment("web", 2).value("reason", "");
  EXPECT_NE(reason.find("Step 6/"), std::string::npos) << "names the failing step: " << reason;
  EXPECT_NE(reason.find("allocating"), std::string::npos) << "and its last lines: " << reason;
  EXPECT_NE(reason.find("non-zero code: 137"), std::string::npos) << "killed for its memory: " << reason;
  EXPECT_EQ(reason.find("held 400000000"), std::string::npos) << "the step did not get its memory: " << reason;
  // The node answers a command, the first version serves, nothing of the build runs on.
  auto ping = cluster.api("POST", "/api/v1/nodes/" + nodeId + "/commands", {{"verb", "ping"}});
  ASSERT_EQ(ping.status, 202) << ping.body.dump();
  EXPECT_EQ(cluster.waitForCommand(ping.body.value("id", ""))["state"], "succeeded");
  EXPECT_TRUE(serves("web", 8080, good)) << seen("web", 8080);
  EXPECT_EQ(cluster.api("GET", "/api/v1/apps/web").body["current_deployment"], 1);
  EXPECT_TRUE(eventually([&] { return strayContainers().empty(); }, std::chrono::seconds(30)));

  // A build that would sleep for 10 minutes, cancelled from the CLI while its step runs.
  repo.commit({{"Dockerfile", multiStageDockerfile("RUN [\"/bin/busybox\", \"sh\", \"-c\", "
                                                   "\"echo sleeping now; /bin/busybox sleep 600\"]\n")}});
  std::tie(code, out) = deploy("web", "web", {"--port", "8080", "--detach"});
  ASSERT_EQ(code, 0) << out;
  ASSERT_TRUE(eventually([&] {
    const auto page = cluster.api("GET", "/api/v1/apps/web/logs?tail=200");
    for (const auto& l : page.body["lines"])
      if (l.value("stream", "") == "build" && l.value("text", "").find("sleeping now") != std::string::npos) return true;
    return false;
  }, std::chrono::seconds(120))) << deployment("web", 3).dump() << "\n"
                                  << cluster.api("GET", "/api/v1/commands/" + deployment("web", 3).value("command_id", "")).body.dump()
                                  << "\n" << agentLog();
  EXPECT_FALSE(strayContainers().empty()) << "the step's container runs";
  std::tie(code, out) = cluster.cli({"app", "build", "cancel", "web"});
  EXPECT_EQ(code, 0) << out;
  // Well before the step's 600 s: the deployment fails saying it was cancelled.
  ASSERT_TRUE(settled("web", 3, "failed")) << deployment("web", 3).dump();
  EXPECT_NE(deployment("web", 3).value("reason", "").find("cancel"), std::string::npos) << deployment("web", 3).dump();
  EXPECT_TRUE(eventually([&] { return strayContainers().empty(); }, std::chrono::seconds(30)))
      << "the step's container is ended: " << strayContainers().front();
  EXPECT_TRUE(serves("web", 8080, good)) << seen("web", 8080);
  EXPECT_EQ(cluster.api("GET", "/api/v1/apps/web").body["current_deployment"], 1);
  // Nothing is left to cancel.
  std::tie(code, out) = cluster.cli({"app", "build", "cancel", "web"});
  EXPECT_EQ(code, 0) << out;
}

TEST_F(SourceE2eTest, ARollbackReusesTheBuiltImageAndRebuildsTheCommitOnceTheImageIsGone) {
  startAgent();
  GitRepo repo(dir + "/repos", "web");
  const auto first = repo.commit({{"Dockerfile", multiStageDockerfile()}, {"greeting", "one"}});
  // No watch window and no drain: a replaced version's containers go at once, so its image is unused.
  const std::vector<std::string> flags = {"--port", "8080", "--watch", "0", "--drain", "0"};
  auto withNode = flags;
  withNode.insert(withNode.end(), {"--node", nodeId});
  auto [code, out] = deploy("web", "web", withNode);
  ASSERT_EQ(code, 0) << out << "\n" << agentLog();
  ASSERT_TRUE(serves("web", 8080, first)) << seen("web", 8080);
  const auto second = repo.commit({{"greeting", "two"}});
  std::tie(code, out) = deploy("web", "web", flags);
  ASSERT_EQ(code, 0) << out;
  ASSERT_TRUE(serves("web", 8080, second)) << seen("web", 8080);
  const std::string firstImage = "web:" + first.substr(0, 12);
  const std::string firstId = imageId(firstImage);
  ASSERT_FALSE(firstId.empty());
  EXPECT_EQ(events("web", 1, "building", "build"), 1);

  // Back to the first: its image is reused, nothing is built.
  std::tie(code, out) = cluster.cli({"app", "rollback", "web", "--to", "1"});
  ASSERT_EQ(code, 0) << out;
  ASSERT_TRUE(settled("web", 3, "healthy")) << deployment("web", 3).dump();
  EXPECT_TRUE(serves("web", 8080, first)) << seen("web", 8080);
  EXPECT_EQ(deployment("web", 3)["commit"], first);
  EXPECT_EQ(events("web", 3, "building", "fetch"), 0);
  EXPECT_EQ(events("web", 3, "building", "build"), 0);
  EXPECT_EQ(imageId(firstImage), firstId);

  // Forward to the second again, then the first's image is deleted on the node's dockerd.
  std::tie(code, out) = cluster.cli({"app", "rollback", "web", "--to", "2"});
  ASSERT_EQ(code, 0) << out;
  ASSERT_TRUE(settled("web", 4, "healthy")) << deployment("web", 4).dump();
  ASSERT_TRUE(serves("web", 8080, second)) << seen("web", 8080);
  ASSERT_TRUE(eventually([&] {
    (void)daemon->docker->request("DELETE", "/images/" + firstId + "?force=1");
    return imageId(firstId).empty() && imageId(firstImage).empty();
  }, std::chrono::seconds(60)));
  // Back to the first: its commit is fetched and built again, and it runs.
  std::tie(code, out) = cluster.cli({"app", "rollback", "web", "--to", "1"});
  ASSERT_EQ(code, 0) << out << "\n" << deployment("web", 5).dump() << "\n" << agentLog();
  ASSERT_TRUE(settled("web", 5, "healthy")) << deployment("web", 5).dump();
  EXPECT_TRUE(serves("web", 8080, first)) << seen("web", 8080);
  EXPECT_TRUE(serves("web", 8080, "built-by-stage-one one\n", "/stage"));
  EXPECT_EQ(events("web", 5, "building", "fetch"), 1);
  EXPECT_EQ(events("web", 5, "building", "build"), 1);
  EXPECT_FALSE(imageId(firstImage).empty());
  EXPECT_EQ(deployment("web", 5)["commit"], first);
}

}  // namespace
}  // namespace berth::itest
