// Container policy: capabilities that give the host away need the org's
// allowance inside the server's ceiling; non-root means a numeric uid != 0.
#include "auth/container_policy.hpp"

#include <gtest/gtest.h>

namespace berth::auth {
namespace {

const std::vector<std::string> kCeiling = {"SYS_ADMIN", "SYS_PTRACE", "NET_ADMIN", "SYS_NICE", "BPF"};

TEST(ContainerPolicy, HostCapabilitiesAreRefusedWithoutTheOrgsAllowanceEvenInsideTheCeiling) {
  for (const char* cap : {"SYS_ADMIN", "SYS_PTRACE", "NET_ADMIN", "BPF"}) {
    auto refused = checkContainer("acme", {cap}, "", {}, kCeiling);
    ASSERT_FALSE(refused.ok()) << cap;
    EXPECT_EQ(refused.error().code, "policy_refused");
    EXPECT_NE(refused.error().message.find(cap), std::string::npos);
    EXPECT_NE(refused.error().message.find("org acme"), std::string::npos);
  }
  ContainerPolicy allowed;
  allowed.allowed_capabilities = {"SYS_PTRACE"};
  EXPECT_TRUE(checkContainer("acme", {"SYS_PTRACE"}, "", allowed, kCeiling).ok());
  EXPECT_FALSE(checkContainer("acme", {"SYS_PTRACE", "SYS_ADMIN"}, "", allowed, kCeiling).ok());
  // The ceiling still rules: an allowance the server no longer lists is refused as before orgs.
  auto outside = checkContainer("acme", {"SYS_PTRACE"}, "", allowed, {"NET_ADMIN"});
  ASSERT_FALSE(outside.ok());
  EXPECT_EQ(outside.error().code, "invalid_argument");
  EXPECT_NE(outside.error().message.find("allowed_capabilities"), std::string::npos);
  // Docker's defaults and harmless extras inside the ceiling need no allowance.
  EXPECT_TRUE(checkContainer("acme", {"NET_BIND_SERVICE", "CHOWN", "SYS_NICE"}, "", {}, kCeiling).ok());
  // Odd spellings never slip past the lists.
  EXPECT_FALSE(checkContainer("acme", {"CAP_SYS_ADMIN"}, "", allowed, kCeiling).ok());
  EXPECT_FALSE(checkContainer("acme", {"sys_admin"}, "", allowed, kCeiling).ok());
}

TEST(ContainerPolicy, EveryNamedDangerousCapabilityGivesTheHostAway) {
  for (const char* cap : {"SYS_ADMIN", "SYS_MODULE", "SYS_PTRACE", "SYS_RAWIO", "SYS_BOOT", "BPF", "PERFMON",
                          "MAC_ADMIN", "NET_ADMIN", "DAC_READ_SEARCH"})
    EXPECT_TRUE(givesHostAway(cap)) << cap;
  EXPECT_FALSE(givesHostAway("NET_BIND_SERVICE"));
}

TEST(ContainerPolicy, NonRootMeansANumericUidOtherThanZero) {
  ContainerPolicy p;
  p.require_non_root = true;
  for (const char* user : {"", "0", "0:0", "root", "nobody", "00", "1000x", ":1000", "1000:0", "1000:root", "1000:",
                           "4294967296", "4294967295", "1000:4294967295", "1000:1000:0"}) {
    auto r = checkContainer("acme", {}, user, p, {});
    ASSERT_FALSE(r.ok()) << user;
    EXPECT_EQ(r.error().code, "policy_refused");
    EXPECT_NE(r.error().message.find("'user'"), std::string::npos);
  }
  for (const char* user : {"1000", "1000:1000", "65534:65534", "4294967294"}) EXPECT_TRUE(checkContainer("acme", {}, user, p, {}).ok()) << user;
  p.require_non_root = false;
  EXPECT_TRUE(checkContainer("acme", {}, "", p, {}).ok());
}

TEST(ContainerPolicy, AnAllowanceMustBeAHostCapabilityInsideTheCeiling) {
  auto ok = mergeContainerPolicy({}, {{"allowed_capabilities", {"SYS_PTRACE", "SYS_PTRACE"}}, {"require_non_root", true}},
                                 kCeiling);
  ASSERT_TRUE(ok.ok()) << ok.error().message;
  EXPECT_EQ(ok->allowed_capabilities, std::vector<std::string>{"SYS_PTRACE"});
  EXPECT_TRUE(ok->require_non_root);
  auto outside = mergeContainerPolicy({}, {{"allowed_capabilities", {"SYS_MODULE"}}}, kCeiling);
  ASSERT_FALSE(outside.ok());
  EXPECT_NE(outside.error().message.find("SYS_MODULE"), std::string::npos);
  EXPECT_FALSE(mergeContainerPolicy({}, {{"allowed_capabilities", {"SYS_NICE"}}}, kCeiling).ok());
  EXPECT_FALSE(mergeContainerPolicy({}, {{"allowed_capabilities", {"CAP_SYS_ADMIN"}}}, kCeiling).ok());
  EXPECT_FALSE(mergeContainerPolicy({}, {{"allowed_capabilities", "SYS_ADMIN"}}, kCeiling).ok());
  EXPECT_FALSE(mergeContainerPolicy({}, {{"require_non_root", "yes"}}, kCeiling).ok());
  EXPECT_FALSE(mergeContainerPolicy({}, {{"privileged", true}}, kCeiling).ok());
  auto back = containerPolicyFromJson(containerPolicyJson(*ok));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->allowed_capabilities, ok->allowed_capabilities);
  EXPECT_TRUE(back->require_non_root);
}

}  // namespace
}  // namespace berth::auth
