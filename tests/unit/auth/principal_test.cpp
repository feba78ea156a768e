// Scopes, roles and principals: which scope a request effectively holds,
// which org a session acts in, who may issue which key.
#include "auth/principal.hpp"

#include <gtest/gtest.h>

namespace berth::auth {
namespace {

Principal member(OrgRole role, KeyScope credential, PlatformRole platform = PlatformRole::None) {
  Principal p;
  p.user_id = "u_1";
  p.org = "acme";
  p.org_role = role;
  p.platform_role = platform;
  p.credential_scope = credential;
  p.key_id = "key_1";
  return p;
}

TEST(Roles, ScopesNestAdminOverDeployOverRead) {
  EXPECT_TRUE(covers(KeyScope::Admin, KeyScope::Deploy));
  EXPECT_TRUE(covers(KeyScope::Deploy, KeyScope::Read));
  EXPECT_FALSE(covers(KeyScope::Read, KeyScope::Deploy));
  EXPECT_FALSE(covers(KeyScope::Deploy, KeyScope::Admin));
  EXPECT_EQ(parseScope("scope", "deploy").value(), KeyScope::Deploy);
  auto bad = parseScope("scope", "root");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("field 'scope'"), std::string::npos);
  EXPECT_FALSE(parseOrgRole("role", "Owner").ok());  // exact words only
  EXPECT_FALSE(parsePlatformRole("platform_role", "").ok());
}

TEST(Principal, TheRoleCapsTheKeysScope) {
  EXPECT_EQ(effectiveScope(member(OrgRole::Owner, KeyScope::Admin)), KeyScope::Admin);
  EXPECT_EQ(effectiveScope(member(OrgRole::Admin, KeyScope::Deploy)), KeyScope::Deploy);
  // A member's admin key (made while an admin, say) is worth deploy; a viewer's read.
  EXPECT_EQ(effectiveScope(member(OrgRole::Member, KeyScope::Admin)), KeyScope::Deploy);
  EXPECT_EQ(effectiveScope(member(OrgRole::Viewer, KeyScope::Admin)), KeyScope::Read);
  // A platform admin's role does not cap; staff without a membership reads.
  EXPECT_EQ(effectiveScope(member(OrgRole::Viewer, KeyScope::Admin, PlatformRole::Admin)), KeyScope::Admin);
  Principal staff = member(OrgRole::Viewer, KeyScope::Admin, PlatformRole::Staff);
  staff.org_role.reset();
  EXPECT_EQ(effectiveScope(staff), KeyScope::Read);
}

TEST(Principal, MembersCannotIssueKeysAboveTheirScope) {
  EXPECT_TRUE(mayIssueKey(member(OrgRole::Member, KeyScope::Admin), KeyScope::Deploy).ok());
  auto refused = mayIssueKey(member(OrgRole::Member, KeyScope::Admin), KeyScope::Admin);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, "forbidden");
  EXPECT_FALSE(mayIssueKey(member(OrgRole::Viewer, KeyScope::Admin), KeyScope::Deploy).ok());
  EXPECT_TRUE(mayIssueKey(member(OrgRole::Owner, KeyScope::Admin), KeyScope::Admin).ok());
  // A deploy key of an owner cannot mint an admin key either.
  EXPECT_FALSE(mayIssueKey(member(OrgRole::Owner, KeyScope::Deploy), KeyScope::Admin).ok());
}

TEST(Principal, ASessionActsInDefaultTheOnlyOrgOrTheOneNamed) {
  const std::map<std::string, OrgRole> one = {{"acme", OrgRole::Member}};
  EXPECT_EQ(chooseOrg(one, PlatformRole::None, "", false)->org, "acme");
  const std::map<std::string, OrgRole> two = {{"acme", OrgRole::Member}, {"default", OrgRole::Viewer}};
  EXPECT_EQ(chooseOrg(two, PlatformRole::None, "", false)->org, "default");
  EXPECT_EQ(*chooseOrg(two, PlatformRole::None, "acme", false)->role, OrgRole::Member);
  const std::map<std::string, OrgRole> several = {{"acme", OrgRole::Member}, {"beta", OrgRole::Viewer}};
  EXPECT_EQ(chooseOrg(several, PlatformRole::None, "", false).error().code, "invalid_argument");
}

TEST(Principal, AnotherOrgReadsAsMissingUnlessPlatformStaff) {
  const std::map<std::string, OrgRole> one = {{"acme", OrgRole::Owner}};
  auto refused = chooseOrg(one, PlatformRole::None, "beta", true);
  auto missing = chooseOrg(one, PlatformRole::None, "nope", false);
  ASSERT_FALSE(refused.ok());
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(refused.error().code, "not_found");
  EXPECT_EQ(missing.error().code, "not_found");
  auto staff = chooseOrg(one, PlatformRole::Staff, "beta", true);
  ASSERT_TRUE(staff.ok());
  EXPECT_FALSE(staff->role.has_value());
  EXPECT_FALSE(chooseOrg(one, PlatformRole::Admin, "nope", false).ok());
  EXPECT_EQ(chooseOrg({}, PlatformRole::None, "", false).error().code, "forbidden");
}

TEST(Principal, ActorNamesTheKeyOrTheSessionsUser) {
  auto p = member(OrgRole::Owner, KeyScope::Admin);
  EXPECT_EQ(p.actor(), "key:key_1");
  p.key_id.clear();
  p.session_id = "abc";
  p.user_name = "alice";
  EXPECT_EQ(p.actor(), "session:alice");
}

}  // namespace
}  // namespace berth::auth
