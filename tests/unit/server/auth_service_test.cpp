// AuthService against a real SQLite store and a hand-driven clock: the
// bootstrap runs once, keys stop when revoked, expired or rotated (at once or
// after the overlap), roles cap what keys can be made, invitations never
// reset an existing account's password.
#include "server/auth_service.hpp"

#include <gtest/gtest.h>

#include "../temp_dir.hpp"

namespace berth::server {
namespace {

class AuthServiceTest : public ::testing::Test {
 protected:
  berth::testing::TempDir dir;
  std::unique_ptr<store::Store> store;
  std::int64_t now = 1'000'000;
  std::unique_ptr<AuthService> auth;
  std::string ownerKey;
  std::string ownerSession;

  void SetUp() override {
    auto opened = store::openSqliteStore(dir.path() + "/berth.db");
    ASSERT_TRUE(opened.ok());
    store = std::move(*opened);
    auth = std::make_unique<AuthService>(*store, [this] { return now; });
    auto boot = auth->bootstrap();
    ASSERT_TRUE(boot.ok() && boot->has_value());
    ownerKey = (*boot)->key;
    // The owner sets a password and logs in: a session may act in any of its orgs.
    ASSERT_TRUE(auth->setPassword(*auth->authenticate(ownerKey, ""), {{"password", "owner password!"}}).ok());
    std::string id;
    auto session = auth->login({{"name", "owner"}, {"password", "owner password!"}}, id);
    ASSERT_TRUE(session.ok());
    ownerSession = (*session)["token"];
  }

  auth::Principal as(const std::string& bearer, const std::string& org = "") {
    auto p = auth->authenticate(bearer, org);
    EXPECT_TRUE(p.ok()) << (p.ok() ? "" : p.error().message);
    return p.ok() ? *p : auth::Principal{};
  }

  std::string errorOf(const std::string& bearer, const std::string& org = "") {
    auto p = auth->authenticate(bearer, org);
    return p.ok() ? "ok" : p.error().code;
  }

  // A user `name` with `role` in `org` (made by the owner), logged in: their session token.
  std::string userIn(const std::string& org, const std::string& name, const std::string& role) {
    auto owner = as(ownerSession, org);
    auto invited = auth->invite(owner, {{"name", name}, {"role", role}});
    EXPECT_TRUE(invited.ok()) << (invited.ok() ? "" : invited.error().message);
    auto accepted = auth->acceptInvite({{"token", (*invited)["token"]}, {"password", name + " password!"}});
    EXPECT_TRUE(accepted.ok()) << (accepted.ok() ? "" : accepted.error().message);
    std::string id;
    auto session = auth->login({{"name", name}, {"password", name + " password!"}}, id);
    EXPECT_TRUE(session.ok());
    return session.ok() ? (*session)["token"].get<std::string>() : "";
  }

  std::string keyFor(const auth::Principal& p, const std::string& scope, const std::string& expires = "") {
    nlohmann::json body = {{"scope", scope}};
    if (!expires.empty()) body["expires_in"] = expires;
    auto key = auth->createKey(p, body);
    EXPECT_TRUE(key.ok()) << (key.ok() ? "" : key.error().message);
    return key.ok() ? (*key)["key"].get<std::string>() : "";
  }
};

TEST_F(AuthServiceTest, BootstrapMakesOneOwnerAndCannotBeReplayed) {
  auto owner = as(ownerKey);
  EXPECT_EQ(owner.org, "default");
  EXPECT_EQ(owner.org_role, auth::OrgRole::Owner);
  EXPECT_TRUE(owner.platformAdmin());
  EXPECT_EQ(auth::effectiveScope(owner), auth::KeyScope::Admin);
  auto again = auth->bootstrap();
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->has_value());
  // Erasing the markers does not reopen it while an owner exists...
  ASSERT_TRUE(store->putSetting("bootstrap_closed", "").ok());
  auto& ids = store->identity();
  ASSERT_EQ(ids.countOwners().value(), 1);
  // ...and nor does losing every owner once it ran.
  ASSERT_TRUE(ids.deleteMembership(owner.user_id, "default").ok());
  auto replay = auth->bootstrap();
  ASSERT_TRUE(replay.ok());
  EXPECT_FALSE(replay->has_value());
}

TEST_F(AuthServiceTest, BearersThatAreNotCredentialsAreUnauthorized) {
  EXPECT_EQ(errorOf(""), "unauthorized");
  EXPECT_EQ(errorOf("nonsense"), "unauthorized");
  EXPECT_EQ(errorOf(std::string(100000, 'x')), "unauthorized");
  std::string wrongSecret = ownerKey;
  wrongSecret.back() = wrongSecret.back() == 'a' ? 'b' : 'a';
  EXPECT_EQ(errorOf(wrongSecret), "unauthorized");
  // The right prefix with another key's secret is not enough.
  auto owner = as(ownerKey);
  const std::string other = keyFor(owner, "read");
  EXPECT_EQ(errorOf(ownerKey.substr(0, 16) + other.substr(16)), "unauthorized");
  // An owner key acts in its own org only.
  EXPECT_EQ(errorOf(ownerKey, "acme"), "forbidden");
}

TEST_F(AuthServiceTest, RevokedAndExpiredKeysStopAtOnce) {
  auto owner = as(ownerKey);
  const std::string revoked = keyFor(owner, "deploy");
  const std::string expiring = keyFor(owner, "deploy", "1h");
  auto list = auth->listKeys(owner);
  ASSERT_TRUE(list.ok());
  std::string revokedId;
  for (const auto& k : (*list)["keys"])
    if (k["prefix"] == revoked.substr(3, 12)) revokedId = k["id"];
  ASSERT_FALSE(revokedId.empty());
  EXPECT_EQ(errorOf(revoked), "ok");  // known (and remembered) before it is revoked
  ASSERT_TRUE(auth->revokeKey(owner, revokedId).ok());
  EXPECT_EQ(errorOf(revoked), "unauthorized");
  EXPECT_EQ(errorOf(expiring), "ok");
  now += 3'600'000 - 1;
  EXPECT_EQ(errorOf(expiring), "ok");
  now += 1;
  EXPECT_EQ(errorOf(expiring), "unauthorized");
}

TEST_F(AuthServiceTest, RotationKeepsTheOldKeyOnlyForTheOverlap) {
  auto owner = as(ownerKey);
  const std::string old = keyFor(owner, "deploy");
  const std::string oldId = as(old).key_id;
  auto rotated = auth->rotateKey(owner, oldId, {{"overlap", "1h"}});
  ASSERT_TRUE(rotated.ok()) << rotated.error().message;
  const std::string next = (*rotated)["key"];
  EXPECT_EQ((*rotated)["scope"], "deploy");
  EXPECT_EQ(errorOf(old), "ok");
  EXPECT_EQ(errorOf(next), "ok");
  now += 3'600'000 - 1;
  EXPECT_EQ(errorOf(old), "ok");
  now += 1;
  EXPECT_EQ(errorOf(old), "unauthorized");
  EXPECT_EQ(errorOf(next), "ok");
  // Without an overlap the old key fails at once; a rotating key is not rotated again.
  auto once = auth->rotateKey(owner, as(next).key_id, nlohmann::json::object());
  ASSERT_TRUE(once.ok());
  EXPECT_EQ(errorOf(next), "unauthorized");
  EXPECT_EQ(auth->rotateKey(owner, oldId, nlohmann::json::object()).error().code, "conflict");
  EXPECT_EQ(auth->rotateKey(owner, oldId, {{"overlap", "31d"}}).error().code, "conflict");
}

TEST_F(AuthServiceTest, MembersAndViewersCannotMakeKeysAboveTheirRole) {
  auto owner = as(ownerKey);
  ASSERT_TRUE(auth->createOrg(owner, {{"name", "acme"}}).ok());
  auto member = as(userIn("acme", "mia", "member"));
  EXPECT_EQ(member.org, "acme");
  EXPECT_EQ(auth::effectiveScope(member), auth::KeyScope::Deploy);
  EXPECT_EQ(auth->createKey(member, {{"scope", "admin"}}).error().code, "forbidden");
  const std::string deployKey = keyFor(member, "deploy");
  EXPECT_EQ(as(deployKey).org, "acme");
  auto viewer = as(userIn("acme", "vic", "viewer"));
  EXPECT_EQ(auth::effectiveScope(viewer), auth::KeyScope::Read);
  EXPECT_EQ(auth->createKey(viewer, {{"scope", "deploy"}}).error().code, "forbidden");
  // A member sees only their own keys and cannot revoke another's; an admin of another org finds nothing.
  auto mine = auth->listKeys(member);
  ASSERT_TRUE(mine.ok());
  ASSERT_EQ((*mine)["keys"].size(), 1u);
  const std::string ownerKeyId = as(ownerKey).key_id;
  auto foreign = auth->revokeKey(member, ownerKeyId);
  auto missing = auth->revokeKey(member, "key_does_not_exist");
  ASSERT_FALSE(foreign.ok());
  EXPECT_EQ(foreign.error().code, "not_found");
  EXPECT_EQ(foreign.error().message.find(ownerKeyId) == std::string::npos,
            missing.error().message.find("key_does_not_exist") == std::string::npos);
  EXPECT_EQ(errorOf(ownerKey), "ok");
  // Only an owner invites owners.
  auto admin = as(userIn("acme", "ada", "admin"));
  EXPECT_EQ(auth->invite(admin, {{"name", "eve"}, {"role", "owner"}}).error().code, "forbidden");
}

TEST_F(AuthServiceTest, AnInvitationIsUsedOnceAndNeverResetsAPassword) {
  auto owner = as(ownerKey);
  ASSERT_TRUE(auth->createOrg(owner, {{"name", "acme"}}).ok());
  ASSERT_TRUE(auth->createOrg(owner, {{"name", "beta"}}).ok());
  userIn("acme", "alice", "member");
  // Whoever may invite into another org invites "alice" (who exists) and tries to take the account over.
  auto invited = auth->invite(owner, {{"name", "alice"}, {"role", "viewer"}});
  ASSERT_TRUE(invited.ok());
  auto takeover = auth->acceptInvite({{"token", (*invited)["token"]}, {"password", "attacker password"}});
  ASSERT_FALSE(takeover.ok());
  EXPECT_EQ(takeover.error().code, "unauthorized");
  std::string id;
  EXPECT_TRUE(auth->login({{"name", "alice"}, {"password", "alice password!"}}, id).ok());
  EXPECT_FALSE(auth->login({{"name", "alice"}, {"password", "attacker password"}}, id).ok());
  // Alice herself accepts with her own password, once.
  ASSERT_TRUE(auth->acceptInvite({{"token", (*invited)["token"]}, {"password", "alice password!"}}).ok());
  EXPECT_EQ(auth->acceptInvite({{"token", (*invited)["token"]}, {"password", "alice password!"}}).error().code,
            "unauthorized");
  // Expired invitations are refused.
  auto late = auth->invite(owner, {{"name", "bob"}, {"expires_in", "1h"}});
  ASSERT_TRUE(late.ok());
  now += 3'600'000;
  EXPECT_EQ(auth->acceptInvite({{"token", (*late)["token"]}, {"password", "bob password!!"}}).error().code,
            "unauthorized");
}

TEST_F(AuthServiceTest, LoginAnswersAlikeForUnknownUsersAndWrongPasswordsAndSessionsExpire) {
  userIn("default", "carol", "viewer");
  std::string unknownId, knownId;
  auto unknown = auth->login({{"name", "nobody"}, {"password", "whatever pass"}}, unknownId);
  auto wrong = auth->login({{"name", "carol"}, {"password", "whatever pass"}}, knownId);
  ASSERT_FALSE(unknown.ok());
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(unknown.error().message, wrong.error().message);
  EXPECT_TRUE(unknownId.empty());
  EXPECT_FALSE(knownId.empty());
  // The owner made by the bootstrap has no password: it cannot log in with any.
  EXPECT_FALSE(auth->login({{"name", "owner"}, {"password", ""}}, knownId).ok());
  std::string id;
  auto session = auth->login({{"name", "carol"}, {"password", "carol password!"}}, id);
  ASSERT_TRUE(session.ok());
  const std::string token = (*session)["token"];
  EXPECT_EQ(errorOf(token), "ok");
  now += kSessionTtlMs;
  EXPECT_EQ(errorOf(token), "unauthorized");
}

TEST_F(AuthServiceTest, RemovingAUserRevokesTheirKeysInThatOrg) {
  auto owner = as(ownerKey);
  auto dave = as(userIn("default", "dave", "member"));
  const std::string key = keyFor(dave, "deploy");
  EXPECT_EQ(errorOf(key), "ok");
  ASSERT_TRUE(auth->removeUser(owner, "dave").ok());
  EXPECT_EQ(errorOf(key), "unauthorized");
  EXPECT_EQ(auth->removeUser(owner, "dave").error().code, "not_found");
  // The last owner stays.
  EXPECT_EQ(auth->removeUser(owner, "owner").error().code, "conflict");
}

TEST_F(AuthServiceTest, AnAdminCannotRotateAnotherUsersKeyIntoTheirOwnHands) {
  // The bootstrap owner is a platform admin; an org admin of default may see its key in the list.
  const std::string ownerKeyId = as(ownerKey).key_id;
  auto admin = as(userIn("default", "ann", "admin"));
  auto rotated = auth->rotateKey(admin, ownerKeyId, {{"overlap", "1h"}});
  ASSERT_FALSE(rotated.ok()) << "an org admin got a key acting as the owner: " << rotated->dump();
  EXPECT_EQ(rotated.error().code, "forbidden");
  EXPECT_EQ(errorOf(ownerKey), "ok");  // nothing changed: not rotating, not revoked
  auto listed = auth->listKeys(admin);
  ASSERT_TRUE(listed.ok());
  EXPECT_EQ(listed->at("keys").size(), 1u);
  // A member's key too: the admin may revoke it, never hold it.
  auto member = as(userIn("default", "max", "member"));
  const std::string memberKey = keyFor(member, "deploy");
  EXPECT_EQ(auth->rotateKey(admin, as(memberKey).key_id, nlohmann::json::object()).error().code, "forbidden");
  EXPECT_EQ(errorOf(memberKey), "ok");
  EXPECT_TRUE(auth->revokeKey(admin, as(memberKey).key_id).ok());
  EXPECT_EQ(errorOf(memberKey), "unauthorized");
  // Its own user still rotates it.
  EXPECT_TRUE(auth->rotateKey(as(ownerKey), ownerKeyId, nlohmann::json::object()).ok());
}

TEST_F(AuthServiceTest, ChangingAPasswordEndsTheUsersOtherSessions) {
  userIn("default", "erin", "member");
  std::string id;
  auto first = auth->login({{"name", "erin"}, {"password", "erin password!"}}, id);
  auto stolen = auth->login({{"name", "erin"}, {"password", "erin password!"}}, id);
  ASSERT_TRUE(first.ok() && stolen.ok());
  const std::string mine = (*first)["token"], theirs = (*stolen)["token"];
  EXPECT_EQ(errorOf(theirs), "ok");  // remembered before the change
  ASSERT_TRUE(auth->setPassword(as(mine), {{"password", "erin new password"}, {"current_password", "erin password!"}}).ok());
  EXPECT_EQ(errorOf(theirs), "unauthorized");
  EXPECT_EQ(errorOf(mine), "ok");  // the session that changed it goes on
  // Another user's sessions are untouched.
  EXPECT_EQ(errorOf(ownerSession), "ok");
}

TEST_F(AuthServiceTest, AnInvitationNeverLowersARoleSoTheLastOwnerStays) {
  auto owner = as(ownerKey);
  ASSERT_TRUE(auth->createOrg(owner, {{"name", "acme"}}).ok());
  auto boss = as(userIn("acme", "boss", "owner"));
  ASSERT_TRUE(auth->removeUser(boss, "owner").ok());  // boss is acme's last owner now
  auto admin = as(userIn("acme", "adam", "admin"));
  // The admin invites the owner as a viewer; the owner accepts with their own password.
  auto invited = auth->invite(admin, {{"name", "boss"}, {"role", "viewer"}});
  ASSERT_TRUE(invited.ok());
  auto accepted = auth->acceptInvite({{"token", (*invited)["token"]}, {"password", "boss password!"}});
  ASSERT_FALSE(accepted.ok()) << "acme's last owner became " << accepted->dump();
  EXPECT_EQ(accepted.error().code, "conflict");
  auto users = auth->listUsers(boss);
  ASSERT_TRUE(users.ok());
  bool ownerLeft = false;
  for (const auto& u : (*users)["users"]) ownerLeft = ownerLeft || (u["name"] == "boss" && u["role"] == "owner");
  EXPECT_TRUE(ownerLeft) << users->dump();
  // Raising a role still works.
  auto raise = auth->invite(boss, {{"name", "adam"}, {"role", "owner"}});
  ASSERT_TRUE(raise.ok());
  EXPECT_TRUE(auth->acceptInvite({{"token", (*raise)["token"]}, {"password", "adam password!"}}).ok());
}

TEST_F(AuthServiceTest, AWeakerKeyOfAPasswordlessOwnerCannotSetItsFirstPassword) {
  // A fresh berth: the bootstrap owner has no password and hands out a read key (monitoring).
  auto opened = store::openSqliteStore(dir.path() + "/fresh.db");
  ASSERT_TRUE(opened.ok());
  AuthService fresh(**opened, [this] { return now; });
  auto boot = fresh.bootstrap();
  ASSERT_TRUE(boot.ok() && boot->has_value());
  auto owner = fresh.authenticate((*boot)->key, "");
  ASSERT_TRUE(owner.ok());
  for (const char* scope : {"read", "deploy"}) {
    auto weak = fresh.createKey(*owner, {{"scope", scope}});
    ASSERT_TRUE(weak.ok());
    auto holder = fresh.authenticate((*weak)["key"].get<std::string>(), "");
    ASSERT_TRUE(holder.ok());
    auto set = fresh.setPassword(*holder, {{"password", "taken over password"}});
    ASSERT_FALSE(set.ok()) << "a " << scope << " key set the owner's first password";
    EXPECT_EQ(set.error().code, "forbidden");
    std::string id;
    EXPECT_FALSE(fresh.login({{"name", "owner"}, {"password", "taken over password"}}, id).ok());
  }
  // The admin key does, as the bootstrap intends.
  EXPECT_TRUE(fresh.setPassword(*owner, {{"password", "owner password!"}}).ok());
}

}  // namespace
}  // namespace berth::server
