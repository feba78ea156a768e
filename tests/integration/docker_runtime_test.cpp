// Servers started: a real dockerd (DockerDaemon in harness.hpp) on a unix
// socket in the test's directory. The test image is a busybox-static
// rootfs imported through the Engine API.
#include <gtest/gtest.h>

#include <csignal>
#include <filesystem>
#include <fstream>

#include "harness.hpp"
#include "pki/sealed_file.hpp"
#include "runtime/docker/docker_runtime.hpp"

namespace berth::itest {
namespace {

using runtime::docker::DockerRuntime;

class DockerRuntimeTest : public ::testing::Test {
 protected:
  std::unique_ptr<DockerDaemon> daemon;
  DockerRuntime* docker = nullptr;

  void SetUp() override {
    daemon = std::make_unique<DockerDaemon>();
    ASSERT_TRUE(daemon->ready());
    docker = daemon->docker.get();
    ASSERT_FALSE(daemon->importBusybox("berth-test/busybox", "1").empty());
  }
  void TearDown() override { daemon.reset(); }
};

TEST_F(DockerRuntimeTest, RunsAHardenedLabelledContainerThroughTheEngineApi) {
  EXPECT_EQ(*docker->apiVersion(), "1.41");
  auto missing = docker->imageId("berth-test/nothing:1");
  ASSERT_TRUE(missing.ok());
  EXPECT_FALSE(missing->has_value());
  auto image = docker->imageId("berth-test/busybox:1");
  ASSERT_TRUE(image.ok() && image->has_value());

  runtime::ContainerSpec spec;
  spec.name = "berth-web-d1";
  spec.image = "berth-test/busybox:1";
  spec.command = {"/bin/busybox", "sleep", "300"};
  spec.labels = {{"berth.app", "web"}, {"berth.deployment", "1"}};
  spec.env = {{"GREETING", "hello world"}};
  spec.pids_limit = 64;
  spec.memory_bytes = 64 << 20;
  spec.cpu_millicores = 250;
  auto id = docker->create(spec);
  ASSERT_TRUE(id.ok()) << id.error().message;
  ASSERT_TRUE(docker->start(*id).ok());
  ASSERT_TRUE(docker->start(*id).ok());  // already running: still fine

  auto info = docker->inspect(*id);
  ASSERT_TRUE(info.ok() && info->has_value());
  const auto& c = **info;
  EXPECT_EQ(c.state, "running");
  EXPECT_EQ(c.name, "berth-web-d1");
  EXPECT_EQ(c.image_id, **image);
  EXPECT_EQ(c.labels.at("berth.app"), "web");
  EXPECT_TRUE(c.no_new_privileges);
  EXPECT_EQ(c.dropped_capabilities, std::vector<std::string>{"ALL"});
  EXPECT_EQ(c.pids_limit, 64);
  EXPECT_EQ(c.memory_bytes, 64 << 20);
  EXPECT_EQ(c.nano_cpus, 250'000'000);

  auto mine = docker->list({{"berth.app", "web"}});
  ASSERT_TRUE(mine.ok());
  EXPECT_EQ(*mine, std::vector<std::string>{*id});
  EXPECT_TRUE(docker->list({{"berth.app", "other"}})->empty());

  auto taken = docker->create(spec);
  ASSERT_FALSE(taken.ok());
  EXPECT_EQ(taken.error().code, "conflict");

  ASSERT_TRUE(docker->stop(*id, 1).ok());
  ASSERT_TRUE(docker->stop(*id, 1).ok());  // idempotent
  EXPECT_EQ((*docker->inspect(*id))->state, "exited");
  ASSERT_TRUE(docker->remove(*id, false).ok());
  EXPECT_FALSE(docker->inspect(*id)->has_value());
  EXPECT_TRUE(docker->remove(*id, false).ok());  // already gone
}

TEST_F(DockerRuntimeTest, MissingImageIsAClearError) {
  runtime::ContainerSpec spec;
  spec.name = "berth-missing";
  spec.image = "berth-test/absent:9";
  auto id = docker->create(spec);
  ASSERT_FALSE(id.ok());
  EXPECT_EQ(id.error().code, "not_found");
  EXPECT_NE(id.error().message.find("berth-test/absent"), std::string::npos) << id.error().message;
}

}  // namespace
}  // namespace berth::itest
