// Servers started: berth server (a process); the agent runs in this test's
// process, built from AgentParts with the in-memory runtime instead of Docker
// (no dockerd). Shows the agent drives only the runtime it is given: a deploy
// through the API creates the fake's container, and the lines that container
// writes reach the server as the app's logs through ContainerRuntime::followLogs.
#include <gtest/gtest.h>

#include <thread>

#include "../support/memory_runtime.hpp"
#include "agent/agent.hpp"
#include "harness.hpp"

namespace berth::itest {
namespace {

TEST(MemoryRuntimeAgent, DeploysOnTheRuntimeItIsGivenAndShipsThatRuntimesLogs) {
  Cluster cluster;
  cluster.startServer();
  testing::MemoryRuntime* fake = nullptr;
  int connects = 0;
  agent::AgentParts parts;
  parts.connect_runtime = [&]() -> Result<std::unique_ptr<runtime::ContainerRuntime>> {
    ++connects;
    auto runtime = std::make_unique<testing::MemoryRuntime>();
    runtime->images["berth-test/busybox:1"] = {"sha256:" + std::string(64, 'b'), {}};
    fake = runtime.get();
    return std::unique_ptr<runtime::ContainerRuntime>(std::move(runtime));
  };
  parts.host_reader = agent::realHostReader();
  agent::AgentConfig config;
  config.state_dir = cluster.root() + "/memory-agent";
  auto journal = agent::CommandJournal::load(config.state_dir + "/commands.json");
  ASSERT_TRUE(journal.ok());
  parts.journal = std::move(*journal);
  config.server_url = cluster.url();
  config.join_token = cluster.createToken();
  config.ca_pin = cluster.caPin();
  config.handle_signals = false;
  config.docker_socket = cluster.root() + "/no-dockerd-here.sock";  // never dialled
  auto created = agent::Agent::create(config, std::move(parts));
  ASSERT_TRUE(created.ok()) << created.error().message;
  auto& agent = **created;
  std::thread running([&] { agent.run(); });
  struct Joiner {
    agent::Agent& agent;
    std::thread& thread;
    ~Joiner() {
      agent.stop();
      thread.join();
    }
  } joiner{agent, running};

  const std::string nodeId = agent.nodeId();
  ASSERT_TRUE(eventually([&] { return cluster.node(nodeId).value("status", "") == "online"; }));
  ASSERT_EQ(cluster.cli({"app", "create", "web", "--node", nodeId}).first, 0);
  auto [deployed, out] = cluster.cli({"app", "deploy", "web", "--image", "berth-test/busybox:1", "--arg",
                                      "/bin/busybox", "--arg", "sh", "--arg", "-c", "--arg",
                                      "echo hello from memory; echo oops >&2; sleep 300"});
  ASSERT_EQ(deployed, 0) << out;
  ASSERT_NE(fake, nullptr);
  EXPECT_EQ(connects, 1);
  auto up = fake->running();
  ASSERT_EQ(up.size(), 1u);
  EXPECT_EQ(up[0].name, "berth-web-d1-0");
  EXPECT_EQ(up[0].labels.at("berth.node"), nodeId);

  nlohmann::json lines;
  ASSERT_TRUE(eventually([&] {
    lines = cluster.api("GET", "/api/v1/apps/web/logs").body["lines"];
    return lines.size() >= 2;
  }, std::chrono::seconds(20))) << lines.dump();
  EXPECT_EQ(lines[0]["text"], "hello from memory");
  EXPECT_EQ(lines[0]["stream"], "stdout");
  EXPECT_EQ(lines[1]["text"], "oops");
  EXPECT_EQ(lines[1]["stream"], "stderr");
}

}  // namespace
}  // namespace berth::itest
