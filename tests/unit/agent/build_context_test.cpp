// The build context berth writes from a checkout (on a temporary directory;
// the tar listed with tar(1)).
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "agent/source_build_steps.hpp"
#include "common/subprocess.hpp"

namespace berth::agent {
namespace {

class BuildContextTest : public ::testing::Test {
 protected:
  std::string root;
  void SetUp() override {
    char pattern[] = "/tmp/berth-context-XXXXXX";
    ASSERT_NE(::mkdtemp(pattern), nullptr);
    root = pattern;
    std::filesystem::create_directories(root + "/checkout");
  }
  void TearDown() override { std::filesystem::remove_all(root); }
  void file(const std::string& rel, const std::string& content) {
    const auto path = root + "/checkout/" + rel;
    std::filesystem::create_directories(std::filesystem::path(path).parent_path());
    std::ofstream(path) << content;
  }
  Result<source_build::Context> write(const SourceBuildRequest& request) {
    const std::string context = request.dir.empty() ? root + "/checkout" : root + "/checkout/" + request.dir;
    return source_build::writeContext(root + "/checkout", context, root + "/context.tar", request, BuildSettings{},
                                      1700000000);
  }
  std::string listing() {
    auto r = runProcess({"tar", "-tvf", root + "/context.tar"}, 10000);
    return r ? r->output : r.error().message;
  }
  std::string extract(const std::string& member) {
    auto r = runProcess({"tar", "-xOf", root + "/context.tar", member}, 10000);
    return r && r->exit_code == 0 ? r->output : "";
  }
};

TEST_F(BuildContextTest, DockerignoreIsHonouredAndSymlinksStayLinksThatLeakNothing) {
  file("Dockerfile", "FROM scratch\n");
  file(".dockerignore", "secrets/\n*.pem\n!public.pem\n");
  file("app.txt", "app\n");
  file("secrets/api.key", "TOP SECRET\n");
  file("private.pem", "KEY\n");
  file("public.pem", "CERT\n");
  file(".git/config", "[core]\n");
  ASSERT_EQ(::symlink("/etc/shadow", (root + "/checkout/shadow").c_str()), 0);
  ASSERT_EQ(::symlink("/etc", (root + "/checkout/etcdir").c_str()), 0);
  SourceBuildRequest request;
  auto context = write(request);
  ASSERT_TRUE(context.ok()) << context.error().message;
  EXPECT_EQ(context->dockerfile, "Dockerfile");
  EXPECT_TRUE(context->plan.is_null());
  const auto list = listing();
  EXPECT_NE(list.find("app.txt"), std::string::npos) << list;
  EXPECT_NE(list.find("public.pem"), std::string::npos) << list;
  EXPECT_NE(list.find(".dockerignore"), std::string::npos) << list;
  EXPECT_EQ(list.find("api.key"), std::string::npos) << list;
  EXPECT_EQ(list.find("private.pem"), std::string::npos) << list;
  EXPECT_EQ(list.find(".git"), std::string::npos) << list;
  EXPECT_NE(list.find("shadow -> /etc/shadow"), std::string::npos) << list;
  EXPECT_NE(list.find("etcdir -> /etc"), std::string::npos) << list;
  EXPECT_EQ(list.find("passwd"), std::string::npos) << "nothing under the linked directory: " << list;
  EXPECT_EQ(list.find("root:"), std::string::npos);
  EXPECT_EQ(extract("app.txt"), "app\n");
  // Same checkout, same bytes.
  std::ifstream a(root + "/context.tar", std::ios::binary);
  const std::string first((std::istreambuf_iterator<char>(a)), std::istreambuf_iterator<char>());
  ASSERT_TRUE(write(request).ok());
  std::ifstream b(root + "/context.tar", std::ios::binary);
  EXPECT_EQ(first, std::string((std::istreambuf_iterator<char>(b)), std::istreambuf_iterator<char>()));
}

TEST_F(BuildContextTest, ADockerfileOrContextDirectoryThroughASymlinkIsRefused) {
  file("real/Dockerfile", "FROM scratch\n");
  ASSERT_EQ(::symlink("/etc/shadow", (root + "/checkout/Dockerfile").c_str()), 0);
  ASSERT_EQ(::symlink("/etc", (root + "/checkout/linked").c_str()), 0);
  SourceBuildRequest request;
  request.dockerfile = "Dockerfile";
  auto viaLink = write(request);
  ASSERT_FALSE(viaLink.ok());
  EXPECT_EQ(viaLink.error().code, "invalid_source");
  EXPECT_NE(viaLink.error().message.find("symlink"), std::string::npos) << viaLink.error().message;
  SourceBuildRequest dir;
  dir.dir = "linked";
  auto linkedDir = write(dir);
  ASSERT_FALSE(linkedDir.ok());
  EXPECT_NE(linkedDir.error().message.find("source.dir"), std::string::npos) << linkedDir.error().message;
  SourceBuildRequest missing;
  missing.dockerfile = "nope/Dockerfile";
  EXPECT_FALSE(write(missing).ok());
  SourceBuildRequest sub;
  sub.dir = "real";
  auto ok = write(sub);
  ASSERT_TRUE(ok.ok()) << ok.error().message;
  EXPECT_EQ(ok->dockerfile, "Dockerfile");
}

TEST_F(BuildContextTest, WithoutADockerfileThePlanIsDetectedOverriddenAndItsDockerfileAdded) {
  file("package.json", R"({"name":"x","scripts":{"start":"node server.js"}})");
  file("server.js", "require('http')\n");
  SourceBuildRequest request;
  request.plan = {{"port", 8081}};
  auto context = write(request);
  ASSERT_TRUE(context.ok()) << context.error().message;
  EXPECT_EQ(context->plan["stack"], "node");
  EXPECT_EQ(context->plan["port"], 8081);
  const auto dockerfile = extract(context->dockerfile);
  EXPECT_NE(dockerfile.find("FROM node:"), std::string::npos) << dockerfile;
  EXPECT_NE(dockerfile.find("EXPOSE 8081"), std::string::npos) << dockerfile;

  SourceBuildRequest bad;
  bad.plan = {{"shell", "rm -rf /"}};
  auto refused = write(bad);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message.find("shell"), std::string::npos) << refused.error().message;

  std::filesystem::remove(root + "/checkout/package.json");
  std::filesystem::remove(root + "/checkout/server.js");
  auto nothing = write(SourceBuildRequest{});
  ASSERT_FALSE(nothing.ok());
  EXPECT_EQ(nothing.error().code, "invalid_source");
}

TEST_F(BuildContextTest, AContextOverTheLimitIsRefused) {
  file("Dockerfile", "FROM scratch\n");
  file("big.bin", std::string(4096, 'x'));
  BuildSettings settings;
  settings.max_context_bytes = 2048;
  auto r = source_build::writeContext(root + "/checkout", root + "/checkout", root + "/context.tar", SourceBuildRequest{},
                                      settings, 0);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("larger than"), std::string::npos) << r.error().message;
}

}  // namespace
}  // namespace berth::agent
