#include "server/client_certificates.hpp"

#include <gtest/gtest.h>

namespace berth::server {
namespace {

TEST(ClientCertificates, PreviousSerialWorksOnlyUntilTheNewOneIsUsed) {
  ClientCertificates certs;
  certs.set("n_1", {"B", "A", false});  // just renewed from A to B
  auto old = certs.check("n_1", "A");
  EXPECT_TRUE(old.allowed);
  EXPECT_FALSE(old.retired_previous);
  auto fresh = certs.check("n_1", "B");
  EXPECT_TRUE(fresh.allowed);
  EXPECT_TRUE(fresh.retired_previous);
  auto again = certs.check("n_1", "A");
  EXPECT_FALSE(again.allowed);
  EXPECT_NE(again.reason.find("replaced by a renewal"), std::string::npos);
  EXPECT_FALSE(certs.check("n_1", "B").retired_previous);  // nothing left to retire
  EXPECT_EQ(certs.find("n_1")->previous, "");
}

TEST(ClientCertificates, RevokedAndStrangeSerialsAreRefusedUntrackedNodesPass) {
  ClientCertificates certs;
  certs.set("n_1", {"B", "", false});
  EXPECT_TRUE(certs.check("n_2", "B").allowed);
  certs.set("n_3", {"", "", false});
  EXPECT_TRUE(certs.check("n_3", "anything").allowed);
  EXPECT_FALSE(certs.check("n_1", "C").allowed);
  certs.revoke("n_1");
  auto revoked = certs.check("n_1", "B");
  EXPECT_FALSE(revoked.allowed);
  EXPECT_EQ(revoked.reason, "node is revoked");
}

}  // namespace
}  // namespace berth::server
