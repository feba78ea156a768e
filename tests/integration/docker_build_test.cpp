// Image builds through the Engine API (issue 11), on a real dockerd
// (DockerDaemon in harness.hpp, classic builder, vfs). The contexts are tars
// written by berth's own TarWriter; the base image is a busybox-static rootfs
// imported through the Engine API (nothing is pulled).
#include <gtest/gtest.h>

#include <unistd.h>

#include <atomic>
#include <fstream>
#include <thread>

#include "builder/tar_writer.hpp"
#include "harness.hpp"
#include "runtime/docker/docker_runtime.hpp"

namespace berth::itest {
namespace {

class DockerBuildTest : public ::testing::Test {
 protected:
  std::unique_ptr<DockerDaemon> daemon;
  std::string contextPath;

  void SetUp() override {
    daemon = std::make_unique<DockerDaemon>();
    ASSERT_TRUE(daemon->ready());
    ASSERT_FALSE(daemon->importBusybox("berth-test/base", "1").empty());
    contextPath = daemon->root + "/context.tar";
  }
  void TearDown() override { daemon.reset(); }

  // A context with these files (path -> content), written as berth writes contexts.
  void writeContext(const std::map<std::string, std::string>& files) {
    std::ofstream out(contextPath, std::ios::binary);
    builder::TarWriter tar([&](std::string_view bytes) { out.write(bytes.data(), static_cast<std::streamsize>(bytes.size())); });
    for (const auto& [path, content] : files) {
      ASSERT_TRUE(tar.begin({path, builder::TarEntryType::File, 0644, content.size(), "", 1700000000}).ok());
      tar.content(content);
    }
    ASSERT_TRUE(tar.finish().ok());
  }

  runtime::BuildRequest request(const std::string& tag) {
    runtime::BuildRequest r;
    r.context_path = contextPath;
    r.tag = tag;
    r.timeout_s = 240;
    return r;
  }

  std::string runOnce(const std::string& image, const std::vector<std::string>& command) {
    runtime::ContainerSpec spec;
    spec.name = "berth-build-check-" + std::to_string(::getpid());
    spec.image = image;
    spec.command = command;
    auto id = daemon->docker->create(spec);
    if (!id) return "create failed: " + id.error().message;
    (void)daemon->docker->start(*id);
    std::string out;
    for (int i = 0; i < 100; ++i) {
      auto logs = daemon->docker->request("GET", "/containers/" + *id + "/logs?stdout=1");
      auto info = daemon->docker->inspect(*id);
      // berth's containers restart on exit: the first run's output is what counts.
      if (info && *info && ((*info)->state == "exited" || (*info)->state == "restarting")) {
        out = logs ? logs->body : "";
        break;
      }
      ::usleep(100'000);
    }
    if (out.empty()) out = "no output; the container: " + daemon->docker->request("GET", "/containers/" + *id + "/json")->body;
    (void)daemon->docker->remove(*id, true);
    return out;
  }
};

TEST_F(DockerBuildTest, AMultiStageDockerfileBuildsWithArgumentsTargetAndLabelsAndStreamsItsSteps) {
  writeContext({{"Dockerfile",
                 "FROM berth-test/base:1 AS build\n"
                 "ARG GREETING\n"
                 "RUN [\"/bin/busybox\", \"sh\", \"-c\", \"echo $GREETING from the build stage > /made\"]\n"
                 "FROM berth-test/base:1\n"
                 "COPY --from=build /made /made\n"
                 "COPY app.txt /app.txt\n"
                 "CMD [\"/bin/busybox\", \"cat\", \"/made\", \"/app.txt\"]\n"},
                {"app.txt", "from the context\n"}});
  auto r = request("berth-web:abc1234");
  r.build_args = {{"GREETING", "hello"}};
  r.labels = {{"berth.app", "web"}, {"berth.commit", "abc1234"}};
  r.memory_bytes = 256 << 20;
  r.cpu_millicores = 1000;
  std::vector<std::string> steps;
  auto built = daemon->docker->build(r, [&](const nlohmann::json& m) {
    if (m.contains("stream") && m["stream"].get<std::string>().rfind("Step ", 0) == 0) steps.push_back(m["stream"]);
  }, nullptr);
  ASSERT_TRUE(built.ok()) << built.error().message;
  EXPECT_EQ(built->rfind("sha256:", 0), 0u) << *built;
  ASSERT_GE(steps.size(), 7u) << "each step streamed as it ran";
  EXPECT_EQ(steps[0].rfind("Step 1/", 0), 0u) << steps[0];
  EXPECT_EQ(*daemon->docker->imageId("berth-web:abc1234"), std::optional<std::string>(*built));
  auto inspected = daemon->docker->request("GET", "/images/berth-web:abc1234/json");
  ASSERT_TRUE(inspected.ok());
  EXPECT_NE(inspected->body.find("\"berth.commit\":\"abc1234\""), std::string::npos);
  const auto out = runOnce(*built, {});
  EXPECT_NE(out.find("hello from the build stage"), std::string::npos) << out;
  EXPECT_NE(out.find("from the context"), std::string::npos) << out;

  // --target stops at the named stage.
  auto staged = request("berth-web:stage");
  staged.target = "build";
  staged.build_args = {{"GREETING", "hi"}};
  auto stage = daemon->docker->build(staged, nullptr, nullptr);
  ASSERT_TRUE(stage.ok()) << stage.error().message;
  EXPECT_NE(*stage, *built);
}

TEST_F(DockerBuildTest, AFailingStepIsReportedWithItsLastLinesAndLeavesNoImage) {
  writeContext({{"Dockerfile",
                 "FROM berth-test/base:1\n"
                 "RUN [\"/bin/busybox\", \"sh\", \"-c\", \"echo npm ERR! missing: left-pad; exit 3\"]\n"}});
  auto built = daemon->docker->build(request("berth-web:broken"), nullptr, nullptr);
  ASSERT_FALSE(built.ok());
  EXPECT_EQ(built.error().code, "build_failed");
  EXPECT_NE(built.error().message.find("Step 2/2"), std::string::npos) << built.error().message;
  EXPECT_NE(built.error().message.find("npm ERR! missing: left-pad"), std::string::npos) << built.error().message;
  EXPECT_NE(built.error().message.find("non-zero code: 3"), std::string::npos) << built.error().message;
  EXPECT_FALSE(daemon->docker->imageId("berth-web:broken")->has_value());

  writeContext({{"Dockerfile", "FROM berth-test/base:1\nRUN [\"/bin/true\"]\n"}});
  auto missing = request("berth-web:x");
  missing.dockerfile = "nope/Dockerfile";
  auto refused = daemon->docker->build(missing, nullptr, nullptr);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, "build_failed") << refused.error().message;
}

TEST_F(DockerBuildTest, AStepOverItsMemoryLimitFailsAndTheDaemonKeepsAnswering) {
  // The shell keeps a command's whole output in memory.
  writeContext({{"Dockerfile",
                 "FROM berth-test/base:1\n"
                 "RUN [\"/bin/busybox\", \"sh\", \"-c\", \"x=$(/bin/busybox head -c 300m /dev/zero | /bin/busybox tr '\\\\0' a)\"]\n"}});
  auto r = request("berth-web:hungry");
  r.memory_bytes = 32 << 20;
  auto built = daemon->docker->build(r, nullptr, nullptr);
  ASSERT_FALSE(built.ok());
  EXPECT_EQ(built.error().code, "build_failed");
  EXPECT_NE(built.error().message.find("non-zero code"), std::string::npos) << built.error().message;
  EXPECT_TRUE(daemon->docker->apiVersion().ok());
  EXPECT_TRUE(daemon->docker->list({}).ok());
}

TEST_F(DockerBuildTest, ACancelOrTheTimeLimitEndsTheBuildAndItsStepContainer) {
  writeContext({{"Dockerfile", "FROM berth-test/base:1\nRUN [\"/bin/busybox\", \"sleep\", \"120\"]\n"}});
  std::atomic<bool> cancel{false};
  std::atomic<bool> running{false};
  std::thread canceller([&] {
    while (!running) ::usleep(20'000);
    ::usleep(500'000);
    cancel = true;
  });
  auto built = daemon->docker->build(request("berth-web:slow"), [&](const nlohmann::json& m) {
    if (m.contains("stream") && m["stream"].get<std::string>().find("Running in") != std::string::npos) running = true;
  }, &cancel);
  running = true;
  canceller.join();
  ASSERT_FALSE(built.ok());
  EXPECT_EQ(built.error().code, "cancelled");
  // The daemon ends the step's container once its client has gone.
  EXPECT_TRUE(eventually([&] {
    auto all = daemon->docker->request("GET", "/containers/json");
    return all.ok() && all->body == "[]\n";
  }, std::chrono::seconds(30)));

  auto limited = request("berth-web:slow");
  limited.timeout_s = 2;
  auto timedOut = daemon->docker->build(limited, nullptr, nullptr);
  ASSERT_FALSE(timedOut.ok());
  EXPECT_EQ(timedOut.error().code, "timeout");
}

}  // namespace
}  // namespace berth::itest
