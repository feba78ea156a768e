// AppService and apps built from git (server/app_source.cpp): credentials
// sealed at rest and opened only at dispatch, the agent's build result and
// offered host keys taken from literal result JSON, host-key trust, rollback
// of a built deployment, and push webhooks.
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>

#include "app_service_world.hpp"
#include "common/ids.hpp"
#include "source/ssh_keys.hpp"

namespace berth::server {
namespace {

constexpr const char* kToken = "ghp_SuperSecretToken0123456789";
const std::string kCommit(40, 'c');
const std::string kOffered = "SHA256:" + std::string(43, 'Q');

std::string fileText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

class AppSourceTest : public ::testing::Test, public testing::AppServiceWorld {
 protected:
  void SetUp() override {
    ASSERT_TRUE(store->upsertNode(onlineNode("n_1")).ok());
    ASSERT_TRUE(apps.create("default", {{"name", "web"}}).ok());
  }

  nlohmann::json gitSpec(const std::string& ref = "main") {
    return {{"source", {{"git", "https://git.example.com/acme/web.git"}, {"ref", ref}}}, {"port", 3000}};
  }

  store::Command commandOf(const AppCall& call) { return store->getCommand(call.command_id)->value(); }

  // The agent's RESULT for the deploy, as literal JSON.
  void finish(const AppCall& call, bool ok, const nlohmann::json& result) {
    auto c = commandOf(call);
    c.state = ok ? store::CommandState::Succeeded : store::CommandState::Failed;
    c.result = result;
    if (!ok) c.error = "fetch failed";
    apps.onCommandFinished(c);
  }

  std::string dbText() { return fileText(dir.path() + "/db") + fileText(dir.path() + "/db-wal"); }
};

TEST_F(AppSourceTest, CredentialsAreSealedAtRestNeverAnsweredAndOpenedOnlyAtDispatch) {
  ASSERT_TRUE(apps.putSource("web", {{"token", kToken}, {"username", "ci-bot"}}).ok());
  auto shown = apps.source("web");
  ASSERT_TRUE(shown.ok()) << shown.error().message;
  EXPECT_EQ((*shown)["kind"], "https");
  EXPECT_EQ((*shown)["username"], "ci-bot");
  EXPECT_EQ(shown->dump().find(kToken), std::string::npos);

  auto call = apps.deploy("web", gitSpec());
  ASSERT_TRUE(call.ok()) << call.error().message;
  const auto queued = commandOf(*call);
  ASSERT_TRUE(queued.args.contains("sealed_source"));
  EXPECT_EQ(queued.args.dump().find(kToken), std::string::npos);
  EXPECT_EQ(queued.args["spec"]["source"]["ref"], "main");
  EXPECT_FALSE(queued.args.contains("commit"));  // the ref is resolved by the agent

  auto dispatched = apps.dispatchArgs(queued);
  ASSERT_TRUE(dispatched.ok()) << dispatched.error().message;
  EXPECT_FALSE(dispatched->contains("sealed_source"));
  EXPECT_EQ((*dispatched)["source_credentials"], (nlohmann::json{{"username", "ci-bot"}, {"token", kToken}}));

  // Nothing on disk holds the token in clear (the database and its write-ahead log).
  EXPECT_EQ(dbText().find(kToken), std::string::npos);
}

TEST_F(AppSourceTest, AGeneratedDeployKeyShowsOnlyItsPublicHalf) {
  auto key = apps.setDeployKey("web", {{"generate", true}});
  ASSERT_TRUE(key.ok()) << key.error().message;
  const std::string publicLine = (*key)["public_key"];
  EXPECT_EQ(publicLine.rfind("ssh-ed25519 ", 0), 0u);
  EXPECT_EQ(key->dump().find("PRIVATE KEY"), std::string::npos);
  auto shown = apps.source("web");
  EXPECT_EQ((*shown)["public_key"], publicLine);
  EXPECT_EQ((*shown)["kind"], "ssh");
  EXPECT_EQ(shown->dump().find("PRIVATE KEY"), std::string::npos);
  ASSERT_TRUE(apps.putSource("web", {{"host_key", kOffered}}).ok());

  auto call = apps.deploy("web", {{"source", {{"git", "git@git.example.com:acme/web.git"}}}});
  ASSERT_TRUE(call.ok()) << call.error().message;
  auto dispatched = apps.dispatchArgs(commandOf(*call));
  ASSERT_TRUE(dispatched.ok());
  const auto& credentials = (*dispatched)["source_credentials"];
  EXPECT_EQ(credentials["host_key"], kOffered);
  const std::string privateKey = credentials["deploy_key"];
  EXPECT_NE(privateKey.find("BEGIN OPENSSH PRIVATE KEY"), std::string::npos);
  EXPECT_FALSE(credentials.contains("token"));
  // The key's body is nowhere on disk in clear.
  const auto body = privateKey.substr(privateKey.find('\n') + 1, 60);
  EXPECT_EQ(dbText().find(body), std::string::npos);
  EXPECT_EQ(dbText().find("OPENSSH PRIVATE KEY"), std::string::npos);
}

TEST_F(AppSourceTest, AnUploadedKeyMustBeAnUnencryptedEd25519Key) {
  EXPECT_EQ(apps.setDeployKey("web", {{"private_key", "-----BEGIN RSA PRIVATE KEY-----\nAAAA\n"}}).error().code,
            "invalid_argument");
  EXPECT_EQ(apps.setDeployKey("web", {{"generate", true}, {"private_key", "x"}}).error().code, "invalid_argument");
  EXPECT_EQ(apps.setDeployKey("web", nlohmann::json::object()).error().code, "invalid_argument");
  auto generated = source::newDeployKey("elsewhere");
  ASSERT_TRUE(generated.ok());
  auto uploaded = apps.setDeployKey("web", {{"private_key", generated->private_openssh}});
  ASSERT_TRUE(uploaded.ok()) << uploaded.error().message;
  EXPECT_EQ((*uploaded)["public_key_fingerprint"], generated->fingerprint);
}

TEST_F(AppSourceTest, TheBuildTheAgentReportsIsRecordedAndShown) {
  auto call = apps.deploy("web", gitSpec());
  ASSERT_TRUE(call.ok()) << call.error().message;
  const nlohmann::json plan = {{"stack", "node"}, {"start", {"npm", "start"}}};
  finish(*call, true,
         {{"build", {{"commit", kCommit}, {"image", "web:cccccccccccc"}, {"plan", plan}, {"reused", false}}}});
  auto d = store->getDeployment("web", call->deployment)->value();
  EXPECT_EQ(d.state, DeploymentState::Healthy);
  EXPECT_EQ(d.source_ref, "main");
  EXPECT_EQ(d.source_commit, kCommit);
  EXPECT_EQ(d.built_image, "web:cccccccccccc");
  EXPECT_EQ(d.image, "web:cccccccccccc");
  EXPECT_EQ(d.build_plan, plan);
  auto shown = apps.show("web");
  EXPECT_EQ((*shown)["commit"], kCommit);
  EXPECT_EQ((*shown)["current"]["source_ref"], "main");
  auto planShown = apps.plan("web");
  EXPECT_EQ((*planShown)["plan"], plan);
  EXPECT_EQ((*planShown)["commit"], kCommit);
}

TEST_F(AppSourceTest, ABuildResultOutOfShapeIsNotTaken) {
  auto call = apps.deploy("web", gitSpec());
  ASSERT_TRUE(call.ok());
  finish(*call, true, {{"build", {{"commit", "$(id)"}, {"image", "Bad Image;"}, {"plan", "rm -rf /"}}}});
  auto d = store->getDeployment("web", call->deployment)->value();
  EXPECT_EQ(d.source_commit, "");
  EXPECT_EQ(d.built_image, "");
  EXPECT_TRUE(d.build_plan.is_null());
}

TEST_F(AppSourceTest, AReusedImageTakesThePlanOfTheBuildThatLastMadeItsTagEvenNone) {
  const nlohmann::json plan = {{"stack", "node"}, {"start", {"npm", "start"}}};
  const std::string tag = "web:cccccccccccc";
  auto deployOnce = [&](const nlohmann::json& build) {
    auto call = apps.deploy("web", gitSpec());
    EXPECT_TRUE(call.ok());
    finish(*call, true, {{"build", build}});
    return store->getDeployment("web", call->deployment)->value();
  };
  // The commit built from a plan, then (the same commit) from a Dockerfile: the tag moved to that image.
  EXPECT_EQ(deployOnce({{"commit", kCommit}, {"image", tag}, {"plan", plan}, {"reused", false}}).build_plan, plan);
  EXPECT_TRUE(deployOnce({{"commit", kCommit}, {"image", tag}, {"plan", nullptr}, {"reused", false}}).build_plan.is_null());
  // Reusing it is reusing the Dockerfile's image: no plan, not the older build's.
  EXPECT_TRUE(deployOnce({{"commit", kCommit}, {"image", tag}, {"plan", nullptr}, {"reused", true}}).build_plan.is_null());
  EXPECT_TRUE((*apps.plan("web"))["plan"].is_null());
  // Built from the plan again, then reused: that plan.
  EXPECT_EQ(deployOnce({{"commit", kCommit}, {"image", tag}, {"plan", plan}, {"reused", false}}).build_plan, plan);
  EXPECT_EQ(deployOnce({{"commit", kCommit}, {"image", tag}, {"plan", nullptr}, {"reused", true}}).build_plan, plan);
}

TEST_F(AppSourceTest, ABuildResultOfOtherTypesIsIgnoredNotThrown) {
  const nlohmann::json plan = {{"stack", "node"}};
  auto first = apps.deploy("web", gitSpec());
  ASSERT_TRUE(first.ok());
  finish(*first, true, {{"build", {{"commit", kCommit}, {"image", "web:cccccccccccc"}, {"plan", plan}}}});
  auto call = apps.deploy("web", gitSpec());
  ASSERT_TRUE(call.ok());
  // A compromised or buggy agent's RESULT: every value of the wrong type.
  EXPECT_NO_THROW(finish(*call, true, {{"image", 7}, {"build", {{"commit", 1}, {"image", {"web:cccccccccccc"}},
                                                                 {"plan", nullptr}, {"reused", "yes"}}}}));
  auto d = store->getDeployment("web", call->deployment)->value();
  EXPECT_EQ(d.state, DeploymentState::Healthy);
  EXPECT_EQ(d.source_commit, "");
  EXPECT_EQ(d.built_image, "");
  EXPECT_EQ(d.image, "");
  EXPECT_TRUE(d.build_plan.is_null());
  auto third = apps.deploy("web", gitSpec());
  ASSERT_TRUE(third.ok());
  EXPECT_NO_THROW(finish(*third, true, nlohmann::json::array({1, 2})));
  EXPECT_EQ(store->getDeployment("web", third->deployment)->value().state, DeploymentState::Healthy);
}

TEST_F(AppSourceTest, ARollbackThatReusesTheImageByItsIdKeepsThePlanItWasBuiltFrom) {
  const nlohmann::json plan = {{"stack", "node"}, {"start", {"npm", "start"}}};
  const std::string id = "sha256:" + std::string(64, 'a');
  auto first = apps.deploy("web", gitSpec());
  ASSERT_TRUE(first.ok());
  // The agent runs the image by its id ("image") and reports the build's tag.
  finish(*first, true, {{"image", id}, {"build", {{"commit", kCommit}, {"image", "web:cccccccccccc"}, {"plan", plan}}}});
  auto second = apps.deploy("web", gitSpec());
  ASSERT_TRUE(second.ok());
  finish(*second, true, {{"image", "sha256:" + std::string(64, 'd')},
                         {"build", {{"commit", std::string(40, 'd')}, {"image", "web:dddddddddddd"}, {"plan", nullptr}}}});
  auto back = apps.rollback("web", 0);
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(commandOf(*back).args["image"], id);
  // The node still has it: reused by the id the rollback pinned.
  finish(*back, true, {{"image", id}, {"build", {{"commit", kCommit}, {"image", id}, {"plan", nullptr}, {"reused", true}}}});
  EXPECT_EQ(store->getDeployment("web", back->deployment)->value().build_plan, plan);
  EXPECT_EQ((*apps.plan("web"))["plan"], plan);
}

TEST_F(AppSourceTest, OfferedHostKeysAreKeptForTrustWhichPinsOnlyThoseUnlessAnAdminForces) {
  auto call = apps.deploy("web", {{"source", {{"git", "ssh://git@git.example.com/acme/web.git"}}}});
  ASSERT_TRUE(call.ok());
  finish(*call, false, {{"offered_host_keys", {kOffered, "not a key", kOffered, 7}}});
  auto shown = apps.source("web");
  EXPECT_EQ((*shown)["offered_host_keys"], nlohmann::json::array({kOffered}));
  EXPECT_EQ(store->getDeployment("web", call->deployment)->value().state, DeploymentState::Failed);

  const std::string other = "SHA256:" + std::string(43, 'Z');
  auto refused = apps.trustHostKey("web", {{"fingerprint", other}}, true);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message.find("field 'fingerprint'"), std::string::npos);
  EXPECT_EQ(apps.trustHostKey("web", {{"fingerprint", other}, {"force", true}}, false).error().code, "forbidden");
  EXPECT_EQ(apps.trustHostKey("web", {{"fingerprint", "SHA256:short"}, {"force", true}}, true).error().code,
            "invalid_argument");
  auto pinned = apps.trustHostKey("web", {{"fingerprint", kOffered}}, false);
  ASSERT_TRUE(pinned.ok()) << pinned.error().message;
  EXPECT_EQ((*pinned)["host_key"], kOffered);
  // A pinned key is not replaced by giving another "up front".
  EXPECT_EQ(apps.putSource("web", {{"host_key", other}}).error().code, "conflict");
  ASSERT_TRUE(apps.trustHostKey("web", {{"fingerprint", other}, {"force", true}}, true).ok());
  EXPECT_EQ((*apps.source("web"))["host_key"], other);
}

TEST_F(AppSourceTest, RollbackToABuiltDeploymentSendsItsImageAndCommit) {
  auto first = apps.deploy("web", gitSpec());
  ASSERT_TRUE(first.ok());
  finish(*first, true, {{"image", "web:cccccccccccc"}, {"build", {{"commit", kCommit}, {"image", "web:cccccccccccc"}}}});
  auto second = apps.deploy("web", gitSpec());
  ASSERT_TRUE(second.ok());
  finish(*second, true, {{"build", {{"commit", std::string(40, 'd')}, {"image", "web:dddddddddddd"}}}});
  auto back = apps.rollback("web", 0);
  ASSERT_TRUE(back.ok()) << back.error().message;
  const auto args = commandOf(*back).args;
  EXPECT_EQ(args["image"], "web:cccccccccccc");
  EXPECT_EQ(args["commit"], kCommit);
  EXPECT_TRUE(args["spec"].contains("source"));
  EXPECT_EQ(store->getDeployment("web", back->deployment)->value().source_commit, kCommit);
}

TEST_F(AppSourceTest, TheStoredPlanOverrideFillsADeployThatGivesNone) {
  EXPECT_NE(apps.putSource("web", {{"plan", {{"start", "npm start"}}}}).error().message.find("field 'plan.start'"),
            std::string::npos);
  ASSERT_TRUE(apps.putSource("web", {{"plan", {{"start", {"node", "main.js"}}}}}).ok());
  auto call = apps.deploy("web", gitSpec());
  ASSERT_TRUE(call.ok());
  EXPECT_EQ(commandOf(*call).args["spec"]["source"]["plan"]["start"], nlohmann::json({"node", "main.js"}));
  EXPECT_EQ((*apps.plan("web"))["override"]["start"], nlohmann::json({"node", "main.js"}));
}

class AppHookTest : public AppSourceTest {
 protected:
  void SetUp() override {
    AppSourceTest::SetUp();
    auto first = apps.deploy("web", gitSpec("main"));
    ASSERT_TRUE(first.ok());
    finish(*first, true, {{"build", {{"commit", kCommit}, {"image", "web:cccccccccccc"}}}});
    auto rotated = apps.rotateHookSecret("web");
    ASSERT_TRUE(rotated.ok());
    secret = (*rotated)["secret"];
  }

  std::string push(const std::string& branch, const std::string& commit) {
    return nlohmann::json{{"ref", "refs/heads/" + branch}, {"after", commit}}.dump();
  }
  std::map<std::string, std::string> github(const std::string& body, const std::string& delivery) {
    return {{"x-hub-signature-256", "sha256=" + hmacSha256Hex(secret, body)},
            {"x-github-event", "push"},
            {"x-github-delivery", delivery}};
  }
  Result<AppService::HookOutcome> hook(const std::string& key, const std::map<std::string, std::string>& headers,
                                       const std::string& body) {
    std::string org;
    return apps.pushHook(key, headers, body, org);
  }

  std::string secret;
};

TEST_F(AppHookTest, APushToTheTrackedBranchDeploysThatCommitOnce) {
  const std::string sha(40, 'e');
  const auto body = push("main", sha);
  auto outcome = hook("web", github(body, "delivery-1"), body);
  ASSERT_TRUE(outcome.ok()) << outcome.error().message;
  EXPECT_EQ(outcome->outcome, "deployed");
  ASSERT_TRUE(outcome->call);
  const auto args = commandOf(*outcome->call).args;
  EXPECT_EQ(args["commit"], sha);
  EXPECT_EQ(args["spec"]["source"]["ref"], "main");  // the ref stays the branch
  auto d = store->getDeployment("web", outcome->call->deployment)->value();
  EXPECT_EQ(d.source_commit, sha);
  EXPECT_EQ(d.source_ref, "main");

  auto again = hook("web", github(body, "delivery-1"), body);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->outcome, "duplicate");
  EXPECT_FALSE(again->call);
}

TEST_F(AppHookTest, OtherBranchesAreIgnored) {
  const auto body = push("feature", std::string(40, 'f'));
  auto outcome = hook("web", github(body, "d-2"), body);
  ASSERT_TRUE(outcome.ok());
  EXPECT_EQ(outcome->outcome, "ignored");
  EXPECT_NE(outcome->reason.find("feature"), std::string::npos);
}

TEST_F(AppHookTest, BadSignaturesAndUnknownAppsGetTheSameAnswer) {
  const auto body = push("main", std::string(40, 'e'));
  auto headers = github(body, "d-3");
  headers["x-hub-signature-256"] = "sha256=" + hmacSha256Hex("wrong", body);
  auto bad = hook("web", headers, body);
  auto unknown = hook("nope", github(body, "d-3"), body);
  auto hostile = hook("../web", github(body, "d-3"), body);
  auto unsigned_ = hook("web", {{"x-github-event", "push"}}, body);
  ASSERT_FALSE(bad.ok());
  ASSERT_FALSE(unknown.ok());
  ASSERT_FALSE(hostile.ok());
  ASSERT_FALSE(unsigned_.ok());
  for (const auto* r : {&unknown, &hostile, &unsigned_}) {
    EXPECT_EQ(r->error().code, bad.error().code);
    EXPECT_EQ(r->error().message, bad.error().message);
  }
  EXPECT_EQ(bad.error().code, "unauthorized");
  // The body signed under the old secret stops working once the secret rotates.
  ASSERT_TRUE(apps.rotateHookSecret("web").ok());
  EXPECT_FALSE(hook("web", github(body, "d-4"), body).ok());
}

TEST_F(AppHookTest, GitLabsTokenIsTheSecretItself) {
  const auto body = push("main", std::string(40, '1'));
  auto outcome = hook("web", {{"x-gitlab-token", secret}, {"x-gitlab-event", "Push Hook"}, {"x-gitlab-event-uuid", "u-1"}},
                      body);
  ASSERT_TRUE(outcome.ok()) << outcome.error().message;
  EXPECT_EQ(outcome->outcome, "deployed");
  EXPECT_FALSE(hook("web", {{"x-gitlab-token", secret + "x"}, {"x-gitlab-event", "Push Hook"}}, body).ok());
}

TEST_F(AppHookTest, AWebhookDeployGoesThroughTheOrgsAdmission) {
  // The org's deployments-per-hour quota counts webhook deploys like any other.
  store::OrgLimits limits;
  limits.org = "default";
  limits.quotas = {{"deployments_per_hour", 1}};
  ASSERT_TRUE(store->putOrgLimits(limits).ok());
  const auto body = push("main", std::string(40, '2'));
  auto outcome = hook("web", github(body, "d-5"), body);
  ASSERT_FALSE(outcome.ok());
  EXPECT_EQ(outcome.error().code, "quota_exceeded");
}

}  // namespace
}  // namespace berth::server
