// Images another org pulled with its registry credentials, on a node apps of
// several orgs share: the record (ImageAccess) and the supervisor's use of it
// against the in-memory runtime. The real registry path is in
// tests/integration/registry_test.cpp.
#include "agent/image_access.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "../../support/memory_runtime.hpp"
#include "../temp_dir.hpp"
#include "agent/app_supervisor.hpp"
#include "agent/source_builder.hpp"

namespace berth::agent {
namespace {

using berth::testing::MemoryRuntime;

TEST(ImageAccess, APullWithCredentialsThatBroughtTheBytesRestrictsThemToItsOrg) {
  ImageAccess access("");
  ASSERT_TRUE(access.recordPull("sha256:a", "acme", true, true).ok());
  EXPECT_TRUE(access.allows("sha256:a", "acme"));
  EXPECT_FALSE(access.allows("sha256:a", "globex"));
  EXPECT_FALSE(access.allows("sha256:a", "default"));
  EXPECT_TRUE(access.allows("sha256:other", "globex"));
}

TEST(ImageAccess, BytesAlreadyHereOrPulledWithoutCredentialsStayOpen) {
  ImageAccess access("");
  ASSERT_TRUE(access.recordPull("sha256:here", "acme", true, false).ok());
  ASSERT_TRUE(access.recordPull("sha256:public", "acme", false, true).ok());
  EXPECT_TRUE(access.allows("sha256:here", "globex"));
  EXPECT_TRUE(access.allows("sha256:public", "globex"));
}

TEST(ImageAccess, AnotherOrgIsGrantedTheImageByPullingItItself) {
  ImageAccess access("");
  ASSERT_TRUE(access.recordPull("sha256:a", "acme", true, true).ok());
  ASSERT_TRUE(access.recordPull("sha256:a", "globex", true, false).ok());
  EXPECT_TRUE(access.allows("sha256:a", "globex"));
  EXPECT_TRUE(access.allows("sha256:a", "acme"));
  EXPECT_FALSE(access.allows("sha256:a", "initech"));
}

TEST(ImageAccess, TheRecordSurvivesARestartAndADamagedOneIsAnErrorNotAnOpenNode) {
  berth::testing::TempDir dir;
  const std::string path = dir.path() + "/image_access.json";
  {
    ImageAccess access(path);
    ASSERT_TRUE(access.load().ok());  // missing: nothing restricted
    ASSERT_TRUE(access.recordPull("sha256:a", "acme", true, true).ok());
  }
  ImageAccess again(path);
  ASSERT_TRUE(again.load().ok());
  EXPECT_FALSE(again.allows("sha256:a", "globex"));
  EXPECT_TRUE(again.allows("sha256:a", "acme"));
  const std::string deep(100'000, '[');  // a nesting that would exhaust the stack of a recursive parser
  for (const std::string damaged : {std::string("{\"images\": {\"sha256:a\": \"acme\"}}"), std::string("[1]"),
                                    std::string("{\"images\": {\"sha256:a\": [1]}}"), std::string("{\"sha256:a\": [\"acme\"]}"),
                                    std::string("{\"images\": {}, \"pulling\": [{\"org\": \"acme\"}]}"), std::string("{"), deep}) {
    std::ofstream(path, std::ios::trunc) << damaged;
    ImageAccess broken(path);
    auto loaded = broken.load();
    ASSERT_FALSE(loaded.ok()) << damaged.substr(0, 80);
    EXPECT_NE(loaded.error().message.find(path), std::string::npos) << loaded.error().message;
  }
}

// 64 hex digits: what Docker's image ids are made of.
const std::string kPrivateId = "sha256:" + std::string(64, 'a');
const std::string kPrivateDigest = "sha256:" + std::string(64, 'b');

class SharedNodeTest : public ::testing::Test {
 protected:
  berth::testing::TempDir dir;
  MemoryRuntime runtime;
  std::unique_ptr<AppSupervisor> supervisor;

  SharedNodeTest() {
    runtime.registry["reg:5000/secret:1"] = {{kPrivateId, {"reg:5000/secret@" + kPrivateDigest}}, "right"};
    supervisor = make();
  }
  std::unique_ptr<AppSupervisor> make() {
    auto s = std::make_unique<AppSupervisor>(runtime, SupervisorOptions{"n_1", dir.path(), "", std::string(32, 'k')},
                                             [](const nlohmann::json&) {});
    EXPECT_TRUE(s->load().ok());
    return s;
  }
  // `app` (an app key: "<name>.<org>", or a name of the default org) runs `image`, pulled only
  // when missing, with the registry password `password` ("": no credentials).
  VerbOutcome deploy(const std::string& app, const std::string& image, const std::string& password, int number = 1) {
    nlohmann::json spec = {{"image", image},
                           {"pull", "missing"},
                           {"health_check", {{"type", "command"}, {"command", {"/bin/true"}}, {"interval", "10ms"}, {"timeout", "10ms"}}}};
    if (!password.empty()) spec["registry_auth"] = {{"username", "ci"}, {"password", password}};
    auto out = supervisor->handle("app.deploy", {{"app", app}, {"deployment", number}, {"spec", spec}});
    supervisor->runDeferred(app);
    return out;
  }
};

TEST_F(SharedNodeTest, AnotherOrgCannotRunAPrivateImagePulledHereByTagDigestOrId) {
  auto owner = deploy("web.acme", "reg:5000/secret:1", "right");
  ASSERT_TRUE(owner.ok) << owner.error_message;
  ASSERT_EQ(runtime.pulls.size(), 1u);

  for (const std::string app : {"shop.globex", "db"}) {  // another org, and the default org
    auto byTag = deploy(app, "reg:5000/secret:1", "");
    EXPECT_FALSE(byTag.ok) << app << " ran another org's private image without credentials";
    EXPECT_EQ(byTag.error_code, "pull_failed");
    EXPECT_NE(byTag.error_message.find("another org's registry credentials"), std::string::npos) << byTag.error_message;
    auto byDigest = deploy(app, "reg:5000/secret@" + kPrivateDigest, "");
    EXPECT_FALSE(byDigest.ok) << app << " ran it by digest";
    auto wrong = deploy(app, "reg:5000/secret:1", "wrong");
    EXPECT_FALSE(wrong.ok) << app << " ran it with credentials the registry refuses";
  }
  auto byId = deploy("shop.globex", kPrivateId, "");
  EXPECT_FALSE(byId.ok) << "ran it by image id";
  EXPECT_EQ(byId.error_code, "invalid_argument");
  EXPECT_NE(byId.error_message.find("'image'"), std::string::npos) << byId.error_message;
  EXPECT_NE(byId.error_message.find("by its id"), std::string::npos) << byId.error_message;
  EXPECT_EQ(runtime.running().size(), 1u) << "only the owner's container runs";
  EXPECT_NE(std::find(runtime.registry_checks.begin(), runtime.registry_checks.end(), "reg:5000/secret@" + kPrivateDigest),
            runtime.registry_checks.end())
      << "the digest was not asked of the registry (a pull of it may be answered from the node's copy)";

  // Its own credentials, which the registry takes: granted from then on, without them too.
  auto granted = deploy("shop.globex", "reg:5000/secret:1", "right");
  ASSERT_TRUE(granted.ok) << granted.error_message;
  auto later = deploy("shop.globex", "reg:5000/secret:1", "", 2);
  EXPECT_TRUE(later.ok) << later.error_message;
  EXPECT_FALSE(deploy("db", "reg:5000/secret:1", "").ok) << "granting one org opened it to another";
}

TEST_F(SharedNodeTest, TheRestrictionOutlivesAnAgentRestart) {
  ASSERT_TRUE(deploy("web.acme", "reg:5000/secret:1", "right").ok);
  supervisor = make();
  EXPECT_FALSE(deploy("shop.globex", "reg:5000/secret:1", "").ok);
  EXPECT_TRUE(deploy("web.acme", "reg:5000/secret:1", "", 2).ok) << "the owner's own copy";
}

TEST_F(SharedNodeTest, AnImageLoadedOnTheNodeOrPulledWithoutCredentialsIsSharedAsBefore) {
  runtime.images["tools:1"] = {"sha256:tools", {}, {}};
  runtime.registry["reg:5000/public:1"] = {{"sha256:public", {"reg:5000/public@sha256:p"}}, ""};
  ASSERT_TRUE(deploy("web.acme", "reg:5000/public:1", "").ok);
  EXPECT_TRUE(deploy("shop.globex", "reg:5000/public:1", "").ok);
  EXPECT_TRUE(deploy("web.acme", "tools:1", "", 2).ok);
  EXPECT_TRUE(deploy("shop.globex", "tools:1", "", 2).ok);
  EXPECT_EQ(runtime.pulls.size(), 1u) << "a shared image was pulled again";
}

TEST_F(SharedNodeTest, ImagesPulledWithCredentialsBeforeTheRecordExistedAreRestrictedAtTheFirstStart) {
  ASSERT_TRUE(deploy("web.acme", "reg:5000/secret:1", "right").ok);
  std::filesystem::remove(dir.path() + "/image_access.json");  // an agent from before the record
  supervisor = make();
  EXPECT_TRUE(std::filesystem::exists(dir.path() + "/image_access.json"));
  EXPECT_FALSE(deploy("shop.globex", "reg:5000/secret:1", "").ok) << "an earlier private pull stayed open";
  EXPECT_TRUE(deploy("web.acme", "reg:5000/secret:1", "", 2).ok);
}

TEST_F(SharedNodeTest, APullWithCredentialsThatAKilledAgentLeftUnrecordedIsRestrictedAtTheNextStart) {
  // Killed between the pull and its record: the image is on the node, the record only says a
  // pull was under way.
  runtime.images["reg:5000/secret:1"] = {kPrivateId, {"reg:5000/secret@" + kPrivateDigest}, {}};
  runtime.images["reg:5000/secret@" + kPrivateDigest] = runtime.images["reg:5000/secret:1"];  // as a pull leaves it
  std::ofstream(dir.path() + "/image_access.json")
      << R"({"images": {}, "pulling": [{"reference": "reg:5000/secret:1", "org": "acme"}]})";
  supervisor = make();
  EXPECT_FALSE(deploy("shop.globex", "reg:5000/secret:1", "").ok) << "what the cut-short pull brought stayed open";
  EXPECT_TRUE(deploy("web.acme", "reg:5000/secret:1", "").ok);
  ImageAccess record(dir.path() + "/image_access.json");
  ASSERT_TRUE(record.load().ok());
  EXPECT_TRUE(record.pullsUnderWay().empty());
}

TEST_F(SharedNodeTest, APrivateRepositoryHoldingTheBytesOfAnOpenImageDoesNotCloseIt) {
  runtime.images["tools:1"] = {"sha256:tools", {}, {}};
  runtime.registry["reg:5000/copy:1"] = {{"sha256:tools", {"reg:5000/copy@sha256:c"}}, "right"};
  ASSERT_TRUE(deploy("web.acme", "reg:5000/copy:1", "right").ok);
  auto other = deploy("shop.globex", "tools:1", "");
  EXPECT_TRUE(other.ok) << "acme closed an image the node held open: " << other.error_message;
}

TEST_F(SharedNodeTest, APulledImageWhoseRestrictionCannotBeSavedDoesNotStay) {
  // A full disk, here a directory where the record goes: kept only in memory, the restriction
  // would be gone after a restart, and the image open to every org.
  std::filesystem::remove(dir.path() + "/image_access.json");  // kept (empty) since the first start
  std::filesystem::create_directory(dir.path() + "/image_access.json");
  auto owner = deploy("web.acme", "reg:5000/secret:1", "right");
  EXPECT_FALSE(owner.ok);
  // The pull under way cannot be noted, so it does not start (what a failed record after a pull
  // brought is removed instead).
  EXPECT_TRUE(runtime.pulls.empty());
  std::filesystem::remove(dir.path() + "/image_access.json");
  supervisor = make();
  EXPECT_FALSE(deploy("shop.globex", "reg:5000/secret:1", "").ok);
}

TEST_F(SharedNodeTest, WhatAPullBroughtGoesWhenItsRestrictionCannotBeSavedAfterThePull) {
  // The disk fills while the image downloads: the pull under way was noted, its outcome cannot be.
  runtime.after_pull = [&] {
    std::filesystem::remove(dir.path() + "/image_access.json");
    std::filesystem::create_directory(dir.path() + "/image_access.json");
  };
  auto owner = deploy("web.acme", "reg:5000/secret:1", "right");
  EXPECT_FALSE(owner.ok);
  ASSERT_EQ(runtime.pulls.size(), 1u);
  EXPECT_EQ(runtime.removed_images, std::vector<std::string>{"reg:5000/secret:1"});
  EXPECT_TRUE(runtime.images.empty()) << "the private bytes stayed under " << runtime.images.begin()->first;
  EXPECT_TRUE(runtime.running().empty());
}

TEST(BuildBases, ABuildMayNotStartFromAnImageRestrictedToAnotherOrgOrFromAnotherAppsBuild) {
  MemoryRuntime runtime;
  ImageAccess access("");
  runtime.images["reg:5000/secret:1"] = {kPrivateId, {}, {}};
  ASSERT_TRUE(access.recordPull(kPrivateId, "acme", true, true).ok());
  runtime.registry["reg:5000/secret:1"] = {{kPrivateId, {}}, "right"};
  runtime.images["tools:1"] = {"sha256:tools", {}, {}};
  runtime.images["web.acme:0123456789ab"] = {"sha256:built", {}, {{kBuildLabel, "web.acme@0123456789abcdef:x"}}};

  EXPECT_TRUE(checkBuildBases(runtime, access, "web.acme", {"reg:5000/secret:1", "tools:1", "web.acme:0123456789ab"}).ok())
      << "its own org's image, an open one, its own build";
  EXPECT_TRUE(checkBuildBases(runtime, access, "shop.globex", {"missing:1", "tools:1"}).ok())
      << "what the node lacks dockerd pulls without credentials";
  for (const std::string app : {"shop.globex", "db"}) {
    auto secret = checkBuildBases(runtime, access, app, {"tools:1", "reg:5000/secret:1"});
    ASSERT_FALSE(secret.ok()) << app;
    EXPECT_EQ(secret.error().code, "build_refused");
    EXPECT_NE(secret.error().message.find("FROM reg:5000/secret:1"), std::string::npos) << secret.error().message;
    EXPECT_NE(secret.error().message.find("another org's registry credentials"), std::string::npos);
  }
  auto built = checkBuildBases(runtime, access, "shop.acme", {"web.acme:0123456789ab"});
  ASSERT_FALSE(built.ok()) << "another app's build, even of the same org";
  EXPECT_NE(built.error().message.find("another app's build"), std::string::npos) << built.error().message;

  for (const std::string odd : {"../containers/json", "tools:1?all=1", "-x", "tools:1#a", "UPPER:1"}) {
    auto refused = checkBuildBases(runtime, access, "shop.globex", {odd});
    ASSERT_FALSE(refused.ok()) << odd;
    EXPECT_EQ(refused.error().code, "build_refused") << odd;
    EXPECT_NE(refused.error().message.find("field 'FROM'"), std::string::npos) << refused.error().message;
  }

  // Served without credentials after all (made public since): granted to the org that asked.
  runtime.registry["reg:5000/secret:1"].password.clear();
  EXPECT_TRUE(checkBuildBases(runtime, access, "shop.globex", {"reg:5000/secret:1"}).ok());
  EXPECT_TRUE(access.allows(kPrivateId, "globex"));
}

TEST(BuildBases, ANodeHoldingImagesAnOrgMayNotRunMakesItsBuildsPullEveryBase) {
  MemoryRuntime runtime;
  ImageAccess access("");
  runtime.images["tools:1"] = {"sha256:tools", {}, {}};
  runtime.images["web:0123456789ab"] = {"sha256:web", {}, {{kBuildLabel, "web@0123456789abcdef:x"}}};
  runtime.images["api:0123456789ab"] = {"sha256:api", {}, {{kBuildLabel, "api@0123456789abcdef:x"}}};
  EXPECT_FALSE(*holdsImagesBarredFrom(runtime, access, "default")) << "open images and its own org's builds";
  EXPECT_TRUE(*holdsImagesBarredFrom(runtime, access, "acme")) << "the default org's builds hold its code";
  runtime.images.erase("web:0123456789ab");
  runtime.images.erase("api:0123456789ab");
  EXPECT_FALSE(*holdsImagesBarredFrom(runtime, access, "acme"));
  runtime.images["reg:5000/secret:1"] = {kPrivateId, {}, {}};
  ASSERT_TRUE(access.recordPull(kPrivateId, "acme", true, true).ok());
  EXPECT_FALSE(*holdsImagesBarredFrom(runtime, access, "acme"));
  EXPECT_TRUE(*holdsImagesBarredFrom(runtime, access, "globex"));
  runtime.down = true;
  EXPECT_FALSE(holdsImagesBarredFrom(runtime, access, "globex").ok()) << "unknown is not 'none'";
}

}  // namespace
}  // namespace berth::agent
