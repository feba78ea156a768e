// The CLI's deploy follower against the server's per-key rate limit. Servers
// started: berth server, one berth agent, and a private dockerd (DockerDaemon:
// vfs, a "berth-test" bridge network, a busybox-static image).
#include <gtest/gtest.h>

#include <unistd.h>

#include <csignal>

#include "harness.hpp"

namespace berth::itest {
namespace {

// The CLI follows a deploy with a GET of the deployment and one of its build lines every 100 ms:
// over the key's rate (several deploys followed at once with one key) it answers 429, and the
// CLI waits and asks again instead of failing while the deploy goes on.
TEST(AppsRateLimit, ADeployFollowedOverTheKeysRateWaitsInsteadOfFailing) {
  DockerDaemon daemon;
  ASSERT_TRUE(daemon.ready());
  daemon.importBusybox("berth-test/web", "1", {{"/www/index.html", "version one\n"}});
  Cluster cluster;
  cluster.startServer({"--rate-limit-key-per-s", "1", "--rate-limit-key-burst", "5"});
  const std::string node = cluster.startOnlineAgent("a", {"--docker-socket", daemon.socket, "--docker-network",
                                                          "berth-test", "--reconcile-interval-s", "1"});
  ASSERT_FALSE(node.empty());
  std::vector<std::string> args = {"app", "deploy", "web", "--image", "berth-test/web:1", "--port", "8080",
                                   "--health", "http:/", "--health-interval", "300ms", "--health-timeout", "300ms"};
  for (const char* arg : {"/bin/busybox", "httpd", "-f", "-p", "8080", "-h", "/www"}) args.insert(args.end(), {"--arg", arg});
  ::sleep(6);  // the burst the harness's own polls spent comes back (1 a second), so the deploy's POST is served
  auto deployed = cluster.cli(args);
  EXPECT_EQ(deployed.first, 0) << deployed.second;
  EXPECT_NE(deployed.second.find("is healthy"), std::string::npos) << deployed.second;
  cluster.agent("a").signal(SIGTERM);
  cluster.agent("a").wait(std::chrono::seconds(20));
}

}  // namespace
}  // namespace berth::itest
