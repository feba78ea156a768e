#include "source/webhook.hpp"

#include <gtest/gtest.h>

namespace berth::source {
namespace {

const std::string kSha = "0123456789abcdef0123456789abcdef01234567";
const std::string kPush = R"({"ref":"refs/heads/main","before":"0000000000000000000000000000000000000000","after":")" +
                          kSha + R"(","repository":{"full_name":"acme/shop"}})";

HookHeaders github(const std::string& signature, const std::string& event = "push") {
  return {{"x-hub-signature-256", signature}, {"x-github-event", event}, {"x-github-delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958"}};
}

// The example GitHub's documentation gives for X-Hub-Signature-256 (checked with `openssl dgst -hmac`).
TEST(Webhook, GitHubSignaturesAreHmacSha256OfTheRawBody) {
  const std::string secret = "It's a Secret to Everybody";
  const std::string sig = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
  EXPECT_TRUE(verifyHook(HookProvider::GitHub, github(sig), "Hello, World!", secret).ok());
  EXPECT_FALSE(verifyHook(HookProvider::GitHub, github(sig), "Hello, World!!", secret).ok()) << "another body";
  EXPECT_FALSE(verifyHook(HookProvider::GitHub, github(sig), "Hello, World!", secret + "x").ok()) << "another secret";
  EXPECT_FALSE(verifyHook(HookProvider::GitHub, github(sig.substr(0, 70)), "Hello, World!", secret).ok()) << "truncated";
  EXPECT_FALSE(verifyHook(HookProvider::GitHub, github("sha1=" + sig.substr(7)), "Hello, World!", secret).ok());
  EXPECT_FALSE(verifyHook(HookProvider::GitHub, {}, "Hello, World!", secret).ok());
  EXPECT_EQ(verifyHook(HookProvider::GitHub, github(sig), "x", secret).error().code, "bad_signature");
}

TEST(Webhook, GitLabTokensAreComparedWholeAndAnEmptySecretNeverVerifies) {
  EXPECT_TRUE(verifyHook(HookProvider::GitLab, {{"x-gitlab-token", "s3cret"}}, "{}", "s3cret").ok());
  EXPECT_FALSE(verifyHook(HookProvider::GitLab, {{"x-gitlab-token", "s3cre"}}, "{}", "s3cret").ok());
  EXPECT_FALSE(verifyHook(HookProvider::GitLab, {{"x-gitlab-token", "s3cretX"}}, "{}", "s3cret").ok());
  EXPECT_FALSE(verifyHook(HookProvider::GitLab, {{"x-gitlab-token", ""}}, "{}", "").ok());
  EXPECT_FALSE(verifyHook(HookProvider::GitHub, github("sha256=" + std::string(64, '0')), "", "").ok());
}

TEST(Webhook, TheProviderIsWhicheverSchemeTheRequestCarries) {
  EXPECT_EQ(*hookProvider({{"x-hub-signature-256", "x"}}), HookProvider::GitHub);
  EXPECT_EQ(*hookProvider({{"x-gitlab-token", "x"}}), HookProvider::GitLab);
  EXPECT_EQ(hookProvider({{"x-hub-signature", "sha1=x"}}).error().code, "unsigned") << "sha1 signatures are not taken";
}

TEST(Webhook, APushToTheTrackedBranchDeploysItsCommitAndOthersAreAcknowledged) {
  auto push = parsePushEvent(HookProvider::GitHub, github("s"), kPush);
  ASSERT_TRUE(push.ok()) << push.error().message;
  EXPECT_EQ(push->delivery_id, "72d3162e-cc78-11e3-81ab-4c9367dc0958");
  EXPECT_EQ(push->branch, "main");
  auto deploy = decideOnPush(*push, "main");
  EXPECT_TRUE(deploy.deploy);
  EXPECT_EQ(deploy.commit, kSha);

  auto other = decideOnPush(*push, "release");
  EXPECT_FALSE(other.deploy);
  EXPECT_NE(other.reason.find("not the tracked branch release"), std::string::npos) << other.reason;

  auto ping = parsePushEvent(HookProvider::GitHub, github("s", "ping"), R"({"zen":"hi"})");
  ASSERT_TRUE(ping.ok());
  EXPECT_FALSE(decideOnPush(*ping, "main").deploy);

  std::string tagBody = kPush;
  tagBody.replace(tagBody.find("refs/heads/main"), 15, "refs/tags/v1");
  auto tag = parsePushEvent(HookProvider::GitHub, github("s"), tagBody);
  ASSERT_TRUE(tag.ok());
  EXPECT_FALSE(decideOnPush(*tag, "main").deploy);

  std::string deletedBody = kPush;
  deletedBody.replace(deletedBody.find(kSha), 40, std::string(40, '0'));
  auto deleted = parsePushEvent(HookProvider::GitHub, github("s"), deletedBody);
  ASSERT_TRUE(deleted.ok());
  EXPECT_FALSE(decideOnPush(*deleted, "main").deploy);
}

TEST(Webhook, GitLabPushesAreReadAndWithoutADeliveryIdTheBodyIdentifiesTheDelivery) {
  const std::string body = R"({"object_kind":"push","ref":"refs/heads/main","after":")" + kSha + R"("})";
  auto push = parsePushEvent(HookProvider::GitLab, {{"x-gitlab-event", "Push Hook"}}, body);
  ASSERT_TRUE(push.ok()) << push.error().message;
  EXPECT_EQ(push->delivery_id.rfind("body:", 0), 0u);
  EXPECT_EQ(push->delivery_id, parsePushEvent(HookProvider::GitLab, {}, body)->delivery_id) << "a redelivery";
  EXPECT_TRUE(decideOnPush(*push, "main").deploy);
}

TEST(Webhook, MalformedEventsAreRefusedNamingTheField) {
  const auto h = github("s");
  EXPECT_NE(parsePushEvent(HookProvider::GitHub, h, "not json").error().message.find("'body'"), std::string::npos);
  EXPECT_NE(parsePushEvent(HookProvider::GitHub, h, "[]").error().message.find("'body'"), std::string::npos);
  EXPECT_NE(parsePushEvent(HookProvider::GitHub, h, R"({"after":")" + kSha + R"("})").error().message.find("'ref'"),
            std::string::npos);
  EXPECT_NE(parsePushEvent(HookProvider::GitHub, h, R"x({"ref":"refs/heads/$(id)","after":")x" + kSha + R"("})")
                .error()
                .message.find("'ref'"),
            std::string::npos);
  EXPECT_NE(parsePushEvent(HookProvider::GitHub, h, R"({"ref":"refs/heads/main","after":"abc"})").error().message.find("'after'"),
            std::string::npos);
  EXPECT_NE(parsePushEvent(HookProvider::GitHub, h, R"({"ref":"refs/heads/main","after":"--upload-pack=x"})")
                .error()
                .message.find("'after'"),
            std::string::npos);
  auto badId = github("s");
  badId["x-github-delivery"] = "id\r\nX-Injected: 1";
  EXPECT_FALSE(parsePushEvent(HookProvider::GitHub, badId, kPush).ok());
  std::string deep(10000, '[');
  EXPECT_FALSE(parsePushEvent(HookProvider::GitHub, h, deep).ok()) << "depth is bounded";
}

PushEvent pushAt(const std::string& commit, std::int64_t pushed_at) {
  PushEvent e;
  e.is_push = true;
  e.ref = "refs/heads/main";
  e.branch = "main";
  e.commit = commit;
  e.pushed_at = pushed_at;
  return e;
}

TEST(Webhook, GitHubsPushTimeIsReadOnlyAsSecondsInRange) {
  auto withTime = [](const std::string& value) {
    const std::string body = R"({"ref":"refs/heads/main","after":")" + kSha + R"(","repository":{"pushed_at":)" + value + "}}";
    auto e = parsePushEvent(HookProvider::GitHub, github("s"), body);
    EXPECT_TRUE(e.ok()) << value;
    return e ? e->pushed_at : -1;
  };
  EXPECT_EQ(withTime("1700000000"), 1700000000);
  EXPECT_EQ(withTime("\"2023-11-14T22:13:20Z\""), 0) << "other events' ISO strings are no push time";
  EXPECT_EQ(withTime("-5"), 0);
  EXPECT_EQ(withTime("1.5e9"), 0);
  EXPECT_EQ(withTime("99999999999999999"), 0);
  EXPECT_EQ(withTime("null"), 0);
  EXPECT_EQ(parsePushEvent(HookProvider::GitHub, github("s"), kPush)->pushed_at, 0);
}

TEST(Webhook, APushNotNewerThanWhatTheAppHasIsNotDeployed) {
  const std::int64_t now = 1'800'000'000;
  const std::string older(40, 'a'), newer(40, 'b');
  // Nothing known: deployed.
  EXPECT_TRUE(decideOnHistory(pushAt(newer, now), {}, now).deploy);
  EXPECT_TRUE(decideOnHistory(pushAt(newer, 0), {}, now).deploy);
  // The commit the app runs: not again, whatever its time.
  auto running = decideOnHistory(pushAt(newer, now), {newer, true, now - 10}, now);
  EXPECT_FALSE(running.deploy);
  EXPECT_NE(running.reason.find("already runs"), std::string::npos) << running.reason;
  // A replayed old delivery (days later): older than the newest push deployed.
  auto stale = decideOnHistory(pushAt(older, now - 3 * 86400), {newer, false, now - 86400}, now);
  EXPECT_FALSE(stale.deploy);
  EXPECT_NE(stale.reason.find("older than the last one deployed"), std::string::npos) << stale.reason;
  // GitLab (no push time): a commit an earlier push deployed is not deployed by a push again.
  auto seen = decideOnHistory(pushAt(older, 0), {newer, true, 0}, now);
  EXPECT_FALSE(seen.deploy);
  EXPECT_NE(seen.reason.find("deployed by an earlier push"), std::string::npos) << seen.reason;
  // Same push time and a commit already deployed: the same push, replayed.
  EXPECT_FALSE(decideOnHistory(pushAt(older, now - 50), {newer, true, now - 50}, now).deploy);
  // A newer push of a commit deployed before (the branch moved back on purpose): deployed.
  EXPECT_TRUE(decideOnHistory(pushAt(older, now), {newer, true, now - 50}, now).deploy);
  // A new commit with a newer or no push time: deployed.
  EXPECT_TRUE(decideOnHistory(pushAt(older, now - 10), {newer, false, now - 50}, now).deploy);
  EXPECT_TRUE(decideOnHistory(pushAt(older, 0), {newer, false, now - 50}, now).deploy);
  // A push time far ahead of the server's clock is not believed: not a floor, not a pass.
  EXPECT_EQ(trustedPushTime(pushAt(older, now + 2 * 86400), now), 0);
  EXPECT_EQ(trustedPushTime(pushAt(older, now + 3600), now), now + 3600);
  EXPECT_FALSE(decideOnHistory(pushAt(older, now + 2 * 86400), {newer, true, now - 50}, now).deploy);
}

}  // namespace
}  // namespace berth::source
