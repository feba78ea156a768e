#include "auth/audit_chain.hpp"

#include <gtest/gtest.h>

namespace berth::auth {
namespace {

AuditEntry sample() {
  AuditEntry e;
  e.id = 1;
  e.at = 1700000000000;
  e.actor = "key:k_1";
  e.org = "acme";
  e.action = "POST /api/v1/apps";
  e.target = "web.acme";
  e.request_id = "req_1";
  e.source = "10.0.0.1";
  e.outcome = "ok";
  e.detail = "201";
  return e;
}

// Three chained records 1..3 (ids as given).
std::vector<AuditEntry> chain(int n) {
  std::vector<AuditEntry> out;
  std::string prev;
  for (int i = 1; i <= n; ++i) {
    auto e = sample();
    e.id = i;
    e.at += i;
    e.target = "app" + std::to_string(i);
    sealAuditEntry(e, prev);
    prev = e.hash;
    out.push_back(e);
  }
  return out;
}

AuditChainCheck check(const std::vector<AuditEntry>& entries, const std::string& head = "") {
  AuditChainCheck c;
  c.lookFor(head);
  for (const auto& e : entries) c.add(e);
  return c;
}

// The canonical form and hash as docs/audit.md's script computes them (python3, hashlib).
TEST(AuditChainTest, CanonicalFormAndHashAreTheDocumentedOnes) {
  auto e = sample();
  sealAuditEntry(e, "");
  EXPECT_EQ(auditCanonicalForm(e),
            "berth-audit-v1\n1:1\n13:1700000000000\n7:key:k_1\n4:acme\n17:POST /api/v1/apps\n8:web.acme\n5:req_1\n"
            "8:10.0.0.1\n2:ok\n3:201\n64:0000000000000000000000000000000000000000000000000000000000000000");
  EXPECT_EQ(e.hash, "18d0756dbb5085a32b531b2aae483961fbb263f5ac7524c0152c89b1c9fa4ede");
}

// Length prefixes: moving bytes from one field to the next changes the form.
TEST(AuditChainTest, FieldBoundariesAreUnambiguous) {
  auto a = sample();
  auto b = sample();
  a.actor = "key:k_1\n4:acme";
  a.org = "";
  b.actor = "key:k_1";
  b.org = "\n4:acme";
  EXPECT_NE(auditCanonicalForm(a), auditCanonicalForm(b));
  EXPECT_NE(auditHash(a), auditHash(b));
}

TEST(AuditChainTest, AnIntactChainVerifiesAndNamesItsHead) {
  auto entries = chain(3);
  auto c = check(entries, entries[1].hash);
  EXPECT_TRUE(c.ok()) << c.reason();
  EXPECT_EQ(c.checked(), 3);
  EXPECT_EQ(c.headId(), 3);
  EXPECT_EQ(c.headHash(), entries[2].hash);
  EXPECT_TRUE(c.sawWanted());
}

TEST(AuditChainTest, AnIdBelowOneIsNeverTheServers) {
  auto entries = chain(2);
  AuditEntry inserted = entries[0];
  inserted.id = 0;
  inserted.hash = inserted.prev_hash = "";
  entries.insert(entries.begin(), inserted);
  auto c = check(entries);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(*c.brokenId(), 0);
  EXPECT_NE(c.reason().find("below 1"), std::string::npos) << c.reason();
}

TEST(AuditChainTest, AnEditedRecordIsTheFirstBrokenOne) {
  for (auto edit : {+[](AuditEntry& e) { e.outcome = "refused"; }, +[](AuditEntry& e) { e.at += 1; },
                    +[](AuditEntry& e) { e.actor = "key:k_2"; }, +[](AuditEntry& e) { e.org = ""; },
                    +[](AuditEntry& e) { e.hash[0] = e.hash[0] == 'a' ? 'b' : 'a'; }}) {
    auto entries = chain(4);
    edit(entries[1]);
    auto c = check(entries);
    ASSERT_FALSE(c.ok());
    EXPECT_EQ(*c.brokenId(), 2);
    EXPECT_NE(c.reason().find("record 2"), std::string::npos) << c.reason();
  }
}

// Rehashing the edited record does not help: the next one no longer follows it.
TEST(AuditChainTest, AResealedEditBreaksTheNextRecord) {
  auto entries = chain(4);
  entries[1].outcome = "refused";
  sealAuditEntry(entries[1], entries[0].hash);
  auto c = check(entries);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(*c.brokenId(), 3);
}

TEST(AuditChainTest, ADeletedRecordBreaksTheOneAfterIt) {
  auto entries = chain(4);
  entries.erase(entries.begin() + 1);
  auto c = check(entries);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(*c.brokenId(), 3);
  EXPECT_NE(c.reason().find("does not follow record 1"), std::string::npos) << c.reason();
}

TEST(AuditChainTest, DeletingTheFirstRecordsIsDetected) {
  auto entries = chain(3);
  entries.erase(entries.begin());
  auto c = check(entries);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(*c.brokenId(), 2);
}

// Removing the newest records leaves a valid, shorter chain: only a head saved
// earlier shows it.
TEST(AuditChainTest, RemovedNewestRecordsAreSeenOnlyAgainstASavedHead) {
  auto entries = chain(4);
  const std::string savedHead = entries[3].hash;
  entries.pop_back();
  auto c = check(entries, savedHead);
  EXPECT_TRUE(c.ok());
  EXPECT_FALSE(c.sawWanted());
}

TEST(AuditChainTest, UnchainedRecordsOnlyBeforeTheChain) {
  AuditEntry legacy = sample();
  legacy.id = 1;
  auto entries = chain(3);
  for (auto& e : entries) e.id += 1;  // renumber 2..4 and reseal
  std::string prev;
  for (auto& e : entries) {
    sealAuditEntry(e, prev);
    prev = e.hash;
  }
  entries.insert(entries.begin(), legacy);
  auto c = check(entries);
  EXPECT_TRUE(c.ok()) << c.reason();
  EXPECT_EQ(c.legacy(), 1);
  EXPECT_EQ(c.checked(), 3);

  // Blanking the hash of a chained record does not pass it off as an old one.
  entries[2].hash.clear();
  entries[2].prev_hash.clear();
  auto d = check(entries);
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(*d.brokenId(), 3);
}

TEST(AuditChainTest, IdsMustIncrease) {
  auto entries = chain(3);
  std::swap(entries[1], entries[2]);
  auto c = check(entries);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(*c.brokenId(), 3);  // record 3 no longer follows 1
}

TEST(AuditChainTest, AuditTextReplacesInvalidUtf8AndCaps) {
  EXPECT_EQ(auditText("ok"), "ok");
  EXPECT_EQ(auditText(std::string("a\xff"
                                  "b")),
            "a\xEF\xBF\xBD"
            "b");
  EXPECT_EQ(auditText(std::string(5000, 'x')).size(), 1024u);
  EXPECT_EQ(auditText("h\xC3\xA9llo", 2), "h");  // never half a character
}

}  // namespace
}  // namespace berth::auth
