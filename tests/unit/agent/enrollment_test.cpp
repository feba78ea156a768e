#include "agent/enrollment.hpp"

#include <gtest/gtest.h>

#include "pki/authority.hpp"
#include "pki/keys.hpp"

namespace berth::agent {
namespace {

constexpr std::int64_t kNow = 1'700'000'000'000;  // 2023-11-14T22:13:20Z
constexpr std::int64_t kDay = 86'400'000;

TEST(AgentEnrollment, AnExpiredCertificateIsReportedWithTheRejoinCommand) {
  auto ca = pki::CertificateAuthority::createNew("ca", kNow - 10 * kDay, 100 * kDay);
  AgentState state;
  state.node_id = "n_7";
  state.cert_pem = ca.signAgentCsr(*pki::makeCsr(pki::generatePrivateKeyPem(), "n_7"), "n_7", kNow, kDay)->cert_pem;
  EXPECT_FALSE(expiredCertificateMessage(state, kNow + kDay - 1000).has_value());
  auto message = expiredCertificateMessage(state, kNow + kDay);
  ASSERT_TRUE(message.has_value());
  EXPECT_NE(message->find("certificate expired at 2023-11-15T22:13:20Z"), std::string::npos) << *message;
  EXPECT_NE(message->find("berth token create --node n_7"), std::string::npos) << *message;
}

}  // namespace
}  // namespace berth::agent
