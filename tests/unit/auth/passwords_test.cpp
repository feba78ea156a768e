// Argon2id password hashes and the password and name rules.
#include "auth/passwords.hpp"

#include <gtest/gtest.h>

#include "auth/names.hpp"

namespace berth::auth {
namespace {

TEST(Passwords, HashVerifiesItsPasswordOnlyAndIsArgon2id) {
  auto hash = hashPassword("correct horse battery");
  ASSERT_TRUE(hash.ok());
  EXPECT_EQ(hash->rfind("$argon2id$", 0), 0u);
  EXPECT_EQ(hash->find("correct horse"), std::string::npos);
  EXPECT_TRUE(verifyPassword("correct horse battery", *hash));
  EXPECT_FALSE(verifyPassword("correct horse batterY", *hash));
  EXPECT_FALSE(verifyPassword("", *hash));
  // No password set: nothing logs in, not even the empty password.
  EXPECT_FALSE(verifyPassword("", ""));
  EXPECT_FALSE(verifyPassword("anything at all", "not a hash"));
  EXPECT_NE(*hashPassword("correct horse battery"), *hash);  // salted
}

TEST(Passwords, LengthRuleNamesTheField) {
  EXPECT_TRUE(validatePassword("password", std::string(12, 'x')).ok());
  auto shortOne = validatePassword("password", "short");
  ASSERT_FALSE(shortOne.ok());
  EXPECT_NE(shortOne.error().message.find("field 'password'"), std::string::npos);
  EXPECT_FALSE(validatePassword("password", std::string(1025, 'x')).ok());
}

TEST(Names, OrgNamesAreRfc1123LabelsAndUserNamesAreTame) {
  EXPECT_TRUE(validateOrgName("name", "acme-2").ok());
  for (const char* bad : {"", "-acme", "acme-", "Acme", "ac.me", "ac_me", "../x", "a b"})
    EXPECT_FALSE(validateOrgName("name", bad).ok()) << bad;
  EXPECT_FALSE(validateOrgName("name", std::string(64, 'a')).ok());
  EXPECT_TRUE(validateUserName("name", "alice.smith_2").ok());
  for (const char* bad : {"", ".alice", "Alice", "al ice", "al/ice", "al\nice"})
    EXPECT_FALSE(validateUserName("name", bad).ok()) << bad;
}

}  // namespace
}  // namespace berth::auth
