// The supervisor's decisions against the in-memory runtime
// (tests/support/memory_runtime, held to Docker's behaviour by the runtime
// conformance suite): what it pulls and pins, what it removes on failure,
// cleanup, volumes and drift. The real dockerd path is covered by
// tests/integration/apps_test.cpp.
#include "agent/app_supervisor.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "../../support/memory_runtime.hpp"
#include "../temp_dir.hpp"

namespace berth::agent {
namespace {

using berth::testing::MemoryRuntime;

// Tags 1-3 of reg:5000/web in the registry, pullable with the password "right".
void addRegistry(MemoryRuntime& runtime) {
  for (const std::string n : {"1", "2", "3"})
    runtime.registry["reg:5000/web:" + n] = {{"sha256:id" + n, {"reg:5000/web@sha256:" + n}}, "right"};
}

class AppSupervisorTest : public ::testing::Test {
 protected:
  berth::testing::TempDir dir;
  AppSupervisorTest() { addRegistry(runtime); }
  MemoryRuntime runtime;
  std::vector<nlohmann::json> events;
  std::unique_ptr<AppSupervisor> supervisor = make();

  std::unique_ptr<AppSupervisor> make() {
    return std::make_unique<AppSupervisor>(runtime, SupervisorOptions{"n_1", dir.path(), "", std::string(32, 'k')},
                                           [this](const nlohmann::json& e) { events.push_back(e); });
  }

  static nlohmann::json spec(const std::string& tag, const std::string& password = "right") {
    return {{"image", "reg:5000/web:" + tag},
            {"volumes", {{"data", "/data"}}},
            {"health_check", {{"type", "command"}, {"command", {"/bin/true"}}, {"interval", "10ms"}, {"timeout", "10ms"}}},
            {"registry_auth", {{"username", "ci"}, {"password", password}}}};
  }

  VerbOutcome deploy(int number, const std::string& tag, int keep = 3, const std::string& pinned = "",
                     const std::string& pull = "", const std::string& deployment_id = "") {
    nlohmann::json args = {{"app", "web"}, {"deployment", number}, {"spec", spec(tag)}, {"keep", keep}};
    if (!deployment_id.empty()) args["deployment_id"] = deployment_id;
    if (!pull.empty()) args["spec"]["pull"] = pull;
    if (!pinned.empty()) args["image"] = pinned;
    auto out = supervisor->handle("app.deploy", args);
    supervisor->runDeferred("web");
    return out;
  }
};

TEST_F(AppSupervisorTest, PullsPinsTheDigestAndReplacesTheOldVersion) {
  auto first = deploy(1, "1");
  ASSERT_TRUE(first.ok) << first.error_message;
  EXPECT_EQ(first.output["image"], "reg:5000/web@sha256:1");
  EXPECT_EQ(runtime.pulls, std::vector<std::string>{"reg:5000/web:1"});
  ASSERT_TRUE(deploy(2, "2").ok);
  auto up = runtime.running();
  ASSERT_EQ(up.size(), 1u);
  EXPECT_EQ(up[0].name, "berth-web-d2-0");
  EXPECT_EQ(up[0].labels.at("berth.node"), "n_1");
  // A rollback names the pinned digest: nothing is pulled, deployment 1's bytes run.
  ASSERT_TRUE(deploy(3, "1", 3, "reg:5000/web@sha256:1").ok);
  EXPECT_EQ(runtime.pulls.size(), 2u);
  EXPECT_EQ(runtime.running()[0].image_id, "sha256:id1");
}

TEST_F(AppSupervisorTest, APullSendsThrottledProgressEventsBetweenPullingAndStarting) {
  std::int64_t now = 1'000'000;
  supervisor = std::make_unique<AppSupervisor>(
      runtime, SupervisorOptions{"n_1", dir.path(), "", std::string(32, 'k'), 10, "10m", 3, nullptr, "", [&] { return now; }},
      [this](const nlohmann::json& e) { events.push_back(e); });
  runtime.pull_progress_reports = 5;  // all within one throttle interval (the clock stands still)
  ASSERT_TRUE(deploy(1, "1").ok);
  std::vector<std::string> states;
  for (const auto& e : events) states.push_back(e["state"]);
  const auto pulling = std::find(states.begin(), states.end(), "pulling");
  const auto starting = std::find(states.begin(), states.end(), "starting");
  ASSERT_NE(pulling, states.end());
  ASSERT_NE(starting, states.end());
  // Five reports in one interval: the first, and the last one held back, once the pull ended.
  EXPECT_EQ(std::count(pulling, starting, "pull_progress"), 2);
  const auto at = static_cast<std::size_t>(pulling - states.begin());
  const auto& progress = events[at + 1];
  EXPECT_EQ(progress["state"], "pull_progress");
  EXPECT_EQ(progress["reason"], "0/1 layers");
  EXPECT_EQ(progress["progress"]["layers"][0]["state"], "Downloading");
  EXPECT_EQ(progress["deployment"], 1);
  const auto& last = events[at + 2];
  EXPECT_EQ(last["state"], "pull_progress");
  EXPECT_EQ(last["progress"]["layers_done"], 1) << last.dump();
  EXPECT_EQ(last["progress"]["bytes_current"], 5) << last.dump();
}

TEST_F(AppSupervisorTest, APullWhoseReportsAllWentOnTimeSendsNoneTwice) {
  std::int64_t now = 1'000'000;
  supervisor = std::make_unique<AppSupervisor>(
      runtime, SupervisorOptions{"n_1", dir.path(), "", std::string(32, 'k'), 10, "10m", 3, nullptr, "", [&] { return now; }},
      [this](const nlohmann::json& e) { events.push_back(e); });
  runtime.pull_progress_reports = 1;  // one report: sent at once, nothing held back
  ASSERT_TRUE(deploy(1, "1").ok);
  EXPECT_EQ(std::count_if(events.begin(), events.end(), [](const auto& e) { return e["state"] == "pull_progress"; }),
            1);
}

TEST_F(AppSupervisorTest, ARegistryTagIsPulledAtEveryDeployWithItsCredentials) {
  ASSERT_TRUE(deploy(1, "1").ok);
  ASSERT_TRUE(deploy(2, "1").ok);  // present, but a tag may have moved: pulled again
  EXPECT_EQ(runtime.pulls.size(), 2u);
  auto wrong = supervisor->handle("app.deploy", {{"app", "web"}, {"deployment", 3}, {"spec", spec("1", "wrong")}});
  EXPECT_FALSE(wrong.ok);  // the credentials are checked every time, not only on the first pull
  EXPECT_EQ(wrong.error_code, "pull_failed");
  ASSERT_TRUE(deploy(4, "1", 3, "", "missing").ok);
  EXPECT_EQ(runtime.pulls.size(), 3u);  // pull: missing keeps the local copy
  runtime.images["busybox:1"] = {"sha256:bb", {}};
  auto hub = supervisor->handle("app.deploy", {{"app", "web"},
                                              {"deployment", 5},
                                              {"spec", {{"image", "busybox:1"}, {"health_check", spec("1")["health_check"]}}}});
  ASSERT_TRUE(hub.ok) << hub.error_message;
  EXPECT_EQ(runtime.pulls.size(), 3u);  // Docker Hub references: only when missing
  EXPECT_EQ(hub.output["image"], "sha256:bb");
}

TEST_F(AppSupervisorTest, FailuresKeepTheRunningVersionAndSayWhy) {
  ASSERT_TRUE(deploy(1, "1").ok);
  const auto before = runtime.running();
  auto unauthorized = supervisor->handle("app.deploy", {{"app", "web"}, {"deployment", 2}, {"spec", spec("2", "wrong")}});
  EXPECT_FALSE(unauthorized.ok);
  EXPECT_EQ(unauthorized.error_code, "pull_failed");
  EXPECT_NE(unauthorized.error_message.find("unauthorized"), std::string::npos);
  runtime.exec_exit = 1;
  auto unhealthy = deploy(3, "2");
  EXPECT_FALSE(unhealthy.ok);
  EXPECT_EQ(unhealthy.error_code, "unhealthy");
  EXPECT_NE(unhealthy.error_message.find("command exited 1"), std::string::npos);
  const auto after = runtime.running();
  ASSERT_EQ(after.size(), 1u);
  EXPECT_EQ(after[0].id, before[0].id);
  EXPECT_EQ(after[0].started_at, before[0].started_at);
  EXPECT_EQ(runtime.containers.size(), 1u);  // the failed attempt left nothing behind
  EXPECT_EQ(events.back()["state"], "failed");
}

TEST_F(AppSupervisorTest, CleanupRemovesOnlyPulledImagesBeyondKeep) {
  runtime.images["reg:5000/web:3"] = {"sha256:local3", {}};  // built on this machine, never pulled
  ASSERT_TRUE(deploy(1, "1", 1).ok);
  ASSERT_TRUE(deploy(2, "2", 1).ok);
  EXPECT_TRUE(runtime.removed_images.empty());  // current + 1 kept
  ASSERT_TRUE(deploy(3, "3", 1, "", "missing").ok);
  EXPECT_EQ(runtime.removed_images, (std::vector<std::string>{"reg:5000/web@sha256:1", "reg:5000/web:1"}));
  ASSERT_TRUE(deploy(4, "1", 1).ok);  // pulled again
  runtime.removed_images.clear();
  ASSERT_TRUE(deploy(5, "1", 1, "reg:5000/web@sha256:1").ok);
  // Deployment 3's image was never pulled by berth: it stays although it fell out of the window.
  EXPECT_TRUE(std::find(runtime.removed_images.begin(), runtime.removed_images.end(), "sha256:local3") ==
              runtime.removed_images.end());
  EXPECT_TRUE(runtime.images.count("reg:5000/web:3"));
}

TEST_F(AppSupervisorTest, LifecycleIsIdempotentAndDeleteTakesVolumesOnlyWhenAsked) {
  ASSERT_TRUE(deploy(1, "1").ok);
  auto stop = supervisor->handle("app.stop", {{"app", "web"}});
  ASSERT_TRUE(stop.ok);
  EXPECT_TRUE(stop.output["changed"].get<bool>());
  auto again = supervisor->handle("app.stop", {{"app", "web"}});
  ASSERT_TRUE(again.ok);
  EXPECT_FALSE(again.output["changed"].get<bool>());
  EXPECT_TRUE(runtime.running().empty());
  ASSERT_TRUE(supervisor->handle("app.start", {{"app", "web"}}).ok);
  EXPECT_EQ(runtime.running().size(), 1u);
  ASSERT_TRUE(supervisor->handle("app.delete", {{"app", "web"}}).ok);
  EXPECT_TRUE(runtime.removed_volumes.empty());
  EXPECT_TRUE(runtime.containers.empty());
  ASSERT_TRUE(deploy(2, "1").ok);
  ASSERT_TRUE(supervisor->handle("app.delete", {{"app", "web"}, {"volumes", true}}).ok);
  EXPECT_EQ(runtime.removed_volumes, std::vector<std::string>{"berth-web-data"});
  EXPECT_FALSE(supervisor->handle("app.stop", {{"app", "web"}}).ok);  // gone: not_found
  EXPECT_FALSE(supervisor->handle("app.stop", {{"app", "Bad_Name"}}).ok);
}

TEST_F(AppSupervisorTest, ARestartedSupervisorAdoptsAndReconcileRepairsDrift) {
  ASSERT_TRUE(deploy(1, "1").ok);
  const auto original = runtime.running()[0];
  supervisor = make();  // the agent restarted
  ASSERT_TRUE(supervisor->load().ok());
  supervisor->reconcile();
  ASSERT_EQ(runtime.running().size(), 1u);
  EXPECT_EQ(runtime.running()[0].id, original.id);  // adopted, not restarted
  EXPECT_EQ(runtime.running()[0].started_at, original.started_at);

  runtime.containers.clear();  // removed by hand
  supervisor->reconcile();
  ASSERT_EQ(runtime.running().size(), 1u);
  EXPECT_EQ(runtime.running()[0].name, "berth-web-d1-0");
  EXPECT_NE(events.back()["reason"].get<std::string>().find("the container was removed"), std::string::npos);

  runtime::ContainerSpec stray;
  stray.name = "stray";
  stray.image = "reg:5000/web:1";
  stray.labels = {{"berth.managed", "1"}, {"berth.app", "ghost"}, {"berth.node", "n_1"}};
  auto id = runtime.create(stray);
  supervisor->reconcile();
  EXPECT_EQ(events.back()["state"], "unknown_container");
  EXPECT_TRUE(runtime.containers.count(*id));  // reported, not touched
  const auto reported = events.size();
  supervisor->reconcile();
  EXPECT_EQ(events.size(), reported);  // once
}

TEST(Adoption, OnlyTheSameDeploymentIdOrALegacyContainerWithTheSameImage) {
  EXPECT_TRUE(adoptable({{"berth.deployment_id", "dep_a"}}, "dep_a", false));
  EXPECT_FALSE(adoptable({{"berth.deployment_id", "dep_a"}}, "dep_b", true));
  EXPECT_FALSE(adoptable({{"berth.deployment_id", "dep_a"}}, "", true));
  EXPECT_FALSE(adoptable({}, "dep_b", true));  // from before ids, but the deployment has one: not its container
  EXPECT_TRUE(adoptable({}, "", true));        // before ids on both sides: adopted when the image matches
  EXPECT_FALSE(adoptable({}, "", false));
}

TEST_F(AppSupervisorTest, AContainerWithTheRightNameButAnotherDeploymentIdIsReplacedNotAdopted) {
  ASSERT_TRUE(deploy(1, "1", 3, "", "", "dep_one").ok);
  // Deployment 2 started once (the server then lost its record) and left its container behind.
  runtime::ContainerSpec leftover;
  leftover.name = "berth-web-d2-0";
  leftover.image = "reg:5000/web@sha256:2";
  runtime.images[leftover.image] = {"sha256:id2", {leftover.image}};
  leftover.labels = {{"berth.managed", "1"}, {"berth.app", "web"}, {"berth.deployment", "2"},
                     {"berth.replica", "0"}, {"berth.node", "n_1"}, {"berth.deployment_id", "dep_lost"}};
  auto stale = runtime.create(leftover);
  ASSERT_TRUE(runtime.start(*stale).ok());
  // The server reuses number 2 for a new deployment of tag 3.
  auto out = deploy(2, "3", 3, "", "", "dep_new");
  ASSERT_TRUE(out.ok) << out.error_message;
  EXPECT_FALSE(runtime.containers.count(*stale));  // replaced
  ASSERT_EQ(runtime.running().size(), 1u);
  const auto now = runtime.running()[0];
  EXPECT_EQ(now.name, "berth-web-d2-0");
  EXPECT_EQ(now.labels.at("berth.deployment_id"), "dep_new");
  EXPECT_EQ(now.image_id, "sha256:id3");

  // Reconcile never treats an impostor as the running version either.
  runtime.containers.clear();
  leftover.labels["berth.deployment_id"] = "dep_other";
  auto impostor = runtime.create(leftover);
  ASSERT_TRUE(runtime.start(*impostor).ok());
  supervisor->reconcile();
  EXPECT_FALSE(runtime.containers.count(*impostor));
  ASSERT_EQ(runtime.running().size(), 1u);
  EXPECT_EQ(runtime.running()[0].labels.at("berth.deployment_id"), "dep_new");
  // A redelivered deploy with the same id adopts its own container.
  const auto own = runtime.running()[0].id;
  ASSERT_TRUE(deploy(2, "3", 3, "", "", "dep_new").ok);
  EXPECT_EQ(runtime.running()[0].id, own);
}

TEST_F(AppSupervisorTest, ContainersFromBeforeIdsAreAdoptedOnlyWithTheDeploymentsImage) {
  ASSERT_TRUE(deploy(1, "1").ok);  // no id: an agent state written before ids
  auto original = runtime.running()[0];
  runtime.containers[original.id].labels.erase("berth.deployment_id");
  supervisor = make();
  ASSERT_TRUE(supervisor->load().ok());
  supervisor->reconcile();
  ASSERT_EQ(runtime.running().size(), 1u);
  EXPECT_EQ(runtime.running()[0].id, original.id);  // adopted: same number, same image
  runtime.containers[original.id].image_id = "sha256:something-else";
  supervisor->reconcile();
  ASSERT_EQ(runtime.running().size(), 1u);
  EXPECT_NE(runtime.running()[0].id, original.id);  // another image under the name: replaced
}

TEST_F(AppSupervisorTest, AnUnreachableRuntimeIsSaidOnceAndTheStateIsDerivedAgainWhenItReturns) {
  ASSERT_TRUE(deploy(1, "1", 3, "", "", "dep_one").ok);
  const auto before = events.size();
  runtime.down = true;
  for (int i = 0; i < 20; ++i) supervisor->reconcile();
  auto restart = supervisor->handle("app.restart", {{"app", "web"}});
  EXPECT_FALSE(restart.ok);
  EXPECT_EQ(restart.error_code, "runtime_unavailable");
  int unreachable = 0;
  for (std::size_t i = before; i < events.size(); ++i) {
    const std::string reason = events[i]["reason"];
    EXPECT_EQ(reason.find("the container was removed"), std::string::npos) << reason;
    unreachable += events[i]["state"] == "runtime_unreachable";
  }
  EXPECT_EQ(unreachable, 1);
  runtime.down = false;
  supervisor->reconcile();
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back()["state"], "runtime_reachable");
  EXPECT_EQ(events.back()["derived"], "healthy");
  EXPECT_EQ(runtime.running().size(), 1u);
  const auto after = events.size();
  supervisor->reconcile();
  EXPECT_EQ(events.size(), after);  // once per outage
}

TEST(VolumeName, NoTwoOrgsAppsShareADockerVolume) {
  EXPECT_EQ(volumeName("web", "data"), "berth-web-data");  // the default org keeps today's names
  EXPECT_EQ(volumeName("web.acme", "data"), "berth.web.acme_data");
  // Pairs of (app key, volume name) the server accepts, each pair of two orgs:
  // a default app "my" naming its volume after acme's "my-app"; org "acme" reaching "acme-prod".
  const std::vector<std::pair<std::pair<std::string, std::string>, std::pair<std::string, std::string>>> pairs = {
      {{"my", "app.acme-data"}, {"my-app.acme", "data"}},
      {{"web.acme", "prod-data"}, {"web.acme-prod", "data"}},
      {{"web", "x.acme_data"}, {"web-x.acme", "data"}},
  };
  for (const auto& [one, other] : pairs)
    EXPECT_NE(volumeName(one.first, one.second), volumeName(other.first, other.second))
        << one.first << " " << one.second << " / " << other.first << " " << other.second;
}

TEST_F(AppSupervisorTest, DeleteWithVolumesTakesEveryVolumeAnyDeploymentDeclared) {
  ASSERT_TRUE(deploy(1, "1").ok);  // declares "data"
  auto out = supervisor->handle("app.delete", {{"app", "web"}, {"volumes", true}, {"volume_names", {"cache", "data"}}});
  ASSERT_TRUE(out.ok) << out.error_message;
  std::set<std::string> removed(runtime.removed_volumes.begin(), runtime.removed_volumes.end());
  EXPECT_EQ(removed, (std::set<std::string>{"berth-web-cache", "berth-web-data"}));
  EXPECT_FALSE(supervisor->handle("app.delete", {{"app", "web"}, {"volumes", true}, {"volume_names", {"ok", "../x"}}}).ok);
}

TEST_F(AppSupervisorTest, PublishedPortsBindLoopbackUnlessPublicAndLogsAreBounded) {
  nlohmann::json body = spec("1");
  body["port"] = 8080;
  body["publish"] = 18080;
  ASSERT_TRUE(supervisor->handle("app.deploy", {{"app", "web"}, {"deployment", 1}, {"spec", body}}).ok);
  supervisor->runDeferred("web");
  auto created = runtime.specs.at(runtime.running()[0].id);
  EXPECT_EQ(created.host_ip, "127.0.0.1");
  EXPECT_EQ(created.log_max_size, "10m");
  EXPECT_EQ(created.log_max_files, 3);
  body["publish_public"] = true;
  ASSERT_TRUE(supervisor->handle("app.deploy", {{"app", "web"}, {"deployment", 2}, {"spec", body}}).ok);
  supervisor->runDeferred("web");
  ASSERT_EQ(runtime.running().size(), 1u);
  EXPECT_EQ(runtime.specs.at(runtime.running()[0].id).host_ip, "");
}

// A rollback of a deployment built from git, its image still on the node: nothing is
// fetched or built, and the container is told the commit it runs.
TEST_F(AppSupervisorTest, ABuiltImageStillPresentIsReusedAndTheContainerKnowsItsCommit) {
  const std::string commit = "0123456789abcdef0123456789abcdef01234567";
  runtime.images["web:0123456789ab"] = {"sha256:built", {}, {}};
  nlohmann::json spec = {{"source", {{"git", "https://git.example.com/acme/web.git"}, {"ref", "main"}}},
                         {"port", 8080},
                         {"env", {{"GREETING", "hi"}}},
                         {"health_check", {{"type", "command"}, {"command", {"/bin/true"}}, {"interval", "10ms"}, {"timeout", "10ms"}}}};
  auto out = supervisor->handle("app.deploy", {{"app", "web"}, {"deployment", 1}, {"spec", spec},
                                               {"image", "web:0123456789ab"}, {"commit", commit}});
  supervisor->runDeferred("web");
  ASSERT_TRUE(out.ok) << out.error_message;
  EXPECT_EQ(out.output["build"]["reused"], true);
  EXPECT_TRUE(runtime.pulls.empty());
  ASSERT_EQ(runtime.running().size(), 1u);
  const auto& created = runtime.specs.at(runtime.running()[0].id);
  EXPECT_EQ(created.env.at("BERTH_GIT_COMMIT"), commit);
  EXPECT_EQ(created.env.at("GREETING"), "hi");
  // A value the deployment sets itself stays.
  spec["env"]["BERTH_GIT_COMMIT"] = "mine";
  out = supervisor->handle("app.deploy", {{"app", "web"}, {"deployment", 2}, {"spec", spec},
                                          {"image", "web:0123456789ab"}, {"commit", commit}});
  supervisor->runDeferred("web");
  ASSERT_TRUE(out.ok) << out.error_message;
  ASSERT_EQ(runtime.running().size(), 1u);
  EXPECT_EQ(runtime.specs.at(runtime.running()[0].id).env.at("BERTH_GIT_COMMIT"), "mine");
}

TEST_F(AppSupervisorTest, AnotherAppsSourceBuildOnTheNodeIsPulledNeverTakenByAnImageDeploy) {
  // Org acme's app web built this from its private repository; another org's app names its tag or its id.
  const std::string label = "web.acme@0123456789abcdef0123456789abcdef01234567:0011223344556677";
  runtime.images["web.acme:0123456789ab"] = {"sha256:acmebuilt", {}, {{"berth.build", label}}};
  runtime.images["sha256:acmebuilt"] = runtime.images["web.acme:0123456789ab"];
  const nlohmann::json check = spec("1")["health_check"];
  for (const std::string reference : {"web.acme:0123456789ab", "sha256:acmebuilt"}) {
    auto out = supervisor->handle("app.deploy", {{"app", "api.evil"}, {"deployment", 1},
                                                 {"spec", {{"image", reference}, {"health_check", check}}}});
    supervisor->runDeferred("api.evil");
    EXPECT_FALSE(out.ok) << reference;
    EXPECT_EQ(out.error_code, "pull_failed") << reference;
  }
  EXPECT_EQ(runtime.pulls, (std::vector<std::string>{"web.acme:0123456789ab", "sha256:acmebuilt"}));
  EXPECT_TRUE(runtime.running().empty());
  // The app that built it may run it as an image; a prefix of its key is another app.
  for (const std::string app : {"web.acme", "web"}) {
    auto out = supervisor->handle("app.deploy", {{"app", app}, {"deployment", 2},
                                                 {"spec", {{"image", "web.acme:0123456789ab"}, {"health_check", check}}}});
    supervisor->runDeferred(app);
    EXPECT_EQ(out.ok, app == "web.acme") << app << ": " << out.error_message;
  }
  ASSERT_EQ(runtime.running().size(), 1u);
  EXPECT_EQ(runtime.specs.at(runtime.running()[0].id).image, "sha256:acmebuilt");
  // What a registry serves under that name is anyone's to pull.
  runtime.registry["web.acme:0123456789ab"] = {{"sha256:public", {}}, ""};
  auto pulled = supervisor->handle("app.deploy", {{"app", "api.evil"}, {"deployment", 3},
                                                  {"spec", {{"image", "web.acme:0123456789ab"}, {"health_check", check}}}});
  supervisor->runDeferred("api.evil");
  ASSERT_TRUE(pulled.ok) << pulled.error_message;
  EXPECT_EQ(pulled.output["image"], "sha256:public");
}

TEST_F(AppSupervisorTest, WhatABuildKilledWithTheAgentLeftGoesAtTheNextStart) {
  // An agent killed mid-build: its private directory still holds the checkout and the deploy key.
  const std::string left = dir.path() + "/builds/Ab12Cd34";
  std::filesystem::create_directories(left + "/checkout/.git");
  std::ofstream(left + "/deploy_key") << "-----BEGIN OPENSSH PRIVATE KEY-----\n";
  std::filesystem::create_symlink(dir.path() + "/outside", left + "/checkout/link");
  std::ofstream(dir.path() + "/outside") << "not a build's";
  ASSERT_TRUE(make()->load().ok());
  EXPECT_FALSE(std::filesystem::exists(left));
  EXPECT_TRUE(std::filesystem::exists(dir.path() + "/builds")) << "the parent stays";
  EXPECT_TRUE(std::filesystem::exists(dir.path() + "/outside")) << "a symlink is removed, not followed";
}

}  // namespace
}  // namespace berth::agent
