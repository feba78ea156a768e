#include "server/placement_ledger.hpp"

#include <gtest/gtest.h>

#include "../temp_dir.hpp"
#include "store/store.hpp"

namespace berth::server {
namespace {

struct LedgerWorld {
  berth::testing::TempDir dir;
  std::unique_ptr<store::Store> store = std::move(store::openSqliteStore(dir.path() + "/db").value());
  std::int64_t now = 1'000'000;
  PlacementLedger ledger{*store, [this] { return now; }};

  void put(const std::string& app, const std::string& node, const std::string& cpu, int number = 1) {
    store::Deployment d;
    d.app = app;
    d.number = number;
    d.spec = {{"image", "nginx:1"}, {"limits", {{"cpu", cpu}, {"memory", "64m"}}}};
    ASSERT_TRUE(store->upsertDeployment(d).ok());
    store::App a;
    a.name = app;
    a.node_id = node;
    a.current_deployment = number;
    a.next_deployment = number + 1;
    ASSERT_TRUE(store->upsertApp(a).ok());
  }
  std::int64_t cpu(const std::string& node, const std::string& except = "") {
    auto claims = ledger.claimsByNode(except);
    EXPECT_TRUE(claims.ok());
    return claims && claims->count(node) ? claims->at(node).cpu_millicores : 0;
  }
};

TEST(PlacementLedger, SumsEachNodesClaimsLeavingOutTheAppBeingPlaced) {
  LedgerWorld w;
  w.put("web", "n_1", "500m");
  w.put("api.acme", "n_1", "250m");
  w.put("db", "n_2", "1");
  EXPECT_EQ(w.cpu("n_1"), 750);
  EXPECT_EQ(w.cpu("n_2"), 1000);
  EXPECT_EQ(w.cpu("n_1", "web"), 250) << "the app's own claim is replaced by its new one";
  auto claims = w.ledger.claimsByNode("");
  EXPECT_EQ(claims->at("n_1").memory_bytes, 2 * (64 << 20));
}

TEST(PlacementLedger, FollowsTouchedAppsAndReloadsWhatItWasNotToldOf) {
  LedgerWorld w;
  w.put("web", "n_1", "500m");
  EXPECT_EQ(w.cpu("n_1"), 500);
  w.put("web", "n_1", "2", 2);  // a new current deployment
  w.put("api", "n_1", "100m");
  EXPECT_EQ(w.cpu("n_1"), 500) << "not told yet: placement costs no read of untouched apps";
  w.ledger.touch("web");
  w.ledger.touch("api");
  EXPECT_EQ(w.cpu("n_1"), 2100);
  w.put("web", "n_2", "2", 2);  // moved
  w.ledger.touch("web");
  EXPECT_EQ(w.cpu("n_1"), 100);
  EXPECT_EQ(w.cpu("n_2"), 2000);
  ASSERT_TRUE(w.store->deleteApp("api").ok());
  w.ledger.touch("api");
  EXPECT_EQ(w.cpu("n_1"), 0);

  w.put("late", "n_1", "300m");  // written behind the ledger's back
  EXPECT_EQ(w.cpu("n_1"), 0);
  w.now += 6 * 60'000;
  EXPECT_EQ(w.cpu("n_1"), 300) << "the periodic reload bounds the drift";
  w.now -= 60 * 60'000;  // a clock stepped back reloads too
  w.put("later", "n_1", "100m");
  EXPECT_EQ(w.cpu("n_1"), 400);
}

}  // namespace
}  // namespace berth::server
