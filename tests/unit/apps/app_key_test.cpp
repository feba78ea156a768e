// App keys: the default org keeps bare names; others carry the org, so
// everything derived from a key (containers, volumes, hostnames) differs.
#include "apps/app_key.hpp"

#include <gtest/gtest.h>

#include "apps/domains.hpp"

namespace berth::apps {
namespace {

TEST(AppKey, DefaultOrgKeepsTodaysNamesOthersCarryTheOrg) {
  EXPECT_EQ(appKey("default", "web"), "web");
  EXPECT_EQ(appKey("", "web"), "web");
  EXPECT_EQ(appKey("acme", "web"), "web.acme");
  EXPECT_NE(appKey("acme", "web"), appKey("beta", "web"));
  EXPECT_EQ(splitAppKey("web.acme").org, "acme");
  EXPECT_EQ(splitAppKey("web.acme").name, "web");
  EXPECT_EQ(splitAppKey("web").org, "default");
  // The generated hostname: <app>.<base_domain> in default, <app>.<org>.<base_domain> elsewhere.
  EXPECT_EQ(generatedDomain(appKey("default", "web"), "apps.example.com"), "web.apps.example.com");
  EXPECT_EQ(generatedDomain(appKey("acme", "web"), "apps.example.com"), "web.acme.apps.example.com");
}

TEST(AppKey, OnlyNameOrNameDotOrgIsAKey) {
  EXPECT_TRUE(validateAppKey("app", "web").ok());
  EXPECT_TRUE(validateAppKey("app", "web.acme").ok());
  for (const char* bad : {"", "web.", ".acme", "web.acme.x", "web.default", "web.ACME", "web/../x", "web.-a",
                          "web..acme", "web.ac me"})
    EXPECT_FALSE(validateAppKey("app", bad).ok()) << bad;
}

}  // namespace
}  // namespace berth::apps
