#include "proxy/dns/dns_message.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace berth::proxy::dns {
namespace {

using Bytes = std::vector<std::uint8_t>;

// id 0x1234, RD set, one question: chat.berth.internal, type A, class IN.
const Bytes kChatA = {0x12, 0x34, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
                      4, 'C', 'h', 'a', 't', 5, 'b', 'e', 'r', 't', 'h', 8, 'i', 'n', 't', 'e', 'r', 'n', 'a', 'l', 0,
                      0x00, 0x01, 0x00, 0x01};

Bytes withType(Bytes packet, std::uint8_t type) {
  packet[packet.size() - 3] = type;
  return packet;
}

Bytes withName(const std::vector<std::string>& labels, std::uint8_t type = kTypeA) {
  Bytes p = {0xab, 0xcd, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};
  for (const auto& l : labels) {
    p.push_back(static_cast<std::uint8_t>(l.size()));
    p.insert(p.end(), l.begin(), l.end());
  }
  p.insert(p.end(), {0, 0, type, 0, 1});
  return p;
}

const Records kRecords = {{"chat.berth.internal", {"172.18.0.5", "172.18.0.6"}},
                          {"v6.berth.internal", {"fd00::5"}}};

TEST(DnsMessage, ParsesOneQuestionLowerCased) {
  auto q = parseQuery(kChatA);
  ASSERT_TRUE(q.ok()) << q.error().message;
  EXPECT_EQ(q->id, 0x1234);
  EXPECT_TRUE(q->recursion_desired);
  EXPECT_EQ(q->name, "chat.berth.internal");
  EXPECT_EQ(q->type, kTypeA);
  EXPECT_EQ(q->klass, kClassIn);
  EXPECT_EQ(q->question_end, kChatA.size());
}

TEST(DnsMessage, AnswersAHeldNameWithItsARecordsAuthoritatively) {
  const Bytes answer = answerQuery(kChatA, kRecords, "berth.internal");
  const Bytes header = {0x12, 0x34, 0x85, 0x00, 0x00, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00};
  ASSERT_EQ(answer.size(), kChatA.size() + 2 * 16);
  EXPECT_EQ(Bytes(answer.begin(), answer.begin() + 12), header);  // QR AA RD, NOERROR, 2 answers
  EXPECT_EQ(Bytes(answer.begin() + 12, answer.begin() + kChatA.size()), Bytes(kChatA.begin() + 12, kChatA.end()));
  const Bytes first = {0xc0, 0x0c, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x00, 0x04, 172, 18, 0, 5};
  EXPECT_EQ(Bytes(answer.begin() + kChatA.size(), answer.begin() + kChatA.size() + 16), first);
  EXPECT_EQ(answer.back(), 6);
}

TEST(DnsMessage, AnswersAaaaWithIpv6AddressesOnlyAndAHeldNameWithoutThemWithNoRecords) {
  const Bytes v6 = answerQuery(withName({"v6", "berth", "internal"}, kTypeAAAA), kRecords, "berth.internal");
  ASSERT_GE(v6.size(), 12u);
  EXPECT_EQ(v6[7], 1);  // one answer
  EXPECT_EQ(v6[v6.size() - 17], 16);  // RDLENGTH 16
  EXPECT_EQ(v6[v6.size() - 16], 0xfd);
  const Bytes chatV6 = answerQuery(withType(kChatA, kTypeAAAA), kRecords, "berth.internal");
  EXPECT_EQ(chatV6[3] & 0x0f, kRcodeNoError);
  EXPECT_EQ(chatV6[7], 0);
  EXPECT_EQ(chatV6.size(), kChatA.size());
}

TEST(DnsMessage, UnknownNamesInTheZoneAreNxdomainAndOthersRefused) {
  const Bytes missing = answerQuery(withName({"gone", "berth", "internal"}), kRecords, "berth.internal");
  EXPECT_EQ(missing[3] & 0x0f, kRcodeNxDomain);
  EXPECT_TRUE(missing[2] & 0x04);  // authoritative
  const Bytes outside = answerQuery(withName({"example", "com"}), kRecords, "berth.internal");
  EXPECT_EQ(outside[3] & 0x0f, kRcodeRefused);
  EXPECT_FALSE(outside[2] & 0x04);
  EXPECT_EQ(outside[3] & 0x80, 0);  // never "recursion available"
  // A name that only ends like the zone is not in it.
  const Bytes lookalike = answerQuery(withName({"chatberth", "internal"}), kRecords, "berth.internal");
  EXPECT_EQ(lookalike[3] & 0x0f, kRcodeRefused);
}

TEST(DnsMessage, MalformedPacketsAreDropped) {
  const Records none;
  EXPECT_TRUE(answerQuery(Bytes(kChatA.begin(), kChatA.begin() + 11), none, "berth.internal").empty());
  EXPECT_TRUE(answerQuery(Bytes(kChatA.begin(), kChatA.end() - 1), none, "berth.internal").empty());
  Bytes response = kChatA;
  response[2] |= 0x80;
  EXPECT_TRUE(answerQuery(response, none, "berth.internal").empty());
  Bytes twoQuestions = kChatA;
  twoQuestions[5] = 2;
  EXPECT_TRUE(answerQuery(twoQuestions, none, "berth.internal").empty());
  Bytes compressed = kChatA;
  compressed[12] = 0xc0;
  EXPECT_TRUE(answerQuery(compressed, none, "berth.internal").empty());
  Bytes runaway = kChatA;
  runaway[12] = 60;  // a label longer than what is left
  EXPECT_TRUE(answerQuery(runaway, none, "berth.internal").empty());
  Bytes oversized = kChatA;
  oversized.resize(kMaxMessageSize + 1);
  EXPECT_TRUE(answerQuery(oversized, none, "berth.internal").empty());
  EXPECT_FALSE(parseQuery(withName({std::string(64, 'a')})).ok());
  EXPECT_FALSE(parseQuery(withName({std::string(63, 'a'), std::string(63, 'b'), std::string(63, 'c'),
                                    std::string(63, 'd')})).ok());  // 257 bytes of name
}

TEST(DnsMessage, AnswersStopAtAPlainUdpMessage) {
  Records many;
  for (int i = 0; i < 100; ++i) many["chat.berth.internal"].push_back("10.0." + std::to_string(i) + ".1");
  const Bytes answer = answerQuery(kChatA, many, "berth.internal");
  EXPECT_LE(answer.size(), kMaxMessageSize);
  EXPECT_EQ(answer[7], (kMaxMessageSize - kChatA.size()) / 16);
  EXPECT_EQ(answer[2] & 0x02, 0);  // not marked truncated: there is no TCP to retry on
}

}  // namespace
}  // namespace berth::proxy::dns
