// SourceBuilder end to end (issue 11): a repository served by a real git
// server (nginx + fcgiwrap + git http-backend over TLS, git_servers.hpp) built
// into an image by a real dockerd (DockerDaemon in harness.hpp: a private
// daemon, classic builder). Every server is started by the test on loopback
// and stopped after it. Base images are imported, never pulled: busybox, and
// for the Node plan a "node" image assembled from this machine's node binary
// and the libraries ldd lists (node_image.hpp).
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "agent/build_registry.hpp"
#include "agent/image_access.hpp"
#include "agent/source_builder.hpp"
#include "common/subprocess.hpp"
#include "pki/sealed_file.hpp"
#include "git_servers.hpp"
#include "node_image.hpp"

namespace berth::itest {
namespace {

class SourceImageTest : public ::testing::Test {
 protected:
  std::unique_ptr<DockerDaemon> daemon;
  std::unique_ptr<HttpsGitServer> git;
  std::string dir;
  std::atomic<bool> cancel{false};

  void SetUp() override {
    daemon = std::make_unique<DockerDaemon>();
    ASSERT_TRUE(daemon->ready());
    ASSERT_FALSE(daemon->importBusybox("berth-test/base", "1").empty());
    dir = daemon->root + "/source";
    std::filesystem::create_directories(dir + "/repos");
    git = std::make_unique<HttpsGitServer>(dir + "/https", dir + "/repos", "x-access-token", "tok");
    ASSERT_TRUE(git->ready()) << git->log();
  }
  void TearDown() override {
    git.reset();
    daemon.reset();
  }

  agent::BuildSettings settings() {
    agent::BuildSettings s;
    s.git_ca_file = git->caFile();
    s.memory_bytes = 512 << 20;
    s.cpu_millicores = 1000;
    s.timeout_s = 240;
    s.plan.node_image = "berth-test/node:20";
    return s;
  }
  agent::SourceBuildRequest request(const std::string& app, const std::string& repo) {
    agent::SourceBuildRequest r;
    r.app = app;
    r.url = git->url(repo);
    r.ref = "main";
    r.credentials.token = "tok";
    return r;
  }
  bool buildsDirEmpty() {
    return !std::filesystem::exists(dir + "/state/builds") || std::filesystem::is_empty(dir + "/state/builds");
  }

  // The first run's output of a container of `image` (berth's containers restart on exit).
  std::string runOnce(const std::string& image) {
    runtime::ContainerSpec spec;
    spec.name = "berth-src-check-" + std::to_string(::getpid());
    spec.image = image;
    auto id = daemon->docker->create(spec);
    if (!id) return "create failed: " + id.error().message;
    (void)daemon->docker->start(*id);
    std::string out;
    for (int i = 0; i < 200 && out.empty(); ++i) {
      auto info = daemon->docker->inspect(*id);
      if (info && *info && ((*info)->state == "exited" || (*info)->state == "restarting")) {
        auto logs = daemon->docker->request("GET", "/containers/" + *id + "/logs?stdout=1&stderr=1");
        out = logs ? logs->body : "no logs";
      }
      ::usleep(100'000);
    }
    (void)daemon->docker->remove(*id, true);
    return out;
  }
};

TEST_F(SourceImageTest, AMultiStageDockerfileHonouringDockerignoreWithoutLeakingHostFilesThenReused) {
  std::ifstream shadowFile("/etc/shadow");
  std::string hostShadow;
  std::getline(shadowFile, hostShadow);
  ASSERT_FALSE(hostShadow.empty());
  GitRepo repo(dir + "/repos", "web");
  const auto commit = repo.commit({
      {"Dockerfile",
       "FROM berth-test/base:1 AS build\n"
       "COPY VERSION /made/VERSION\n"
       "RUN [\"/bin/busybox\", \"sh\", \"-c\", \"echo built from version $(/bin/busybox cat /made/VERSION) > /made/answer\"]\n"
       "FROM berth-test/base:1\n"
       "COPY --from=build /made/answer /answer\n"
       "COPY . /src\n"
       "CMD [\"/bin/busybox\", \"sh\", \"-c\", \"/bin/busybox cat /answer; /bin/busybox ls -la /src; "
       "/bin/busybox cat /src/shadow /src/secret.txt /src/linked/shadow; echo end\"]\n"},
      {".dockerignore", "secret.txt\n"},
      {"VERSION", "7"},
      {"secret.txt", "TOP-SECRET-VALUE\n"},
      {"shadow", "@link:/etc/shadow"},
      {"linked", "@link:/etc"},
  });
  agent::SourceBuilder builder(*daemon->docker, settings(), dir + "/state");
  std::vector<std::string> steps, lines;
  agent::BuildObserver observer{[&](const std::string& s) { steps.push_back(s); },
                                [&](const std::string& l) { lines.push_back(l); }};
  auto built = builder.build(request("web", "web"), observer, cancel);
  ASSERT_TRUE(built.ok()) << built.error().message;
  EXPECT_EQ(built->commit, commit);
  EXPECT_EQ(built->image, "web:" + commit.substr(0, 12));
  EXPECT_TRUE(built->plan.is_null());
  EXPECT_FALSE(built->reused);
  EXPECT_EQ(steps, (std::vector<std::string>{"fetch", "context", "build"}));
  EXPECT_TRUE(std::any_of(lines.begin(), lines.end(), [](const std::string& l) { return l.rfind("Step 1/", 0) == 0; }));
  auto image = daemon->docker->inspectImage(built->image);
  ASSERT_TRUE(image.ok() && *image);
  EXPECT_EQ((*image)->id, built->image_id);
  EXPECT_EQ((*image)->labels[agent::kBuildLabel].rfind("web@" + commit + ":", 0), 0u) << (*image)->labels[agent::kBuildLabel];
  EXPECT_EQ(std::count_if(lines.begin(), lines.end(), [](const std::string& l) { return l.find(" : LABEL ") != std::string::npos; }),
            1) << "one label, so one LABEL step";
  EXPECT_TRUE(buildsDirEmpty());

  const auto out = runOnce(built->image);
  EXPECT_NE(out.find("built from version 7"), std::string::npos) << out;
  EXPECT_NE(out.find("shadow -> /etc/shadow"), std::string::npos) << "the link itself is copied: " << out;
  EXPECT_NE(out.find("VERSION"), std::string::npos) << out;
  EXPECT_EQ(out.find("TOP-SECRET-VALUE"), std::string::npos) << ".dockerignore'd: " << out;
  EXPECT_EQ(out.find(hostShadow.substr(0, 20)), std::string::npos) << "the host's /etc/shadow leaked: " << out;
  EXPECT_NE(out.find("end"), std::string::npos) << out;

  // The same commit again: the image is reused and no build runs. The ls-remote's answer decides it:
  // with the repository's objects gone the refs still resolve but no fetch can succeed.
  steps.clear();
  const int fetches = git->requestsMatching("command=fetch");
  EXPECT_GE(fetches, 1);
  EXPECT_EQ(git->requestsMatching("command=ls-refs"), fetches) << "no image of the app yet: no ls-remote beside the fetch";
  const std::string objects = repo.bare() + "/objects";
  std::filesystem::rename(objects, objects + ".away");
  std::filesystem::create_directory(objects);
  auto again = builder.build(request("web", "web"), observer, cancel);
  std::filesystem::remove_all(objects);
  std::filesystem::rename(objects + ".away", objects);
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_TRUE(again->reused);
  EXPECT_EQ(again->image_id, built->image_id);
  EXPECT_EQ(again->commit, commit);
  EXPECT_EQ(steps, (std::vector<std::string>{"fetch"}));
  EXPECT_TRUE(buildsDirEmpty()) << "the stopped fetch left nothing";
  // The same commit with another build argument is another image: built, not reused.
  auto otherArgs = request("web", "web");
  otherArgs.build_args = {{"MODE", "debug"}};
  auto withArgs = builder.build(otherArgs, observer, cancel);
  ASSERT_TRUE(withArgs.ok()) << withArgs.error().message;
  EXPECT_FALSE(withArgs->reused);
  EXPECT_EQ(withArgs->commit, commit);
  // Unless a rebuild is asked for.
  auto forced = request("web", "web");
  forced.rebuild = true;
  auto rebuilt = builder.build(forced, observer, cancel);
  ASSERT_TRUE(rebuilt.ok()) << rebuilt.error().message;
  EXPECT_FALSE(rebuilt->reused);
  // An image of that name berth did not build for this commit is never taken for it.
  auto tagged = daemon->docker->request("POST", "/images/berth-test/base:1/tag?repo=api&tag=" + commit.substr(0, 12));
  ASSERT_TRUE(tagged.ok() && tagged->status == 201);
  auto trap = request("api", "web");
  auto notReused = builder.build(trap, observer, cancel);
  ASSERT_TRUE(notReused.ok()) << notReused.error().message;
  EXPECT_FALSE(notReused->reused);

  // Pruning keeps what deployments use and removes the rest of the app's builds.
  auto pruned = builder.prune("web", {built->image});
  ASSERT_TRUE(pruned.ok()) << pruned.error().message;
  EXPECT_TRUE(daemon->docker->imageId(built->image)->has_value());
  auto prunedAll = builder.prune("web", {});
  ASSERT_TRUE(prunedAll.ok());
  EXPECT_FALSE(daemon->docker->imageId(built->image)->has_value());
  EXPECT_TRUE(daemon->docker->imageId("api:" + commit.substr(0, 12))->has_value()) << "another app's build stays";

  // A failing step: the error names the step and its last lines; nothing is left in the build directory.
  repo.commit({{"Dockerfile", "FROM berth-test/base:1\n"
                              "RUN [\"/bin/busybox\", \"sh\", \"-c\", \"echo npm ERR! missing: left-pad; exit 3\"]\n"}});
  auto failed = builder.build(request("web", "web"), observer, cancel);
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.error().code, "build_failed");
  EXPECT_NE(failed.error().message.find("image build"), std::string::npos) << failed.error().message;
  EXPECT_NE(failed.error().message.find("Step 2/"), std::string::npos) << failed.error().message;
  EXPECT_NE(failed.error().message.find("npm ERR! missing: left-pad"), std::string::npos) << failed.error().message;
  EXPECT_TRUE(buildsDirEmpty());
}

// Docker's classic builder takes a FROM image from the node's own images before it asks a
// registry: the agent's check (checkBuildBases, against the node's image access record) runs
// before the build, and again after it, when a refusal takes the built image away.
TEST_F(SourceImageTest, ABaseImageTheBuildsOrgMayNotRunIsRefusedBeforeAndAfterTheBuild) {
  // Named under a loopback registry nothing listens on, so that asking it stays on this machine.
  const std::string privateName = "127.0.0.1:1/berth-test/private:1";
  ASSERT_FALSE(daemon->importBusybox("127.0.0.1:1/berth-test/private", "1", {{"/secret", "acme's\n"}}).empty());
  auto privateImage = daemon->docker->inspectImage(privateName);
  ASSERT_TRUE(privateImage.ok() && *privateImage);
  agent::ImageAccess access(dir + "/image_access.json");
  ASSERT_TRUE(access.recordPull((*privateImage)->id, "acme", true, true).ok());  // as acme's pull with credentials
  GitRepo repo(dir + "/repos", "web");
  repo.commit({{"Dockerfile", "FROM berth-test/base:1 AS tools\nFROM " + privateName + "\n"
                              "COPY --from=tools /bin/busybox /bb\nCMD [\"/bb\", \"cat\", \"/secret\"]\n"}});
  agent::SourceBuilder builder(*daemon->docker, settings(), dir + "/state");
  std::string app = "web";
  builder.checkBaseImagesWith([&](const std::vector<std::string>& images) {
    return agent::checkBuildBases(*daemon->docker, access, app, images);
  });
  auto refused = builder.build(request("web", "web"), {}, cancel);
  ASSERT_FALSE(refused.ok()) << "the default org's build started from acme's private image";
  EXPECT_EQ(refused.error().code, "build_refused");
  EXPECT_NE(refused.error().message.find("FROM " + privateName), std::string::npos) << refused.error().message;
  app = "web.acme";
  auto mine = builder.build(request(app, "web"), {}, cancel);
  ASSERT_TRUE(mine.ok()) << "acme's own build: " << mine.error().message;

  // Refused only after the build (the check's answer changed meanwhile): the built image goes.
  const auto commit = repo.commit({{"Dockerfile", "FROM berth-test/base:1\nCMD [\"/bin/busybox\", \"true\"]\n"}});
  std::vector<std::vector<std::string>> asked;
  builder.checkBaseImagesWith([&](const std::vector<std::string>& images) -> Result<void> {
    asked.push_back(images);
    if (asked.size() == 2) return makeError("build_refused", "refused after the build");
    return Ok{};
  });
  auto late = builder.build(request("web", "web"), {}, cancel);
  ASSERT_FALSE(late.ok());
  EXPECT_EQ(late.error().message, "refused after the build");
  EXPECT_EQ(asked, (std::vector<std::vector<std::string>>{{"berth-test/base:1"}, {"berth-test/base:1"}}));
  auto left = daemon->docker->inspectImage("web:" + commit.substr(0, 12));
  ASSERT_TRUE(left.ok());
  EXPECT_FALSE(left->has_value()) << "the image built from a refused base stayed on the node";
}

// What the Dockerfile check cannot read: a base's ONBUILD trigger copying from a private image.
// On a node holding images the org may not run, builds fetch every base from its registry
// (pull_bases), so no name reaches the node's copies.
TEST_F(SourceImageTest, OnANodeWithOtherOrgsPrivateImagesABuildTakesNoBaseFromTheNode) {
  const std::string privateName = "127.0.0.1:1/berth-test/private:1";
  ASSERT_FALSE(daemon->importBusybox("127.0.0.1:1/berth-test/private", "1", {{"/secret", "acme's\n"}}).empty());
  // An open base whose trigger copies the private file into whatever builds on it.
  const std::string onbase = dir + "/onbase";
  std::filesystem::create_directories(onbase);
  std::ofstream(onbase + "/Dockerfile") << "FROM berth-test/base:1\nONBUILD COPY --from=" << privateName << " /secret /secret\n";
  auto tar = runProcess({"tar", "-cf", onbase + ".tar", "-C", onbase, "Dockerfile"}, 20000);
  ASSERT_TRUE(tar.ok() && tar->exit_code == 0);
  auto built = daemon->docker->request("POST", "/build?t=" + std::string("127.0.0.1%3A1%2Fberth-test%2Fonbase%3A1"),
                                       *pki::readFile(onbase + ".tar"), "application/x-tar");
  ASSERT_TRUE(built.ok() && built->status == 200) << (built ? built->body : built.error().message);
  GitRepo repo(dir + "/repos", "web");
  repo.commit({{"Dockerfile", "FROM 127.0.0.1:1/berth-test/onbase:1\nCMD [\"/bin/busybox\", \"cat\", \"/secret\"]\n"}});
  agent::SourceBuilder builder(*daemon->docker, settings(), dir + "/state");
  builder.pullBaseImages(true);
  auto refused = builder.build(request("web", "web"), {}, cancel);
  ASSERT_FALSE(refused.ok()) << "a base was taken from the node";
  EXPECT_EQ(refused.error().code, "build_failed") << refused.error().message;
  EXPECT_NE(refused.error().message.find("127.0.0.1:1"), std::string::npos) << refused.error().message;
}

TEST_F(SourceImageTest, ANodeRepositoryWithoutDockerfileIsBuiltFromItsPlanAndAnswersOnPort) {
  ASSERT_EQ(importNodeImage(*daemon, "berth-test/node:20"), "");
  GitRepo repo(dir + "/repos", "shop");
  const auto commit = repo.commit({
      {"package.json", R"({"name":"shop","version":"1.0.0","main":"server.js"})"},
      {"server.js",
       "require('http').createServer((q, s) => s.end('node plan on ' + process.env.PORT + ' ' + "
       "process.env.NODE_ENV)).listen(process.env.PORT);\n"},
  });
  agent::SourceBuilder builder(*daemon->docker, settings(), dir + "/state");
  auto r = request("shop", "shop");
  r.plan = {{"install", nlohmann::json::array()}};  // no npm in the test's node image, nothing to install
  auto built = builder.build(r, {}, cancel);
  ASSERT_TRUE(built.ok()) << built.error().message;
  ASSERT_TRUE(built->plan.is_object());
  EXPECT_EQ(built->plan["stack"], "node");
  EXPECT_EQ(built->plan["base_image"], "berth-test/node:20");
  EXPECT_EQ(built->plan["port"], 3000);

  runtime::ContainerSpec spec;
  spec.name = "berth-src-node-" + std::to_string(::getpid());
  spec.image = built->image;
  spec.network = "berth-test";
  spec.container_port = 3000;
  auto id = daemon->docker->create(spec);
  ASSERT_TRUE(id.ok()) << id.error().message;
  ASSERT_TRUE(daemon->docker->start(*id).ok());
  auto info = daemon->docker->inspect(*id);
  ASSERT_TRUE(info.ok() && *info);
  const std::string ip = (*info)->ip_address;
  ASSERT_FALSE(ip.empty());
  std::string body;
  EXPECT_TRUE(eventually([&] {
    auto got = runProcess({"curl", "-s", "--max-time", "2", "http://" + ip + ":3000/"}, 5000);
    body = got ? got->output : "";
    return body.find("node plan on 3000 production") != std::string::npos;
  }, std::chrono::seconds(30))) << body;
  (void)daemon->docker->remove(*id, true);
}

TEST_F(SourceImageTest, TheCancelVerbEndsARunningBuildAndLeavesNothingBehind) {
  GitRepo repo(dir + "/repos", "slow");
  repo.commit({{"Dockerfile", "FROM berth-test/base:1\nRUN [\"/bin/busybox\", \"sleep\", \"120\"]\n"}});
  agent::SourceBuilder builder(*daemon->docker, settings(), dir + "/state");
  agent::BuildRegistry builds;
  auto cancelVerb = agent::buildCancelVerb(builds);
  std::atomic<bool> running{false};
  Result<agent::BuiltImage> outcome = makeError("none", "not run");
  std::thread worker([&] {
    auto entry = builds.start("slow");
    agent::BuildObserver observer{nullptr, [&](const std::string& line) {
                                    if (line.find("Running in") != std::string::npos) running = true;
                                  }};
    outcome = builder.build(request("slow", "slow"), observer, entry->cancel());
    running = true;
  });
  ASSERT_TRUE(eventually([&] { return running.load(); }, std::chrono::seconds(120)));
  auto answer = cancelVerb({{"app", "slow"}});
  worker.join();
  EXPECT_TRUE(answer.ok);
  EXPECT_EQ(answer.output["cancelled"], true);
  ASSERT_FALSE(outcome.ok());
  EXPECT_EQ(outcome.error().code, "cancelled") << outcome.error().message;
  EXPECT_FALSE(builds.running("slow"));
  EXPECT_TRUE(buildsDirEmpty());
  EXPECT_TRUE(eventually([&] {
    auto all = daemon->docker->request("GET", "/containers/json");
    return all.ok() && all->body == "[]\n";
  }, std::chrono::seconds(30))) << "the step's container is ended too";
  EXPECT_EQ(cancelVerb({{"app", "slow"}}).output["cancelled"], false);
}

}  // namespace
}  // namespace berth::itest
