#include "server/route_table.hpp"

#include <gtest/gtest.h>

namespace berth::server {
namespace {

using Table = RouteTable<int>;

Table sample() {
  Table t;
  t.add("GET", "/apps", Scope::Read, 1);
  t.add("POST", "/apps", Scope::Deploy, 2);
  t.add("GET", "/apps/{name}", Scope::Read, 3);
  t.add("DELETE", "/apps/{name}", Scope::Deploy, 4);
  t.add("GET", "/apps/{name}/deployments/{number}", Scope::Read, 5);
  t.add("GET", "/commands/{id}", Scope::Read, 6);
  t.add("GET", "/commands/stats", Scope::Admin, 7);
  t.add("POST", "/enroll", Scope::Agent, 8);
  return t;
}

TEST(RouteTable, MatchesMethodAndPathAndBindsParameters) {
  const Table t = sample();
  auto m = t.match("GET", {"apps", "shop", "deployments", "7"});
  ASSERT_NE(m.route, nullptr);
  EXPECT_EQ(m.route->handler, 5);
  EXPECT_EQ(m.params.at("name"), "shop");
  EXPECT_EQ(m.params.at("number"), "7");
  EXPECT_EQ(t.match("POST", {"apps"}).route->handler, 2);
  EXPECT_EQ(t.match("POST", {"enroll"}).route->scope, Scope::Agent);
}

TEST(RouteTable, UnknownPathsAre404AndWrongMethods405WithTheAllowedOnes) {
  const Table t = sample();
  auto missing = t.match("GET", {"apps", "shop", "nope"});
  EXPECT_EQ(missing.route, nullptr);
  EXPECT_TRUE(missing.allowed.empty());
  auto wrong = t.match("PUT", {"apps", "shop"});
  EXPECT_EQ(wrong.route, nullptr);
  EXPECT_EQ(wrong.allowed, (std::vector<std::string>{"GET", "DELETE"}));
  EXPECT_EQ(t.match("GET", {}).route, nullptr);
  EXPECT_EQ(t.match("GET", {"apps", ""}).route, nullptr) << "an empty segment is not a parameter";
}

TEST(RouteTable, LiteralSegmentsWinOverParameters) {
  const Table t = sample();
  EXPECT_EQ(t.match("GET", {"commands", "stats"}).route->handler, 7);
  EXPECT_EQ(t.match("GET", {"commands", "cmd_1"}).route->handler, 6);
}

TEST(RouteTable, ListsEveryRouteForTheDocumentCheck) {
  const Table t = sample();
  ASSERT_EQ(t.routes().size(), 8u);
  EXPECT_EQ(t.routes()[4].pattern, "/apps/{name}/deployments/{number}");
  EXPECT_STREQ(scopeName(t.routes()[1].scope), "deploy");
}

}  // namespace
}  // namespace berth::server
