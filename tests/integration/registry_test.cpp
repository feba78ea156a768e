// Pulls from a private registry with credentials. Servers started: berth
// server, one agent, a private dockerd, and Debian's docker-registry on
// 127.0.0.1 with TLS (a certificate made here, trusted by dockerd through
// /etc/docker/certs.d/127.0.0.1:PORT/ca.crt) and htpasswd (bcrypt) auth.
#include <gtest/gtest.h>

#include <csignal>
#include <filesystem>
#include <fstream>

#include "common/encoding.hpp"
#include "common/subprocess.hpp"
#include "harness.hpp"
#include "pki/sealed_file.hpp"

namespace berth::itest {
namespace {

class RegistryTest : public ::testing::Test {
 protected:
  std::unique_ptr<DockerDaemon> daemon;
  Cluster cluster;
  std::unique_ptr<Process> registry;
  std::string host, certsDir, nodeId;

  void SetUp() override {
    if (!std::filesystem::exists("/usr/bin/docker-registry")) GTEST_FAIL() << "setup.sh installs docker-registry";
    daemon = std::make_unique<DockerDaemon>();
    ASSERT_TRUE(daemon->ready());
    const std::string dir = daemon->root + "/registry";
    std::filesystem::create_directories(dir + "/data");
    const int port = freePort();
    host = "127.0.0.1:" + std::to_string(port);
    auto cert = runProcess({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                            "-keyout", dir + "/key.pem", "-out", dir + "/cert.pem", "-days", "1", "-subj",
                            "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"},
                           20000);
    ASSERT_TRUE(cert.ok() && cert->exit_code == 0) << (cert ? cert->output : cert.error().message);
    auto htpasswd = runProcess({"htpasswd", "-Bbn", "deployer", "correct horse"}, 20000);
    ASSERT_TRUE(htpasswd.ok() && htpasswd->exit_code == 0);
    std::ofstream(dir + "/htpasswd") << htpasswd->output;
    std::ofstream(dir + "/config.yml") << "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: " << dir
                                       << "/data\nhttp:\n  addr: " << host << "\n  tls:\n    certificate: " << dir
                                       << "/cert.pem\n    key: " << dir << "/key.pem\nauth:\n  htpasswd:\n    realm: berth\n"
                                       << "    path: " << dir << "/htpasswd\n";
    certsDir = "/etc/docker/certs.d/" + host;
    std::filesystem::create_directories(certsDir);
    std::filesystem::copy_file(dir + "/cert.pem", certsDir + "/ca.crt", std::filesystem::copy_options::overwrite_existing);
    registry = Process::spawn({"/usr/bin/docker-registry", "serve", dir + "/config.yml"}, dir + "/registry.log");
    ASSERT_TRUE(eventually([&] {
      auto r = runProcess({"curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert", dir + "/cert.pem",
                           "https://" + host + "/v2/"},
                          3000);
      return r && r->output == "401";
    })) << registry->log();
    // Two versions pushed through the Engine API with the right credentials.
    for (const std::string tag : {"1", "2"}) {
      ASSERT_FALSE(daemon->importBusybox("berth-test/web", tag, {{"/www/index.html", "registry v" + tag + "\n"}}).empty());
      auto tagged = daemon->docker->request("POST", "/images/berth-test/web:" + tag + "/tag?repo=" + host + "/web&tag=" + tag);
      ASSERT_TRUE(tagged.ok() && tagged->status == 201) << (tagged ? tagged->body : "");
      auto pushed = daemon->docker->request("POST", "/images/" + host + "/web/push?tag=" + tag, "", "application/json",
                                            {{"X-Registry-Auth", auth("deployer", "correct horse")}}, 120);
      ASSERT_TRUE(pushed.ok() && pushed->status == 200 && pushed->body.find("error") == std::string::npos)
          << (pushed ? pushed->body : pushed.error().message);
      // Forget the local copies so the agent has to pull.
      (void)daemon->docker->request("DELETE", "/images/" + host + "/web:" + tag);
      (void)daemon->docker->request("DELETE", "/images/berth-test/web:" + tag + "?force=1");
    }
    cluster.startServer();
    nodeId = cluster.startOnlineAgent("a", {"--docker-socket", daemon->socket, "--docker-network", "berth-test"});
    ASSERT_EQ(cluster.cli({"app", "create", "web", "--node", nodeId}).first, 0);
  }

  void TearDown() override {
    if (registry) {
      registry->signal(SIGTERM);
      registry->wait(std::chrono::seconds(10));
    }
    std::filesystem::remove_all(certsDir);
    try {  // the agent before its dockerd, or it repairs what the teardown removes
      cluster.agent("a").signal(SIGTERM);
      cluster.agent("a").wait(std::chrono::seconds(20));
    } catch (const std::logic_error&) {
    }
    daemon.reset();
  }

  static int freePort() {
    auto r = runProcess({"python3", "-c",
                         "import socket;s=socket.socket();s.bind(('127.0.0.1',0));print(s.getsockname()[1])"},
                        5000);
    return r ? std::atoi(r->output.c_str()) : 0;
  }

  static std::string auth(const std::string& user, const std::string& password) {
    return base64Encode(nlohmann::json{{"username", user}, {"password", password}}.dump());
  }

  std::pair<int, std::string> deploy(const std::string& tag, const std::string& password) {
    ::setenv("REGISTRY_PASSWORD", password.c_str(), 1);
    return cluster.cli({"app", "deploy", "web", "--image", host + "/web:" + tag, "--port", "8080", "--health", "tcp",
                        "--health-interval", "300ms", "--health-timeout", "300ms", "--registry-user", "deployer",
                        "--registry-password-env", "REGISTRY_PASSWORD", "--arg", "/bin/busybox", "--arg", "httpd",
                        "--arg", "-f", "--arg", "-p", "--arg", "8080", "--arg", "-h", "--arg", "/www"});
  }

  std::string runningImage() {
    auto ids = daemon->docker->list({{"berth.app", "web"}});
    if (!ids || ids->size() != 1) return "";
    return (*daemon->docker->inspect(ids->front()))->image_id;
  }
};

TEST_F(RegistryTest, PullsWithCredentialsPinsTheDigestAndFailsCleanly) {
  auto [wrong, wrongOut] = deploy("1", "battery staple");
  EXPECT_EQ(wrong, 7) << wrongOut;
  auto d1 = cluster.api("GET", "/api/v1/apps/web/deployments/1").body;
  EXPECT_EQ(d1["state"], "failed");
  EXPECT_NE(d1["reason"].get<std::string>().find("pull"), std::string::npos) << d1.dump();
  EXPECT_NE(d1["reason"].get<std::string>().find("unauthorized"), std::string::npos) << d1.dump();

  auto [good, goodOut] = deploy("1", "correct horse");
  ASSERT_EQ(good, 0) << goodOut << cluster.agent("a").log();
  auto d2 = cluster.api("GET", "/api/v1/apps/web/deployments/2").body;
  const std::string digest1 = d2["image"];
  EXPECT_EQ(digest1.rfind(host + "/web@sha256:", 0), 0u) << digest1;
  const std::string image1 = runningImage();
  EXPECT_EQ(pki::readFile(cluster.serverDir() + "/berth.db")->find("correct horse"), std::string::npos);

  // The tag is on the node now, yet a deploy pulls again (private registry), so bad credentials still fail.
  auto [again, againOut] = deploy("1", "battery staple");
  EXPECT_EQ(again, 7) << againOut;
  EXPECT_NE(againOut.find("unauthorized"), std::string::npos) << againOut;
  EXPECT_EQ(runningImage(), image1);

  auto [missing, missingOut] = deploy("9", "correct horse");
  EXPECT_EQ(missing, 7);
  EXPECT_NE(cluster.api("GET", "/api/v1/apps/web/deployments/4").body["reason"].get<std::string>().find("pull"),
            std::string::npos);
  EXPECT_EQ(runningImage(), image1);  // still up

  ASSERT_EQ(deploy("2", "correct horse").first, 0);
  EXPECT_TRUE(eventually([&] { return !runningImage().empty() && runningImage() != image1; }));

  // Rollback pulls nothing new: it runs the recorded digest of deployment 2.
  ASSERT_EQ(cluster.cli({"app", "rollback", "web"}).first, 0);
  auto d6 = cluster.api("GET", "/api/v1/apps/web/deployments/6").body;
  EXPECT_EQ(d6["image"], digest1);
  EXPECT_TRUE(eventually([&] { return runningImage() == image1; }));  // the replaced container goes right after

  // An unreachable registry is a failed deployment too, and the app stays up.
  registry->signal(SIGTERM);
  registry->wait(std::chrono::seconds(10));
  auto [gone, goneOut] = deploy("2", "correct horse");
  EXPECT_EQ(gone, 7) << goneOut;
  auto d7 = cluster.api("GET", "/api/v1/apps/web/deployments/7").body;
  EXPECT_EQ(d7["state"], "failed");
  EXPECT_EQ(runningImage(), image1);

  // Deleting the app removes the images berth pulled for it.
  ASSERT_TRUE(daemon->docker->inspectImage(digest1)->has_value());
  ASSERT_EQ(cluster.cli({"app", "delete", "web"}).first, 0);
  EXPECT_FALSE(daemon->docker->inspectImage(digest1)->has_value());
  EXPECT_FALSE(daemon->docker->inspectImage(image1)->has_value());
}

// Orgs share nodes, and Docker keeps one copy of an image per node whoever pulled it: a private
// image the default org's credentials brought here is not acme's to run, by tag, digest or id,
// until acme's own credentials pull it.
TEST_F(RegistryTest, AnotherOrgRunsAPrivateImagePulledHereOnlyWithItsOwnCredentials) {
  ASSERT_EQ(deploy("1", "correct horse").first, 0) << cluster.agent("a").log();
  const std::string digest = cluster.api("GET", "/api/v1/apps/web/deployments/1").body["image"];
  const std::string id = runningImage();
  ASSERT_EQ(id.rfind("sha256:", 0), 0u) << id;

  const std::string acme = cluster.orgWithAdminKey("acme");
  ASSERT_EQ(cluster.cli({"app", "create", "shop", "--node", nodeId, "--api-key", acme}).first, 0);
  int number = 0;
  const auto shop = [&](const std::string& image, const std::string& password) {
    std::vector<std::string> args = {"app",   "deploy", "shop", "--image", image, "--pull", "missing", "--port", "8080",
                                     "--health", "tcp", "--api-key", acme, "--arg", "/bin/busybox", "--arg", "httpd",
                                     "--arg", "-f", "--arg", "-p", "--arg", "8080", "--arg", "-h", "--arg", "/www"};
    if (!password.empty()) {
      ::setenv("REGISTRY_PASSWORD", password.c_str(), 1);
      for (const std::string a : {"--registry-user", "deployer", "--registry-password-env", "REGISTRY_PASSWORD"})
        args.push_back(a);
    }
    auto out = cluster.cli(args);
    auto deployment = cluster.callAs(acme, "GET", "/api/v1/apps/shop/deployments/" + std::to_string(++number));
    return std::pair{out.first, deployment.body.value("reason", std::string()) + " | " + out.second};
  };
  const auto running = [&] {
    auto ids = daemon->docker->list({{"berth.app", "shop.acme"}});
    return ids.ok() ? ids->size() : 99;
  };

  auto [byTag, byTagWhy] = shop(host + "/web:1", "");
  EXPECT_EQ(byTag, 7) << byTagWhy;
  EXPECT_NE(byTagWhy.find("another org's registry credentials"), std::string::npos) << byTagWhy;
  auto [byDigest, byDigestWhy] = shop(digest, "");
  EXPECT_EQ(byDigest, 7) << byDigestWhy;
  auto [wrong, wrongWhy] = shop(host + "/web:1", "battery staple");
  EXPECT_EQ(wrong, 7) << wrongWhy;
  auto [byId, byIdWhy] = shop(id, "");
  EXPECT_EQ(byId, 7) << byIdWhy;
  EXPECT_NE(byIdWhy.find("by its id"), std::string::npos) << byIdWhy;
  auto [byShortId, byShortIdWhy] = shop(id.substr(7, 12), "");
  EXPECT_EQ(byShortId, 7) << byShortIdWhy;
  EXPECT_EQ(running(), 0u) << "acme runs the default org's private image";

  // acme's own credentials, which the registry takes: then it runs.
  auto [own, ownWhy] = shop(host + "/web:1", "correct horse");
  EXPECT_EQ(own, 0) << ownWhy << cluster.agent("a").log();
  EXPECT_EQ(running(), 1u);
}

}  // namespace
}  // namespace berth::itest
