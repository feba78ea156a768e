#include "apps/placement.hpp"

#include <gtest/gtest.h>

namespace berth::apps {
namespace {

constexpr std::int64_t kMiB = 1024 * 1024;

NodeCandidate node(const std::string& id, std::int64_t memory_mib = 0, std::map<std::string, std::string> labels = {}) {
  NodeCandidate n;
  n.id = id;
  n.online = true;
  n.labels = std::move(labels);
  if (memory_mib > 0) n.allocatable = Allocatable{4000, memory_mib * kMiB};
  return n;
}

PlacementRequest wants(std::int64_t memory_mib, std::map<std::string, std::string> selector = {}) {
  PlacementRequest r;
  r.claim = Claim{"web", 0, memory_mib * kMiB};
  r.selector = std::move(selector);
  return r;
}

TEST(Placement, PicksTheNodeWithTheMostMemoryLeft) {
  auto busy = node("n_a", 1024);
  busy.claims = {{"db", 0, 768 * kMiB}};
  auto chosen = place({busy, node("n_b", 1024), node("n_c", 512)}, wants(128));
  ASSERT_TRUE(chosen) << chosen.error().message;
  EXPECT_EQ(*chosen, std::vector<std::string>{"n_b"});
}

TEST(Placement, TiesGoToTheSmallestIdSoTheChoiceIsStable) {
  auto chosen = place({node("n_z", 1024), node("n_m", 1024)}, wants(64));
  ASSERT_TRUE(chosen);
  EXPECT_EQ(chosen->front(), "n_m");
}

TEST(Placement, SkipsOfflineRevokedMismatchedAndFullNodesAndSaysWhy) {
  auto offline = node("n_off", 4096, {{"role", "web"}});
  offline.online = false;
  auto revoked = node("n_rev", 4096, {{"role", "web"}});
  revoked.revoked = true;
  auto full = node("n_full", 256, {{"role", "web"}});
  auto other = node("n_db", 4096, {{"role", "db"}});
  auto none = place({offline, revoked, full, other}, wants(512, {{"role", "web"}}));
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code, "no_node");
  for (const char* reason : {"n_off: offline", "n_rev: revoked", "n_full: limits.memory", "n_db: lacks label role=web"})
    EXPECT_NE(none.error().message.find(reason), std::string::npos) << reason << " in " << none.error().message;

  auto fits = node("n_web", 4096, {{"role", "web"}, {"zone", "a"}});
  auto chosen = place({offline, revoked, full, other, fits}, wants(512, {{"role", "web"}}));
  ASSERT_TRUE(chosen) << chosen.error().message;
  EXPECT_EQ(*chosen, std::vector<std::string>{"n_web"});
}

TEST(Placement, ANodeThatReportsNoCapacityIsNotRefusedForIt) {
  auto chosen = place({node("n_old")}, wants(64 * 1024));
  ASSERT_TRUE(chosen);
  EXPECT_EQ(chosen->front(), "n_old");
}

TEST(Placement, TheAppsOwnEarlierClaimIsReplacedNotAdded) {
  auto n = node("n_a", 1024);
  n.claims = {{"web", 0, 900 * kMiB}};  // today's deployment of the same app
  EXPECT_TRUE(place({n}, wants(900)));
  n.claims.push_back({"db", 0, 200 * kMiB});
  EXPECT_FALSE(place({n}, wants(900)));
}

TEST(Placement, SeveralInstancesGoToDistinctNodesBestFirst) {
  PlacementRequest r = wants(100);
  r.instances = 2;
  auto chosen = place({node("n_a", 512), node("n_b", 2048), node("n_c", 1024)}, r);
  ASSERT_TRUE(chosen);
  EXPECT_EQ(*chosen, (std::vector<std::string>{"n_b", "n_c"}));
  r.instances = 4;
  auto tooMany = place({node("n_a", 512), node("n_b", 2048), node("n_c", 1024)}, r);
  ASSERT_FALSE(tooMany);
  EXPECT_NE(tooMany.error().message.find("wanted 4 node(s), 3 fit"), std::string::npos) << tooMany.error().message;
}

TEST(Placement, APinnedNodeIsKeptOfflineButNotRevokedOrOverfull) {
  auto pinned = node("n_home", 1024);
  pinned.online = false;
  PlacementRequest r = wants(256);
  r.pinned_node = "n_home";
  auto chosen = place({node("n_big", 8192), pinned}, r);
  ASSERT_TRUE(chosen);
  EXPECT_EQ(*chosen, std::vector<std::string>{"n_home"});

  r.claim.memory_bytes = 2048 * kMiB;
  auto full = place({pinned}, r);
  ASSERT_FALSE(full);
  EXPECT_EQ(full.error().code, "over_capacity");

  pinned.revoked = true;
  r.claim.memory_bytes = kMiB;
  auto revoked = place({pinned}, r);
  ASSERT_FALSE(revoked);
  EXPECT_EQ(revoked.error().code, "conflict");

  r.pinned_node = "n_gone";
  auto gone = place({pinned}, r);
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error().code, "not_found");
}

TEST(Placement, NoNodesAtAllSaysSo) {
  auto none = place({}, wants(1));
  ASSERT_FALSE(none);
  EXPECT_NE(none.error().message.find("no node is enrolled"), std::string::npos);
}

}  // namespace
}  // namespace berth::apps
