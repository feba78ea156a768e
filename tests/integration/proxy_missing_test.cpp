// An agent whose node lacks the proxy it is set to use. Servers started: berth
// server, a private dockerd (DockerDaemon), and one berth agent in a mount
// namespace of its own where /usr/sbin/nginx is hidden (/dev/null bound over it,
// so nothing there can run); the rest of the machine keeps its nginx.
#include <gtest/gtest.h>
#include <unistd.h>

#include "harness.hpp"

namespace berth::itest {
namespace {

TEST(ProxyMissing, RoutedDeploysFailSayingWhatTheNodeNeedsAndAppsWithoutRoutesRun) {
  if (::geteuid() != 0) GTEST_SKIP() << "hiding nginx needs a mount namespace (root)";
  DockerDaemon daemon;
  ASSERT_TRUE(daemon.ready());
  ASSERT_FALSE(daemon.importBusybox("berth-test/idle", "1").empty());
  Cluster cluster;
  cluster.startServer({"--base-domain", "apps.test"});
  cluster.agent_prefix = {"/usr/bin/unshare", "--mount", "--propagation", "private", "/bin/sh", "-c",
                          "mount --bind /dev/null /usr/sbin/nginx && exec \"$0\" \"$@\""};
  const std::string nodeId = cluster.startOnlineAgent(
      "a", {"--docker-socket", daemon.socket, "--proxy", "nginx", "--proxy-listen-address", "127.0.0.1",
            "--proxy-http-port", std::to_string(freePort()), "--proxy-https-port", std::to_string(freePort())});
  ASSERT_FALSE(nodeId.empty()) << cluster.agent("a").log();
  const std::vector<std::string> idle = {"--arg", "/bin/busybox", "--arg", "sleep", "--arg", "3600"};

  ASSERT_EQ(cluster.cli({"app", "create", "web", "--node", nodeId}).first, 0);
  std::vector<std::string> routed = {"app", "deploy", "web", "--image", "berth-test/idle:1", "--port", "8080"};
  routed.insert(routed.end(), idle.begin(), idle.end());
  auto [code, out] = cluster.cli(routed);
  EXPECT_NE(code, 0) << out;
  EXPECT_NE(out.find("needs /usr/sbin/nginx (Debian package: nginx)"), std::string::npos)
      << out << cluster.agent("a").log();

  ASSERT_EQ(cluster.cli({"app", "create", "job", "--node", nodeId}).first, 0);
  std::vector<std::string> plain = {"app", "deploy", "job", "--image", "berth-test/idle:1"};
  plain.insert(plain.end(), idle.begin(), idle.end());
  auto [plainCode, plainOut] = cluster.cli(plain);
  EXPECT_EQ(plainCode, 0) << "an app without routes needs no proxy: " << plainOut;
}

}  // namespace
}  // namespace berth::itest
